"""How close ``approximation=`` comes to exact BAIT, and what it costs.

Quality: on a problem where exact BAIT is computable, each method's batch
is scored by the exact objective tr(M⁻¹ F) after adding it, normalised so
that exact BAIT's batch is 0 and a random batch (mean of 20) is 1.

    python benchmarks/bench_approximations.py --quality
    python benchmarks/bench_approximations.py --scale   # minutes, GiBs

Scale: seconds and peak resident memory (of a fresh process per row) of
the large problems: d = 512 float32 ReLU-like embeddings, 100 labeled.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

METHODS = (None, "block_diagonal", "binary")


def problem(n, d, k, n_lab, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    y = rng.integers(0, k, size=n + n_lab)
    h = np.maximum(centres[y] + rng.normal(size=(n + n_lab, d)), 0)
    logits = 2.0 * (h @ rng.normal(size=(d, k))) / np.sqrt(d)
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    h, p = h.astype(dtype), p.astype(dtype)
    return h[:n], p[:n], h[n:], p[n:]


def exact_objective(h, p, h_lab, p_lab, batch, lam):
    """tr(M⁻¹ F) after adding ``batch`` (the authors' weighting)."""
    n, d = h.shape
    k = p.shape[1]

    def fisher_sum(hh, pp):
        out = np.zeros((d * k, d * k))
        for a in range(k):
            for b in range(k):
                w = (a == b) * pp[:, a] - pp[:, a] * pp[:, b]
                out[a * d:(a + 1) * d, b * d:(b + 1) * d] = \
                    (hh * w[:, None]).T @ hh
        return out

    lab = fisher_sum(h_lab, p_lab)
    f = (fisher_sum(h, p) + lab) / (n + len(h_lab))
    nb = len(batch)
    m = lam * np.eye(d * k) + (lab + fisher_sum(h[batch], p[batch])) / (
        len(h_lab) + nb)
    return float(np.trace(np.linalg.solve(m, f)))


def quality(n=3000, d=32, k=20, batch=20, n_lab=100, seeds=(0, 1, 2)):
    from skbait import bait_select

    rows = []
    for seed in seeds:
        h, p, hl, pl = problem(n, d, k, n_lab, seed)
        # λ at the Fisher's mean eigenvalue (lam_factor=1).
        kw = dict(pool_proba=p, labeled_embeddings=hl, labeled_proba=pl,
                  lam="auto", lam_factor=1.0)
        _, info = bait_select(h, batch, return_info=True, **kw)
        lam = info.lam
        values = {}
        for method in METHODS:
            start = time.perf_counter()
            idx = bait_select(h, batch, approximation=method, **kw)
            secs = time.perf_counter() - start
            values[str(method)] = (exact_objective(h, p, hl, pl, idx, lam),
                                   secs)
        rng = np.random.default_rng(seed)
        rand = np.mean([exact_objective(
            h, p, hl, pl, rng.choice(n, batch, replace=False), lam)
            for _ in range(20)])
        ref = values["None"][0]
        row = {"seed": seed, "random": rand}
        for name, (value, secs) in values.items():
            row[name] = (value - ref) / (rand - ref)
            row[name + " s"] = secs
        rows.append(row)
        print(f"seed {seed}: normalised gap " + ", ".join(
            f"{name} {row[name]:.3f} ({row[name + ' s']:.2f} s)"
            for name in values), flush=True)
    for name in map(str, METHODS):
        print(f"mean normalised gap {name}: "
              f"{np.mean([r[name] for r in rows]):.3f}")
    return rows


SCALE_ROWS = (
    # (N, d, k, B, approximation)
    (50_000, 512, 10, 100, None),
    (50_000, 512, 100, 100, "block_diagonal"),
    (50_000, 512, 100, 100, "binary"),
    (100_000, 512, 1000, 100, "binary"),
)
# block_diagonal at k = 1 000 would fit (about 8.4 GiB) but its set-up,
# O(N·k·d²) three times, is about 1.6e14 flops: hours on 2 cores.


def one_scale_row(n, d, k, batch, approximation):
    from skbait import bait_select

    h, p, hl, pl = problem(n, d, k, 100, dtype=np.float32)
    # Compile the numba kernel outside the timing (a small k: exact BAIT).
    warm = p[:200, :10] / p[:200, :10].sum(1, keepdims=True)
    bait_select(h[:200, :8], 2, pool_proba=warm)
    start = time.perf_counter()
    try:
        bait_select(h, batch, pool_proba=p, labeled_embeddings=hl,
                    labeled_proba=pl, approximation=approximation)
        secs = time.perf_counter() - start
    except MemoryError as exc:
        secs = f"MemoryError: {exc}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"n": n, "d": d, "k": k, "batch": batch,
                      "approximation": approximation, "seconds": secs,
                      "peak_rss_gib": peak}))


def scale(rows=SCALE_ROWS):
    """Each row in a fresh process (its own peak memory)."""
    for row in rows:
        out = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(row)],
            capture_output=True, text=True)
        print(out.stdout.strip() or out.stderr.strip()[-500:], flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--scale", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, nargs="+",
                        help="--scale: only these rows of SCALE_ROWS")
    args = parser.parse_args(argv)
    if args.one:
        one_scale_row(*json.loads(args.one))
        return
    if args.quality or not args.scale:
        quality()
    if args.scale:
        scale([SCALE_ROWS[i] for i in args.rows] if args.rows
              else SCALE_ROWS)


if __name__ == "__main__":
    main()
