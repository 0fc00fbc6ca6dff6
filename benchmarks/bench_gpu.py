"""BAIT on a GPU: CuPy and torch-CUDA arrays against NumPy.

1. *Same picks.* For every registered rule (exact BAIT at k = 10, the
   approximations at k = 100) and regression, a float64 problem
   (N = 20 000, d = 64, B = 50, 100 labeled) selected from NumPy, CuPy
   and torch (CUDA) arrays: the batches must be equal.
2. *Timings* at each ``--n`` (d = 128, B = 100, 100 labeled, float32)
   on each namespace (after a warm-up), beside the predicted seconds;
   on the machine's CPU with NumPy where ``--numpy-max`` allows.
3. *Floors* (``--floors``): each namespace's measured float32 GEMM rate
   (and TF32 on torch), float64 GEMM rate and memory bandwidth, and for
   every timed selection each phase's measured seconds beside the time
   its counted flops and bytes (the rule's ``work``, the counts behind
   the predictions) cannot go below on that device.

The log names the device, its driver and the CPU. Without a device,
``--namespaces numpy torch-cpu`` runs every part on the CPU (a dry run
of the script). Writes ``--out`` (JSON).

    python benchmarks/bench_gpu.py --floors --n 100000 1000000 \
        --out benchmarks/runs/gpu/gpu.json
"""

import argparse
import json
import os
import time

import numpy as np

import skbait
from skbait._engine.rules import get_rule, rule_names


def _rules():
    """(rule, k): the rules whose states grow as k² (exact and top-c
    BAIT) at 10 classes, every other registered rule at 100, and
    regression (k = 1)."""
    def k_of(spec):
        probe = spec.kernel_probe()
        return 10 if probe and probe[1] > probe[0] else 100

    return ([(name, k_of(get_rule(name))) for name in rule_names()]
            + [("regression", 1)])


RULES = _rules()


def problem(n, d, k, dtype, seed=0, n_lab=100):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n + n_lab, d)).astype(dtype)
    if k == 1:
        return h[n_lab:], None, h[:n_lab], None
    logits = 2.0 * rng.normal(size=(n + n_lab, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(dtype)
    return h[n_lab:], p[n_lab:], h[:n_lab], p[:n_lab]


def namespaces(wanted=None):
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
        out["torch-cpu"] = (torch.as_tensor, lambda t: t.numpy(),
                            lambda: None)
    except Exception as exc:
        print(f"torch: not used ({exc})")
    if wanted is None:  # every device namespace, NumPy as the reference
        wanted = [n for n in out if n != "torch-cpu"]
    missing = sorted(set(wanted) - set(out))
    if missing:
        raise SystemExit(f"namespaces not available here: {missing}; "
                         f"available: {sorted(out)}")
    order = ["numpy"] + [w for w in wanted if w != "numpy"]
    return {n: out[n] for n in order}


def describe_devices():
    """The GPU, its driver and the CPU, in words (every log names them)."""
    parts = [f"CPU threads {os.cpu_count()}, OPENBLAS_CORETYPE="
             f"{os.environ.get('OPENBLAS_CORETYPE')}"]
    try:
        import torch

        if torch.cuda.is_available():
            parts.append(f"torch {torch.__version__}: "
                         f"{torch.cuda.get_device_name()} (CUDA "
                         f"{torch.version.cuda})")
    except ImportError:
        pass
    try:
        import cupy

        driver = cupy.cuda.runtime.driverGetVersion()
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        parts.append(f"cupy {cupy.__version__}: "
                     f"{name.decode() if isinstance(name, bytes) else name}"
                     f" (driver API {driver})")
    except Exception:  # no CuPy or no device
        pass
    return "; ".join(parts)


def device_rates(name, conv, sync, repeats=5):
    """Measured rates of namespace ``name``: float32 and float64 GEMMs
    (n × n by n × n, n = 4096 on a device; torch also with TF32) and the
    bandwidth of a read of 1 GiB on a device (the sum of a float32
    array), best of ``repeats``."""
    rng = np.random.default_rng(0)
    n = 4096 if name.endswith("cuda") or name == "cupy" else 1024

    def best(fn):
        fn()
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        return min(times)

    rates = {}
    for key, dtype in (("gemm32", np.float32), ("gemm64", np.float64)):
        a = conv(rng.normal(size=(n, n)).astype(dtype))
        rates[key] = 2 * n ** 3 / best(lambda: a @ a)
    if name == "torch-cuda":
        import torch

        a = conv(rng.normal(size=(n, n)).astype(np.float32))
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            rates["tf32"] = 2 * n ** 3 / best(lambda: a @ a)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = before
    size = 2 ** 28 if n == 4096 else 2 ** 26  # 1 GiB on a device
    big = conv(np.ones(size, dtype=np.float32))
    rates["bandwidth"] = 4 * size / best(lambda: big.sum())
    return rates


def phase_floors(rule, shape, rates):
    """Seconds each phase cannot go below at ``rates``: its counted flops
    at the GEMM rate (the fastest the device multiplies) or its counted
    bytes at the bandwidth, whichever is longer (a roofline); the steps'
    and the backward pass's together, as ``info.timings`` has them."""
    flops_rate = max(rates["gemm32"] if shape.gemm_bytes == 4
                     else rates["gemm64"], rates.get("tf32", 0.0)
                     if shape.gemm_bytes == 4 else 0.0)
    work = get_rule(rule).work(shape)

    def floor(*phases):
        flops = sum(work[p].gemm + work[p].gram + work[p].kernel
                    for p in phases)
        flops64 = sum(work[p].gemm64 + work[p].narrow for p in phases)
        read = sum(work[p].read for p in phases)
        return max(flops / flops_rate + flops64 / rates["gemm64"],
                   read / rates["bandwidth"])

    return dict(setup=floor("setup"), steps=floor("steps", "backward"),
                commits=floor("commits"))


def measured_phases(timings):
    return dict(setup=timings["setup"],
                steps=timings["gemm"] + timings["kernel"],
                commits=timings["commit"] + timings["refresh"])


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


def timings(spaces, n, numpy_max, rates=None):
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
                           info.approximation),
                       phases=measured_phases(info.timings))
            rows.append(row)
            print(f"N={n} {rule:15} k={k:3} {name:11}: {seconds:8.2f} s "
                  f"(predicted {row['predicted']:.2f} s, "
                  f"{seconds / row['predicted']:.2f}x)", flush=True)
            if rates is not None:
                shape = _shape(n, k, info)
                row["floors"] = phase_floors(info.approximation, shape,
                                             rates[name])
                print("    " + "; ".join(
                    f"{p} {row['phases'][p]:.3f} s / floor {f:.3f} s = "
                    f"{row['phases'][p] / f:.1f}x" for p, f in
                    row["floors"].items() if f > 0), flush=True)
    return rows


