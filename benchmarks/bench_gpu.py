"""BAIT on a GPU: CuPy and torch-CUDA arrays against NumPy.

1. *Same picks.* For every rule (exact, block-diagonal, binary and
   regression), a float64 problem (N = 20 000, d = 64, k = 10, B = 50,
   100 labeled) selected from NumPy, CuPy and torch (CUDA) arrays: the
   batches must be equal.
2. *Timings at N = 10⁶* (d = 128, B = 100, 100 labeled, float32): exact
   BAIT (k = 10), block-diagonal and binary BAIT (k = 100) and
   regression, on each GPU namespace (after a warm-up), and on the
   machine's CPU with NumPy where ``--numpy-max`` allows.

Needs a CUDA device with CuPy and/or torch; writes ``--out`` (JSON).

    python benchmarks/bench_gpu.py --out results/gpu.json
"""

import argparse
import json
import os
import time

import numpy as np

import skbait

RULES = [("exact", 10), ("block_diagonal", 100), ("binary", 100),
         ("regression", 1)]


def problem(n, d, k, dtype, seed=0, n_lab=100):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n + n_lab, d)).astype(dtype)
    if k == 1:
        return h[n_lab:], None, h[:n_lab], None
    logits = 2.0 * rng.normal(size=(n + n_lab, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(dtype)
    return h[n_lab:], p[n_lab:], h[:n_lab], p[:n_lab]


def namespaces():
    """name -> (convert a NumPy array, back to NumPy, synchronise)."""
    out = {"numpy": (lambda a: a, np.asarray, lambda: None)}
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount():
            out["cupy"] = (cupy.asarray, cupy.asnumpy,
                           cupy.cuda.Device().synchronize)
    except Exception as exc:  # no CuPy or no device
        print(f"CuPy: not used ({exc})")
    try:
        import torch

        if torch.cuda.is_available():
            out["torch-cuda"] = (
                lambda a: torch.as_tensor(a, device="cuda"),
                lambda t: t.cpu().numpy(), torch.cuda.synchronize)
    except Exception as exc:
        print(f"torch: not used ({exc})")
    return out


def select(conv, prob, rule, batch, **kw):
    h, p, h_lab, p_lab = (None if a is None else conv(a) for a in prob)
    approximation = "auto" if rule == "regression" else rule
    return skbait.bait_select(h, batch, pool_proba=p,
                              labeled_embeddings=h_lab, labeled_proba=p_lab,
                              approximation=approximation,
                              return_info=True, **kw)


def same_picks(spaces):
    rows = []
    for rule, k in RULES:
        prob = problem(20_000, 64, k, np.float64)
        picks = {}
        for name, (conv, back, sync) in spaces.items():
            idx, _ = select(conv, prob, rule, 50)
            picks[name] = back(idx).tolist()
        ref = picks["numpy"]
        row = dict(rule=rule, k=k, same={n: p == ref
                                         for n, p in picks.items()},
                   common={n: len(set(p) & set(ref))
                           for n, p in picks.items()})
        rows.append(row)
        print(f"picks {rule:15} k={k:3}: " + ", ".join(
            f"{n} {'same' if row['same'][n] else 'DIFFERENT'} "
            f"({row['common'][n]}/50)" for n in picks), flush=True)
    return rows


def timings(spaces, n, numpy_max):
    rows = []
    for rule, k in RULES:
        prob = problem(n, 128, k, np.float32)
        for name, (conv, back, sync) in spaces.items():
            if name == "numpy" and n > numpy_max.get(rule, 0):
                continue
            select(conv, problem(2_000, 128, k, np.float32), rule, 10)
            sync()
            start = time.perf_counter()
            idx, info = select(conv, prob, rule, 100)
            back(idx)
            sync()
            seconds = time.perf_counter() - start
            row = dict(rule=rule, k=k, n=n, namespace=name,
                       seconds=seconds, approximation=info.approximation,
                       predicted=info.predicted_seconds.get(
                           info.approximation))
            rows.append(row)
            print(f"N={n} {rule:15} k={k:3} {name:11}: {seconds:8.2f} s "
                  f"(predicted {row['predicted']:.2f} s)", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--out", default="results/gpu.json")
    parser.add_argument("--numpy-max", default="exact=0,block_diagonal=0,"
                        "binary=1000000,regression=1000000",
                        help="largest N timed with NumPy, per rule")
    parser.add_argument("--rules", nargs="+", default=[r for r, _ in RULES],
                        help="the rules to time (in this order)")
    parser.add_argument("--skip-picks", action="store_true")
    args = parser.parse_args(argv)
    order = {r: k for r, k in RULES}
    RULES[:] = [(r, order[r]) for r in args.rules]
    numpy_max = {kv.split("=")[0]: int(kv.split("=")[1])
                 for kv in args.numpy_max.split(",")}
    spaces = namespaces()
    print(f"namespaces: {list(spaces)}; CPU threads {os.cpu_count()}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}",
          flush=True)
    result = dict(picks=None if args.skip_picks else same_picks(spaces),
                  timings=timings(spaces, args.n, numpy_max))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
