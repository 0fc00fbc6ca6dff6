"""Exact BAIT's work: each phase's flops and bytes (``base.Work``) from
the shape alone (docs/design.md §6-§8 for the operations)."""

from ..base import Work, step_launches
from .kernels import ArrayAPIKernel, RankOneKernel
from .rule import DENSE_BELOW

__all__ = ["exact_work", "kernel_flops"]


def kernel_flops(k):
    """Flops of exact BAIT's per-candidate update and score (k × k)."""
    return 6 * k ** 3 + 20 * k ** 2


def exact_work(shape):
    """The :class:`~..base.Work` of each phase of exact BAIT (``k = 1``:
    regression) on ``shape``."""
    n, d, k, n_lab = shape.n_pool, shape.d, shape.k, shape.n_lab
    g = shape.gemm_bytes
    dk = d * k
    r = n_lab * k
    low_rank = r <= dk // 2
    fisher = not shape.identity_fisher
    rows = n + n_lab
    # The set-up: F's block Gram matrices (upper triangle; regression the
    # whole d × d), every chunk adding into the float64 dk × dk sum.
    setup = Work()
    if fisher:
        chunk_rows = max(256, shape.budget(k) // max(1, 2 * d * k * g))
        setup += Work(gram=rows * dk * dk if k > 1 else 2 * rows * d * d,
                      read=(rows / chunk_rows) * 16 * dk * dk)
    plain = n_lab == 0
    # The first states' block quadratic forms: of C (unless F = I and no
    # labeled set), and of M⁻¹ where it is dense.
    forms = n * d * d * k * (k + 1)
    if not (plain and not fisher):
        setup += Work(gemm=forms)
    if not plain:
        if low_rank:
            # t = Qᵀ h; t tᵀ, batched (an eighth of the GEMM rate); C's
            # strips.
            setup += Work(gemm=2 * n * d * r * k + 8 * 2 * n * k * k * r,
                          gemm64=7 * dk * dk * r)
        else:
            setup += Work(gemm=forms, gemm64=3 * dk ** 3)
    setup += Work(read=80 * n * k * k)                 # Gᵀ Q G
    # The steps: the candidate GEMM and the per-candidate k × k work (the
    # rank-one kernel reads the pool and a dozen float64 vectors).
    if k == 1:  # one fused pass over the rows (numba), or a dozen
        # It reads at 40 % of the streaming sum's rate (calibrated on
        # bench_cost.py's grid, 2026-12: rank-one steps took 2.2-2.7x the
        # bytes at that rate; the rows are a dot product each, in pieces).
        # The array kernel's operations each read two float64 vectors and
        # write one; a fused kernel (numba's, CUDA's) reads each once.
        vectors = 4 if shape.numba or shape.cuda \
            else 3 * RankOneKernel.launches
        step = Work(read=(n * d * g + vectors * 8 * n) / 0.4)
    else:
        # The array-API kernel does about 8x the compiled kernel's work.
        step = Work(gemm=4 * n * d * k * k / 0.85,
                    kernel=n * kernel_flops(k) * (1 if shape.numba else 8))
    kernel = RankOneKernel if k == 1 else ArrayAPIKernel
    step += Work(read=40 * n, steps=1,
                 launches=step_launches(shape, kernel, k))
    # The commits (``rule._Commits.commit``): M₀⁻¹ and C₀ read once each
    # for the committed point's k columns, W and R once each (two vectors)
    # and again for k columns; below DENSE_BELOW dense M⁻¹ and C updated
    # in place (rank k and 2k).
    commits = shape.commits
    if dk < DENSE_BELOW:
        per_commit = Work(narrow=6 * dk * dk * k, read=16 * dk * dk)
        folds = Work()
    else:
        fold_at = (dk - r) if low_rank else dk
        width = min(commits * k, max(k, fold_at)) / 2   # W's mean width
        base = (Work(read=8 * dk * r, narrow=2 * dk * r * k) if low_rank
                else Work(read=8 * dk * dk))
        per_commit = base + Work(read=8 * dk * dk + 16 * dk * width,
                                 narrow=6 * dk * width * k)
        folds = Work(narrow=(commits * k / max(k, fold_at)) * 6 * dk * dk
                     * fold_at)
    commit = commits * (per_commit + Work(steps=2)) + folds
    # The backward pass: the chosen points' exact A and B states, float64
    # block forms of M⁻¹ and C (each block column formed from the base
    # and W, R).
    chosen = shape.n_forward if shape.n_forward > shape.n_select else 0
    backward = Work()
    if chosen:
        m = min(commits * k, dk)
        backward = Work(gemm64=dk * dk * (min(r, dk) + 3 * m)
                        + 4 * chosen * d * d * k * k)
    return dict(setup=setup, steps=shape.steps * step, commits=commit,
                backward=backward)
