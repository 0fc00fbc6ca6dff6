"""Exact BAIT against block-diagonal BAIT as dk = d·k grows: the timings
behind ``approximation="auto"``'s threshold (docs/design.md §10).

Each selection runs in a fresh process (``bench_versions.run``): N = 50 000
pool points, 100 labeled, B = 100, float32, for each (d, k).

    python benchmarks/bench_rules.py
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_versions import HERE, run  # noqa: E402

SHAPES = [(128, 10), (256, 10), (512, 10), (512, 20), (1024, 10)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--shapes", nargs="+", default=None,
                        help="d,k pairs, e.g. 512,10 512,20")
    parser.add_argument("--out", default=None, help="JSON file")
    args = parser.parse_args(argv)
    shapes = SHAPES if args.shapes is None else [
        tuple(int(v) for v in s.split(",")) for s in args.shapes]
    rows = []
    print(f"N = {args.n}, B = {args.batch}, 100 labeled, float32; seconds "
          "(peak RSS)")
    for d, k in shapes:
        out = {}
        for rule in ("exact", "block_diagonal"):
            out[rule] = run(HERE, (args.n, d, k, args.batch, rule))
        ratio = out["exact"]["seconds"] / out["block_diagonal"]["seconds"]
        print(f"d = {d:4d}, k = {k:3d}, dk = {d * k:6d}: exact "
              f"{out['exact']['seconds']:7.1f} s "
              f"({out['exact']['peak_rss'] / 2**30:.2f} GiB), "
              f"block-diagonal {out['block_diagonal']['seconds']:6.1f} s "
              f"({out['block_diagonal']['peak_rss'] / 2**30:.2f} GiB): "
              f"exact / block-diagonal {ratio:.1f}", flush=True)
        rows.append(dict(d=d, k=k, ratio=ratio, **{
            rule: {key: v for key, v in r.items() if key != "picks"}
            for rule, r in out.items()}))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
