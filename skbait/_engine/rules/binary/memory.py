"""Binary BAIT's memory: exact BAIT's at k = 1 plus its weighted
embeddings."""

from ..base import input_bytes, with_margin
from ..exact.memory import exact_peak

__all__ = ["binary_bytes"]


def binary_bytes(*, n_pool, d, k, n_lab, n_select, n_forward, budget,
                 n_jobs, store_bytes=8, gemm_bytes=8, p_bytes=8,
                 on_numpy=True, identity_fisher=False, numba=True):
    """Upper bound of the bytes binary BAIT allocates on ``k`` classes:
    its weighted embeddings beside rank-one BAIT's, or their forming."""
    weighted = (n_pool + n_lab) * d * store_bytes
    total = (input_bytes(n_pool, d, 1, n_lab, store_bytes, gemm_bytes,
                         p_bytes) + weighted
             + exact_peak(n_pool=n_pool, d=d, k=1, n_lab=n_lab,
                          n_select=n_select, n_forward=n_forward,
                          budget=budget, n_jobs=n_jobs,
                          store_bytes=store_bytes, gemm_bytes=gemm_bytes,
                          on_numpy=on_numpy, identity_fisher=identity_fisher,
                          numba=numba))
    total = max(total, n_pool * d * store_bytes + 2 ** 21 + 24 * n_pool,
                8 * n_pool * (k + 1), n_pool * d * store_bytes
                + 16 * n_lab * d)
    return with_margin(total)
