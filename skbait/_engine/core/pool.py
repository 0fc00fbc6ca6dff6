"""Where a selection's pool lives: ``bait_select``'s one pipeline runs
over a pool backend, :class:`LocalPool` in this process or
``cluster.bait.DaskPool`` on a cluster; both have :class:`LocalPool`'s
attributes and methods.
"""

from ..backends.array_api import (
    device,
    float_dtype,
    get_namespace,
    is_numpy_namespace,
)
from ..._validation import as_array, check_labeled, check_matrix, check_proba
from .problem import GreedyProblem
from .scale import norm_sums, peak_of, rescaled

__all__ = ["LocalPool"]

_NAMES = ("pool_embeddings", "pool_proba", "labeled_embeddings",
          "labeled_proba")


class LocalPool:
    """A pool held in this process (any array-API namespace).

    ``h``, ``p`` give the plan's shape, ``dtype_name`` the embeddings'
    precision, ``plan_x`` where the memory is; ``round_trip()`` is the
    seconds to where the states are, ``info()`` extra ``info`` fields.
    """

    def __init__(self, h_pool, p_pool, h_lab, p_lab):
        arrays = [as_array(a, n) for a, n in zip(
            (h_pool, p_pool, h_lab, p_lab), _NAMES)]
        h, p, h_lab, p_lab = arrays
        if h is None:
            raise ValueError("pool_embeddings is required; got None.")
        xp = get_namespace(*arrays)
        check_matrix(xp, h, "pool_embeddings")
        n_pool, d = h.shape
        if p is not None:
            check_proba(xp, p, "pool_proba", n_rows=n_pool,
                        rows_name="pool_embeddings")
        check_labeled(xp, h_lab, p_lab, d,
                      None if p is None else p.shape[1])
        self.xp, self.h, self.p = xp, h, p
        self.h_lab, self.p_lab = h_lab, p_lab
        self.n_pool, self.d = n_pool, d
        self.k = None if p is None else p.shape[1]
        self.dtype_name = "float32" if h.dtype == xp.float32 else "float64"
        self.on_numpy = is_numpy_namespace(xp)
        self.plan_x = h

    def memory_shape(self, shape):
        return shape

    def round_trip(self):
        return 0.0

    def start(self, spec, *, budget, gemm, use_numba, sqrt_s):
        self.h, self.p = spec.inputs(self.xp, self.h, self.p)
        self.budget = budget

    def peak(self):
        return peak_of(self.xp, self.h)

    def norm_sums(self, peak):
        return norm_sums(self.xp, self.h, self.p, peak, self.budget)

    def select(self, spec, *, inv_root, h_lab, p_lab, gemm_dtype, n_select,
               lam, n_forward, identity_fisher, use_numba, rtol, n_jobs,
               progress, record_gains=False):
        xp = self.xp
        h = rescaled(xp, self.h, inv_root, float_dtype(xp, self.dtype_name),
                     self.budget)
        problem = GreedyProblem.from_arrays(xp, h, self.p, h_lab, p_lab,
                                            gemm_dtype)
        return spec.select(
            problem, n_select, lam=lam, n_forward=n_forward,
            identity_fisher=identity_fisher, budget_bytes=self.budget,
            use_numba=use_numba, rtol=rtol, n_jobs=n_jobs, progress=progress,
            record_gains=record_gains)

    def indices(self, kept):
        xp = self.xp
        return xp.asarray(kept, dtype=xp.int64, device=device(self.plan_x))

    def info(self):
        return {}

    def close(self):
        pass
