"""How fast a selection that does not fit is refused, and what it says.

Exact BAIT at N = 50 000, d = 512, k = 100 (float32) needs about 38 GiB:
``approximation="exact"`` must raise a ``MemoryError`` before anything
large is allocated, naming the limit that applies and what each
approximation would need. Each case runs in a fresh process, the second
under an address-space limit (``ulimit -v``):

    python benchmarks/bench_refusal.py --rlimit-gib 6
"""

import argparse
import json
import os
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import numpy as np
n, d, k, limit = json.loads(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from skbait import bait_select
rng = np.random.default_rng(0)
h = rng.standard_normal((n, d), dtype=np.float32)
p = rng.dirichlet(np.ones(k), size=n).astype(np.float32)
start = time.perf_counter()
try:
    bait_select(h, 100, pool_proba=p, approximation="exact", dtype="float32")
    message = None
except MemoryError as exc:
    message = str(exc)
print(json.dumps(dict(seconds=time.perf_counter() - start, message=message)))
"""


def refuse(n, d, k, limit_bytes=0):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=here)
    out = subprocess.run([sys.executable, "-c", _CHILD,
                          json.dumps([n, d, k, limit_bytes])], cwd=here,
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--rlimit-gib", type=float, nargs="*", default=[6.0],
                        help="address-space limits to run under as well")
    args = parser.parse_args(argv)
    rows = []
    for gib in [0.0] + list(args.rlimit_gib):
        r = refuse(args.n, args.d, args.k, int(gib * 2**30))
        where = f"RLIMIT_AS {gib:g} GiB" if gib else "no rlimit"
        outcome = ("ran to completion" if r["message"] is None else
                   f"refused in {r['seconds']:.2f} s: {r['message']}")
        print(f"N = {args.n}, d = {args.d}, k = {args.k}, {where}: "
              f"{outcome}", flush=True)
        rows.append(dict(rlimit_gib=gib, **r))
    return rows


if __name__ == "__main__":
    main()
