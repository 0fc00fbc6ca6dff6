"""Two versions of skbait timed back to back on the same problems.

Hosts differ from one session to the next, so a speed target named
against a commit is checked by timing that commit and this checkout in
one run: ``--other`` is a checkout of the other version (e.g. ``git
worktree add /tmp/old 6a09d6e``). Each selection runs in a fresh process
(its peak RSS is that selection's), the two versions alternate, and a
warm-up selection in every process keeps numba's compilation or loading
out of the timings.

    python benchmarks/bench_versions.py --other /tmp/old --case exact-512
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (N, d, k, B, approximation); 100 labeled points, float32.
CASES = {
    "exact-512": (50_000, 512, 10, 100, "exact"),
    "exact-128": (50_000, 128, 10, 100, "exact"),
    "block-512-k100": (50_000, 512, 100, 100, "block_diagonal"),
    "auto-512-k100": (50_000, 512, 100, 100, "auto"),
    "block-512-k10": (50_000, 512, 10, 100, "block_diagonal"),
    "exact-256": (50_000, 256, 10, 100, "exact"),
    "block-256-k10": (50_000, 256, 10, 100, "block_diagonal"),
    "exact-512-k20": (50_000, 512, 20, 100, "exact"),
    "block-512-k20": (50_000, 512, 20, 100, "block_diagonal"),
    "binary-512-k100": (50_000, 512, 100, 100, "binary"),
    # The many-class default of docs/results.md §15: 100 classes, d = 32.
    "auto-32-k100": (10_000, 32, 100, 50, "auto"),
    "exact-32-k100": (10_000, 32, 100, 50, "exact"),
    "tiny": (2_000, 32, 10, 10, "exact"),
}

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from skbait import bait_select
n, d, k, b, approximation = json.loads(sys.argv[1])
rng = np.random.default_rng(n + d + k)
h = rng.normal(size=(n + 100, d)).astype(np.float32)
logits = 2.0 * rng.normal(size=(n + 100, k))
p = np.exp(logits - logits.max(1, keepdims=True))
p = (p / p.sum(1, keepdims=True)).astype(np.float32)
kw = dict(approximation=approximation)
try:  # Warm-up: numba's kernels compiled or loaded outside the timing.
    bait_select(h[:200, :8], 2, pool_proba=p[:200], **kw)
except ValueError:  # a version before approximation="exact" ("auto")
    kw = {} if approximation == "exact" else None
    if kw is None:
        print(json.dumps(None))
        sys.exit(0)
    bait_select(h[:200, :8], 2, pool_proba=p[:200], **kw)
start = time.perf_counter()
idx, info = bait_select(h[100:], b, pool_proba=p[100:],
                        labeled_embeddings=h[:100], labeled_proba=p[:100],
                        dtype="float32", return_info=True, **kw)
seconds = time.perf_counter() - start
import skbait
print(json.dumps(dict(
    source=skbait.__file__, seconds=seconds, timings={key: float(v) for key, v in
                              (info.timings or {}).items()},
    rule=info.get("approximation", approximation),
    peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    picks=idx.tolist())))
"""


def run(checkout, case):
    # Run from the checkout: ``python -c`` puts the working directory
    # first on sys.path, before PYTHONPATH.
    env = dict(os.environ, PYTHONPATH=checkout)
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(case)],
                         env=env, cwd=checkout, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _machine():
    """The threads, OPENBLAS_CORETYPE and the GEMM rates measured now (the
    absolute figures depend on them)."""
    from skbait._engine.planning.cost import machine_rates
    from skbait._engine.backends.threads import effective_n_jobs

    import numpy as np

    threads = effective_n_jobs(None)
    rates = machine_rates(np, threads, remeasure=True)
    return (f"machine ({threads} threads, OPENBLAS_CORETYPE="
            f"{os.environ.get('OPENBLAS_CORETYPE')}): {rates.describe()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True,
                        help="a checkout of the version to compare with")
    parser.add_argument("--case", nargs="+", default=["exact-512"],
                        choices=sorted(CASES))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default=None, help="JSON file")
    args = parser.parse_args(argv)
    print(_machine(), flush=True)
    rows = []
    for name in args.case:
        case = CASES[name]
        for _ in range(args.repeats):
            other = run(args.other, case)
            this = run(HERE, case)
            rows.append(dict(case=name, other=other, this=this))
            mine = (f"this {this['seconds']:7.1f} s "
                    f"({this['peak_rss'] / 2**30:.2f} GiB, {this['rule']})")
            if other is None:  # the other version has no such option
                print(f"{name:15s} other: no such option  {mine}",
                      flush=True)
                continue
            same = other["picks"] == this["picks"]
            common = len(set(other["picks"]) & set(this["picks"]))
            print(f"{name:15s} other {other['seconds']:7.1f} s "
                  f"({other['peak_rss'] / 2**30:.2f} GiB, {other['rule']})  "
                  f"{mine}  ratio {this['seconds'] / other['seconds']:.2f}  "
                  f"same picks {same} ({common} in common)", flush=True)
            print(f"{'':15s} other {other['timings']}\n{'':15s} this  "
                  f"{this['timings']}", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
