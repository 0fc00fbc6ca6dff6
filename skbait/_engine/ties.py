"""The tie rule of the greedy passes (docs/design.md §2).

Scores closer than the engine's precision are not distinguishable, so a
near-tie goes to the smallest pool index, as the literal rule of the
reference implementation (``_reference.py``) does for exact ties.
"""

__all__ = ["tie_rtol", "argbest"]


def tie_rtol(gemm_dtype_name):
    """Relative gap under which two scores count as tied.

    Scores agree with a dense float64 evaluation to about 1e-12 when the
    GEMMs run in float64 and about 1e-6 in float32.
    """
    return 1e-9 if gemm_dtype_name == "float64" else 1e-5


def argbest(xp, scores, rtol, maximize):
    """Index of the best score; near-ties go to the smallest index.

    Raises FloatingPointError when the best score is not finite: a NaN
    would otherwise send the pick silently to index 0.
    """
    best = xp.max(scores) if maximize else xp.min(scores)
    if not bool(xp.isfinite(best)):
        raise FloatingPointError(
            "BAIT's scores are not finite (the per-candidate states lost "
            "precision); use dtype='float64' or a larger lam. Please report "
            "this with the inputs' shapes, dtype and lam.")
    tol = rtol * xp.abs(best)
    near = scores >= best - tol if maximize else scores <= best + tol
    return int(xp.argmax(xp.astype(near, xp.int8)))
