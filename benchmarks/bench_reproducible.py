"""The default's batch on every machine: the same rule and the same batch
whatever rates the machine measured (docs/results.md §16, item 8).

Four shapes (float32, k = 10, 100 labeled); for each, three conditions,
each a fresh process with an empty rates cache: the rates measured on
this machine as it is, ``SKBAIT_RATES=nominal``, and the rates measured
while another process keeps one core busy. Each run asks for
``return_info`` (so the rates are measured) and prints the rule, the
predicted seconds and a digest of the batch; the table says whether the
three agree.

    python benchmarks/bench_reproducible.py
"""

import json
import os
import subprocess
import sys
import tempfile

SHAPES = [dict(n=20_000, d=128, b=20), dict(n=30_000, d=128, b=50),
          dict(n=10_000, d=256, b=50), dict(n=50_000, d=64, b=100)]
K, N_LAB = 10, 100

_CHILD = r"""
import hashlib, json, sys
import numpy as np
import skbait
n, d, b, k, n_lab = (int(a) for a in sys.argv[1:6])
rng = np.random.default_rng(0)
h = np.abs(rng.normal(size=(n + n_lab, d))).astype(np.float32)
logits = rng.normal(size=(n + n_lab, k)) * 2
p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
idx, info = skbait.bait_select(h[:n], b, pool_proba=p[:n],
                               labeled_embeddings=h[n:],
                               labeled_proba=p[n:], return_info=True)
print(json.dumps(dict(
    rule=info.approximation, decided_by=info.decided_by,
    predicted=info.predicted_seconds[info.approximation],
    digest=hashlib.sha1(np.asarray(idx).tobytes()).hexdigest()[:12])))
"""


def _run(shape, env):
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SKBAIT_CACHE_DIR=cache, **env)
        out = subprocess.run(
            [sys.executable, "-c", _CHILD] + [str(v) for v in (
                shape["n"], shape["d"], shape["b"], K, N_LAB)],
            env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r}")
    rows = []
    for shape in SHAPES:
        runs = {"plain": _run(shape, {})}
        runs["nominal"] = _run(shape, {"SKBAIT_RATES": "nominal"})
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            runs["one busy core"] = _run(shape, {})
        finally:
            busy.kill()
        same = len({(r["rule"], r["digest"]) for r in runs.values()}) == 1
        rows.append((shape, runs, same))
        cells = "; ".join(f"{name}: {r['rule']} ({r['decided_by']}), "
                          f"predicted {r['predicted']:.3g} s, batch "
                          f"{r['digest']}" for name, r in runs.items())
        print(f"N={shape['n']} d={shape['d']} B={shape['b']}: {cells}; "
              f"{'SAME' if same else 'DIFFERENT'}", flush=True)
    print(f"\n{sum(s for *_, s in rows)} of {len(rows)} shapes: the same rule "
          "and batch under every condition")
    return 0 if all(s for *_, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
