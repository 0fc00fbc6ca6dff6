"""The validated inputs of one selection, or of one chunk of its pool."""

from dataclasses import dataclass

__all__ = ["GreedyProblem"]


@dataclass(frozen=True, eq=False)
class GreedyProblem:
    """Validated inputs of one selection, or of a chunk of its pool
    (``h_lab`` None); :meth:`from_arrays` converts the embeddings to
    ``gemm_dtype`` (``h_gemm``) and the probabilities to float64 once."""

    xp: object
    h_pool: object          # (n_u, d), rescaled embeddings (docs/design.md §3)
    h_gemm: object          # h_pool in gemm_dtype
    p_pool: object          # (n_u, k) float64, or None (regression)
    h_lab: object           # (n_l, d) or None
    p_lab: object           # (n_l, k) or None
    gemm_dtype: object

    @classmethod
    def from_arrays(cls, xp, h_pool, p_pool, h_lab, p_lab, gemm_dtype):
        return cls(xp, h_pool, xp.astype(h_pool, gemm_dtype, copy=False),
                   None if p_pool is None
                   else xp.astype(p_pool, xp.float64, copy=False),
                   h_lab, p_lab, gemm_dtype)

    def rows(self, rows):
        """The problem of the pool rows ``rows`` (a slice), no labeled set."""
        return GreedyProblem(
            self.xp, self.h_pool[rows, :], self.h_gemm[rows, :],
            None if self.p_pool is None else self.p_pool[rows, :],
            None, None, self.gemm_dtype)

    @property
    def rank_one(self):
        return self.p_pool is None

    @property
    def n_pool(self):
        return self.h_pool.shape[0]

    @property
    def d(self):
        return self.h_pool.shape[1]

    @property
    def n_lab(self):
        return 0 if self.h_lab is None else self.h_lab.shape[0]

    @property
    def k(self):
        return 1 if self.rank_one else self.p_pool.shape[1]

    @property
    def dk(self):
        return self.d * self.k

    def p_row(self, i):
        return None if self.rank_one else self.p_pool[i, :]