def _shape(n, k, info):
    """The shape of a timed selection (d = 128, B = 100, 100 labeled,
    float32), as the planner counts it."""
    from skbait._engine.rules.base import Shape

    return Shape(n_pool=n, d=128, k=k, n_lab=100, n_select=100,
                 n_forward=info.n_forward, classification=k > 1,
                 store_bytes=4, gemm_bytes=4, p_bytes=4,
                 numba=info.used_numba, on_numpy=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--out", default="results/gpu.json")
    parser.add_argument("--numpy-max", default="exact=0,block_diagonal=0,"
                        "top_c=0,binary=1000000,regression=1000000",
                        help="largest N timed with NumPy, per rule")
    parser.add_argument("--rules", nargs="+", default=[r for r, _ in RULES],
                        help="the rules to time (in this order)")
    parser.add_argument("--namespaces", nargs="+", default=None,
                        help="default: NumPy and every GPU namespace "
                             "available; torch-cpu for a dry run")
    parser.add_argument("--floors", action="store_true",
                        help="measure each namespace's rates and print "
                             "each phase's floor beside its time")
    parser.add_argument("--skip-picks", action="store_true")
    args = parser.parse_args(argv)
    order = {r: k for r, k in RULES}
    RULES[:] = [(r, order[r]) for r in args.rules]
    numpy_max = {kv.split("=")[0]: int(kv.split("=")[1])
                 for kv in args.numpy_max.split(",")}
    spaces = namespaces(args.namespaces)
    device = describe_devices()
    print(f"namespaces: {list(spaces)}; {device}", flush=True)
    rates = None
    if args.floors:
        rates = {name: device_rates(name, conv, sync)
                 for name, (conv, _, sync) in spaces.items()}
        for name, r in rates.items():
            print(f"rates {name}: " + ", ".join(
                f"{key} {v / 1e9:.0f} G{'B' if key == 'bandwidth' else 'FLOP'}"
                f"/s" for key, v in r.items()), flush=True)
    result = dict(device=device, rates=rates,
                  picks=None if args.skip_picks else same_picks(spaces),
                  timings=[row for n in args.n
                           for row in timings(spaces, n, numpy_max, rates)])
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
