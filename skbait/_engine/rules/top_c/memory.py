"""Top-c BAIT's memory: exact BAIT's phases plus its weighted
probabilities."""

from ..base import input_bytes, with_margin
from ..exact.memory import exact_peak

__all__ = ["top_c_bytes"]


def top_c_bytes(*, n_pool, d, k, n_lab, budget, n_jobs, store_bytes=8,
                gemm_bytes=8, p_bytes=8, **kwargs):
    """Upper bound of the bytes top-c BAIT allocates: its (n, k, 2)
    weighted probabilities beside exact BAIT's phases, whose set-up forms
    a second chunk of ``p ⊗ h`` rows per thread and whose steps copy the
    centring and the weights for the compiled kernel."""
    phases = []
    exact_peak(n_pool=n_pool, d=d, k=k, n_lab=n_lab, budget=budget,
               n_jobs=n_jobs, store_bytes=store_bytes, gemm_bytes=gemm_bytes,
               phases_out=phases, **kwargs)
    dk = d * k
    rows = max(min(n_pool, 256), min(n_pool, budget // max(1, 2 * dk *
                                                           gemm_bytes)))
    phases[0] += max(1, min(n_jobs, k)) * rows * dk * gemm_bytes
    # Every phase from the steps on may run the kernel (the set-up, C and
    # the first states do not).
    phases[3:] = [phase + 16 * n_pool * k for phase in phases[3:]]
    held = 16 * (n_pool + n_lab) * k
    return with_margin(input_bytes(n_pool, d, k, n_lab, store_bytes,
                                   gemm_bytes, p_bytes)
                       + held + max(phases))
