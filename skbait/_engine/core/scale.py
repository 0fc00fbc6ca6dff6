"""The Fisher's scale μ = tr(F) / (dk) (docs/design.md §3): λ = "auto"
and the engine's normalisation (embeddings divided by √μ, λ by μ: the
same picks, numbers of order one). Norms are of ``h / max|h|``, so that
no finite input overflows.
"""

import math

from array_api_compat import device

from .chunks import row_chunks
from .fisher import trace_weights

__all__ = ["FisherScale", "peak_of", "norm_sums",
           "scale_from_sums", "rescaled", "relative_lam"]

# Relative λ (λ / μ) outside this range gives an M too ill-conditioned for
# float64 (below) or makes every gain underflow next to λ (above).
MIN_RELATIVE_LAM = 1e-10
MAX_RELATIVE_LAM = 1e10


class FisherScale:
    """μ as ``peak² · ratio``, kept apart so that neither part overflows.

    ``inv_root`` = 1/√μ is the factor applied to every embedding.
    """

    def __init__(self, peak, ratio):
        self.peak = peak
        self.ratio = ratio

    @property
    def inv_root(self):
        if self.peak == 0.0:
            return 1.0
        return 1.0 / self.peak / math.sqrt(self.ratio)

    @property
    def mean_eigenvalue(self):
        """μ as a float (inf or 0 where it does not fit in a float64)."""
        try:
            return self.peak * self.peak * self.ratio
        except OverflowError:  # pragma: no cover - floats give inf instead
            return math.inf

    def relative(self, lam):
        """λ / μ, computed without forming μ."""
        if self.peak == 0.0:
            return lam
        return lam / self.peak / self.peak / self.ratio


def peak_of(xp, h):
    """``max |h|`` (0 for no rows)."""
    return float(xp.max(xp.abs(h))) if h.shape[0] else 0.0


def scale_from_sums(peak, sums, n, d, k):
    """μ from ``peak`` and the chunks' ``norm_sums`` (the pool's, then the
    labeled set's), added in order: the same μ, to the last bit, from a
    Dask pool's blocks. When F = 0 the second moment of h stands in."""
    if peak == 0.0:
        return FisherScale(0.0, 1.0)
    weighted = plain = 0.0
    for w_sum, n_sum in sums:
        weighted += w_sum
        plain += n_sum
    ratio = weighted / (n * d * k)
    if ratio == 0.0:  # F = 0: every probability is one-hot
        ratio = plain / (n * d)
    return FisherScale(peak, ratio)


def norm_sums(xp, h, p, peak, budget_bytes):
    """``[(Σ w_x ‖h_x / peak‖², Σ ‖h_x / peak‖²)]``, one pair per chunk
    of rows (``chunks.row_chunks``)."""
    out = []
    for rows in row_chunks(h.shape[0], 16 * h.shape[1], budget_bytes):
        hc = xp.astype(h[rows, :], xp.float64) / peak
        norms = xp.sum(hc * hc, axis=1)
        plain = float(xp.sum(norms))
        if p is None:
            weighted = plain
        else:
            w = trace_weights(xp, p[rows, ...])
            weighted = float(xp.sum(xp.clip(w, 0.0, None) * norms))
        out.append((weighted, plain))
    return out


def rescaled(xp, h, factor, dtype, budget_bytes):
    """``h · factor`` as a new array of ``dtype``, formed in float64 a
    chunk of rows at a time."""
    out = xp.empty(h.shape, dtype=dtype, device=device(h))
    for rows in row_chunks(h.shape[0], 16 * h.shape[1], budget_bytes):
        chunk = xp.astype(h[rows, :], xp.float64) * factor
        out[rows, :] = xp.astype(chunk, dtype)
    return out


def relative_lam(lam, scale):
    relative = scale.relative(lam)
    if not MIN_RELATIVE_LAM <= relative <= MAX_RELATIVE_LAM:
        raise ValueError(
            f"lam={lam!r} is {relative:.3g} times the Fisher's mean "
            f"eigenvalue ({scale.mean_eigenvalue:.3g}); allowed: between "
            f"{MIN_RELATIVE_LAM:g} and {MAX_RELATIVE_LAM:g} times it (outside, "
            "M is too ill-conditioned or every gain vanishes next to lam). "
            "Use lam='auto', or a lam on the scale of the embeddings' "
            "squared norms.")
    return relative
