"""BAIT on a Dask cluster: scale, overhead against one process, bytes moved.

Four measurements (docs/results.md, "Beyond one machine"):

- ``--part a``: exact BAIT at N = 2·10⁶, d = 64, k = 10, B = 100, 100
  labeled, float32, the pool generated on the workers
  (``dask.array.random``), on a ``LocalCluster`` of 2 worker processes
  whose memory limits are each below the pool's footprint (embeddings,
  probabilities and per-candidate states): wall time, time per greedy
  step, bytes moved per step, peak RSS of the client and of the workers.
- ``--part b``: the overhead. The same problem at N = 2·10⁵ (``--sizes``)
  on a cluster of 2 workers × 1 thread and in one process with 2 threads,
  back to back on the same numbers (the pool persisted on the workers
  first, then computed to NumPy for the one-process run; both warmed up
  by a small selection), and where the cluster's extra time goes: the
  set-up's phases, and a greedy step split into the client's commit, the
  workers' compute (timed inside the workers) and the rest (the round
  trip: submitting, scheduling, gathering). One process with 1 thread is
  timed too, to show what one BLAS thread per worker costs.
- ``--part c``: binary BAIT at N = 10⁷, d = 128, k = 100 on the cluster.
- ``--part t``: the bytes a greedy step moves, by message type, at the
  pool sizes ``--traffic-sizes`` (default 2·10⁴ and 2·10⁵): the task
  specifications the client sends (the commit's operand travels inside
  each worker's task), the answers it gathers, and the data the workers
  send one another, by the key it belongs to (counted inside the
  workers' ``get_data`` handler, distributed's own byte count).

Absolute figures depend on the machine: each part prints
``OPENBLAS_CORETYPE`` and this machine's GEMM rates beside them, and the
ratios are taken within one run. ``--quick`` runs small versions (a test).
"""

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict

import numpy as np

K, D, B, N_LABELED = 10, 64, 100, 100


# distributed's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536
# (memory freed goes back to the OS at once); glibc then also serves every
# allocation over 128 KiB by a fresh mmap, so each chunk's temporaries
# page-fault anew (docs/results.md §13).
TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def _cluster(memory_limit, threads=1, workers=2, malloc_trim=True):
    import dask
    from distributed import Client, LocalCluster

    extra = {}
    if not malloc_trim:
        # Unset for the workers; a nanny started before may have set it in
        # this process's environment, which the workers inherit.
        extra[TRIM_KEY] = None
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    # The blocks' objects are changed in place on their workers: spilling
    # them to disk is correct but slow, and the worker memory limits are
    # tight on purpose. Workers keep running up to 95 % of their limit.
    with dask.config.set({"distributed.worker.memory.target": False,
                          "distributed.worker.memory.spill": False,
                          "distributed.worker.memory.pause": 0.95,
                          "distributed.worker.memory.terminate": 0.98,
                          **extra}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads,
                               processes=True, memory_limit=memory_limit,
                               dashboard_address=None, silence_logs=40)
    return cluster, Client(cluster)


def _pool(n, d, k, rows, seed=0):
    """Embeddings and softmax probabilities generated on the workers."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    h = rng.standard_normal((n, d), chunks=(rows, d), dtype=np.float32)
    logits = 2.0 * rng.standard_normal((n, k), chunks=(rows, k),
                                       dtype=np.float32)
    e = da.exp(logits - logits.max(axis=1, keepdims=True))
    return h, (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _labeled(d, k, n=N_LABELED, seed=1):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, d)).astype(np.float32)
    logits = 2.0 * rng.standard_normal((n, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return h, (p / p.sum(1, keepdims=True)).astype(np.float32)


def _footprint(n, d, k):
    """Bytes of the pool's embeddings, probabilities and exact BAIT's
    per-candidate states (two packed k × k float64 matrices a point)."""
    return n * d * 4 + n * k * 4 + 2 * 8 * n * (k * (k + 1) // 2)


def _cpu_seconds():
    """CPU seconds this process has used (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_cpu(client):
    return sum(client.run(_cpu_seconds).values())


def dense_objective(h, p, h_lab, p_lab, indices, lam, n_select):
    """``tr(M⁻¹ F)`` of the batch ``indices`` in float64 (docs/design.md
    §2), with F formed in chunks of rows: the same yardstick for batches
    selected in float32 by one process and by the cluster."""
    d, k = h.shape[1], p.shape[1]

    def fisher_sum(h, p):
        total = np.zeros((k * d, k * d))
        for start in range(0, len(h), 20_000):
            hc = np.asarray(h[start:start + 20_000], dtype=np.float64)
            pc = np.asarray(p[start:start + 20_000], dtype=np.float64)
            # I(x) = (diag(p) - p pᵀ) ⊗ h hᵀ, class-major.
            z = (pc[:, :, None] * hc[:, None, :]).reshape(len(hc), k * d)
            total -= z.T @ z
            for c in range(k):
                block = (hc * pc[:, c:c + 1]).T @ hc
                total[c * d:(c + 1) * d, c * d:(c + 1) * d] += block
        return total

    n_lab = len(h_lab)
    f = (fisher_sum(h, p) + fisher_sum(h_lab, p_lab)) / (len(h) + n_lab)
    idx = np.sort(np.asarray(indices))
    m = (lam * np.eye(k * d) + fisher_sum(h_lab, p_lab) / (n_lab + n_select)
         + fisher_sum(h[idx], p[idx]) * n_select / (n_lab + n_select))
    return float(np.trace(np.linalg.solve(m, f)))


def _worker_peak_rss(client):
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(client.run(peak).values())


def machine_line():
    """``OPENBLAS_CORETYPE`` and this machine's GEMM rates, measured now
    (``bench_selection.machine_rates``): printed beside absolute times."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_selection import machine_rates

    rates = machine_rates(rows=10_000)
    return (f"machine: OPENBLAS_CORETYPE="
            f"{os.environ.get('OPENBLAS_CORETYPE')}, 2 threads of "
            f"single-threaded BLAS: float32 GEMM {rates['gemm32'] / 1e9:.0f} "
            f"GFLOP/s, float64 {rates['gemm64'] / 1e9:.0f} GFLOP/s; "
            f"{os.cpu_count()} cores")


# ---- instruments --------------------------------------------------------------
def _install_worker_instruments(dask_worker):
    """On a worker: time each block method (inside the block tasks,
    ``cluster._changed`` and ``cluster._read``) and
    count the bytes its ``get_data`` handler sends, by requester (another
    worker, or the scheduler gathering for the client) and key."""
    from skbait._engine.cluster import client as cluster

    if getattr(dask_worker, "skbait_bench", None) is not None:
        return
    stats = dask_worker.skbait_bench = dict(times=defaultdict(float),
                                            cpu=defaultdict(float),
                                            calls=defaultdict(int),
                                            sent=defaultdict(int))

    def timed(run):
        def timed_run(state, method, args, version):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return run(state, method, args, version)
            finally:
                name = method.__name__
                stats["times"][name] += time.perf_counter() - start
                stats["cpu"][name] += time.process_time() - cpu
                stats["calls"][name] += 1
        return timed_run

    # The block tasks' functions, found by name when a task arrives.
    cluster._changed = timed(cluster._changed)
    cluster._read = timed(cluster._read)
    get_data = dask_worker.handlers["get_data"]

    async def counting(comm, keys=(), who=None, **kwargs):
        from dask.utils import key_split

        to = "to a worker" if who else "to the client"
        for key in keys:
            ts = dask_worker.state.tasks.get(key)
            if ts is not None and key in dask_worker.data:
                stats["sent"][f"{key_split(key)} {to}"] += ts.nbytes or 0
        return await get_data(comm, keys=keys, who=who, **kwargs)

    dask_worker.handlers["get_data"] = counting


def _read_worker_instruments(dask_worker):
    stats = dask_worker.skbait_bench
    out = {key: dict(value) for key, value in stats.items()}
    for value in stats.values():
        value.clear()
    return out


class _Instruments:
    """The client's side: what each greedy step ships inside its tasks and
    gathers (``dask.sizeof``, distributed's measure of a key's bytes), the
    time each ``WorkerBlocks`` call takes, and the workers' own counts."""

    def __init__(self, client, split=False):
        from dask.sizeof import sizeof

        from skbait._engine.cluster import client as cluster

        self.client = client
        client.run(_install_worker_instruments)
        self.calls = defaultdict(list)   # method -> [(seconds, tasks, ...)]
        # With ``split``: the workers' counts up to the first greedy step
        # (the set-up) apart from the steps' (read at the first step).
        self.split, self.setup = split, None
        self._patched = [(cluster.WorkerBlocks, "call",
                          cluster.WorkerBlocks.call),
                         (cluster.WorkerBlocks, "__init__",
                          cluster.WorkerBlocks.__init__),
                         (cluster.WorkerBlocks, "sum",
                          cluster.WorkerBlocks.sum)]
        call, init, add = (p[2] for p in self._patched)
        calls = self.calls

        def timed_call(blocks, method, *args):
            if split and method.__name__ == "step" and self.setup is None:
                self.setup = self.workers()
            start = time.perf_counter()
            results = call(blocks, method, *args)
            tasks = blocks.n  # a task per block
            calls[method.__name__].append(dict(
                seconds=time.perf_counter() - start, tasks=tasks,
                # inside each block's task: the arguments (the operand)
                shipped=tasks * sizeof(args), gathered=sizeof(results)))
            return results

        def timed_init(blocks, *args, **kwargs):
            start = time.perf_counter()
            init(blocks, *args, **kwargs)
            calls["(build)"].append(dict(
                seconds=time.perf_counter() - start, tasks=blocks.n,
                shipped=0, gathered=0))

        def timed_sum(blocks, method, *args):
            start = time.perf_counter()
            total = add(blocks, method, *args)
            calls["(sum) " + method.__name__].append(dict(
                seconds=time.perf_counter() - start, tasks=blocks.n,
                shipped=0, gathered=sizeof(total)))
            return total

        cluster.WorkerBlocks.call = timed_call
        cluster.WorkerBlocks.__init__ = timed_init
        cluster.WorkerBlocks.sum = timed_sum

    def close(self):
        for owner, name, original in self._patched:
            setattr(owner, name, original)

    def reset(self):
        self.calls.clear()
        self.setup = None
        return self.workers()

    def workers(self):
        """``{"times": {method: s}, "calls": ..., "sent": {kind: bytes}}``
        summed over the workers since the last read."""
        total = dict(times=defaultdict(float), cpu=defaultdict(float),
                     calls=defaultdict(int), sent=defaultdict(int))
        for stats in self.client.run(_read_worker_instruments).values():
            for kind, values in stats.items():
                for key, value in values.items():
                    total[kind][key] += value
        return total


# ---- runs ---------------------------------------------------------------------
def run_cluster(n, d, k, rows, memory_limit, approximation="exact",
                n_select=B, keep=False, persist=False, warm=False,
                split=False, malloc_trim=True):
    """One selection on a fresh 2-worker cluster; its figures."""
    from skbait import bait_select

    cluster, client = _cluster(memory_limit, malloc_trim=malloc_trim)
    try:
        h, p = _pool(n, d, k, rows)
        h_lab, p_lab = _labeled(d, k)
        if persist:
            from distributed import wait

            h, p = client.persist([h, p])
            wait([h, p])
        if warm:  # imports and numba kernels loaded on both workers
            bait_select(h[:2000], 5, pool_proba=p[:2000],
                        labeled_embeddings=h_lab, labeled_proba=p_lab,
                        approximation=approximation)
        stats = _Instruments(client, split=split)
        try:
            stats.reset()
            cpu = _cpu_seconds(), _worker_cpu(client)
            start = time.perf_counter()
            idx, info = bait_select(h, n_select, pool_proba=p,
                                    labeled_embeddings=h_lab,
                                    labeled_proba=p_lab,
                                    approximation=approximation,
                                    return_info=True)
            seconds = time.perf_counter() - start
            cpu = (_cpu_seconds() - cpu[0], _worker_cpu(client) - cpu[1])
            calls = {m: list(v) for m, v in stats.calls.items()}
            workers = stats.workers()
            setup_sent = dict(stats.setup["sent"]) if stats.setup else None
        finally:
            stats.close()
        steps = [c for c in calls.get("step", ())]
        out = dict(
            n=n, d=d, k=k, rule=info.approximation, seconds=seconds,
            setup=info.timings["setup"],
            per_step=info.timings["kernel"] / max(1, info.n_forward),
            timings=dict(info.timings), n_forward=info.n_forward,
            steps=info.n_forward + max(0, info.n_forward - n_select),
            step_calls=len(steps), calls=calls, workers=workers,
            client_cpu=cpu[0], workers_cpu=cpu[1], lam=float(info.lam),
            setup_sent=setup_sent,
            bytes_per_step=_step_bytes(steps, workers, len(steps)),
            client_peak_rss=resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss * 1024,
            worker_peak_rss=_worker_peak_rss(client),
            worker_memory_limit=memory_limit,
            footprint=_footprint(n, d, k), n_chunks=info.n_chunks,
            picks=idx.tolist(), objective=float(info.objective[-1]))
        if keep:
            out["arrays"] = [np.asarray(a) for a in client.compute(
                [h, p], sync=True)] + [h_lab, p_lab]
        return out
    finally:
        client.close()
        cluster.close()


def _step_bytes(steps, workers, n_steps):
    """Median bytes a step ships and gathers, and what the workers sent
    one another and to the client, per step (whole selection / steps)."""
    if not steps:
        return {}
    out = {key: int(np.median([s[key] for s in steps]))
           for key in ("shipped", "gathered")}
    for kind, value in workers["sent"].items():
        out[kind] = int(value / max(1, n_steps))
    return out


def run_numpy(h, p, h_lab, p_lab, n_select=B, n_jobs=None):
    from skbait import bait_select

    bait_select(h[:2000], 5, pool_proba=p[:2000], labeled_embeddings=h_lab,
                labeled_proba=p_lab, n_jobs=n_jobs)  # numba loaded
    cpu = _cpu_seconds()
    start = time.perf_counter()
    idx, info = bait_select(h, n_select, pool_proba=p,
                            labeled_embeddings=h_lab, labeled_proba=p_lab,
                            return_info=True, n_jobs=n_jobs)
    return dict(seconds=time.perf_counter() - start,
                cpu=_cpu_seconds() - cpu, lam=float(info.lam),
                per_step=(info.timings["kernel"] + info.timings["gemm"])
                / max(1, info.n_forward),
                timings=dict(info.timings), n_forward=info.n_forward,
                setup=info.timings["setup"], picks=idx.tolist(),
                objective=float(info.objective[-1]))


def _gib(x):
    return f"{x / 2**30:.2f} GiB"


def part_a(n, rows, memory_limit, n_select=B):
    r = run_cluster(n, D, K, rows, memory_limit, n_select=n_select)
    print(f"(a) N = {n}, d = {D}, k = {K}, B = {n_select}, {N_LABELED} "
          f"labeled, "
          f"float32, {r['n_chunks']} blocks, 2 workers of "
          f"{_gib(memory_limit)} each (pool footprint {_gib(r['footprint'])})")
    print(f"    {r['seconds']:.1f} s (set-up {r['setup']:.1f} s), "
          f"{r['per_step'] * 1e3:.0f} ms a forward step; bytes a step: "
          f"{r['bytes_per_step']}; peak RSS client "
          f"{_gib(r['client_peak_rss'])}, worker {_gib(r['worker_peak_rss'])}")
    return r


def _profile(c, o, o1):
    """Where the cluster's time goes, against one process (``o``: 2
    threads, ``o1``: 1 thread)."""
    calls, wt = c["calls"], c["workers"]["times"]
    steps = calls.get("step", [])
    n = max(1, len(steps))
    step_wall = sum(s["seconds"] for s in steps) / n
    # Each worker runs its blocks one after the other: a step waits for the
    # slower worker, about the sum over both workers / 2 when balanced.
    step_work = wt.get("step", 0.0) / 2 / n
    step_cpu = c["workers"]["cpu"].get("step", 0.0) / n
    commit = c["timings"]["commit"] / n
    setup_calls = {m: sum(x["seconds"] for x in v) for m, v in calls.items()
                   if m not in ("step", "records", "take", "maxima")}
    one = (o["timings"]["kernel"] + o["timings"]["gemm"]) / max(
        1, o["n_forward"])
    one1 = (o1["timings"]["kernel"] + o1["timings"]["gemm"]) / max(
        1, o1["n_forward"])
    fisher = sum(v for m, v in setup_calls.items() if m.startswith("(sum)"))
    on_workers = sum(setup_calls.values())
    rows = [
        ("set-up (whole)", c["setup"], o["setup"]),
        ("  build blocks on workers", setup_calls.get("(build)", 0.0), None),
        ("  the blocks' Fisher sums, added up", fisher, None),
        ("  μ, prepare, first states",
         on_workers - fisher - setup_calls.get("(build)", 0.0), None),
        ("  client: F, M⁻¹, the rule", c["setup"] - on_workers, None),
        ("a forward step: commit (client)", commit,
         o["timings"]["commit"] / max(1, o["n_forward"])),
        ("a step: candidates' update", step_work, one),
        ("a step: round trip (wall - compute)", step_wall - step_work,
         None),
        ("one process, 1 thread: a step's update", None, one1),
        ("a step's update, CPU s (both workers)", step_cpu, None),
        ("refreshes (whole)", c["timings"]["refresh"],
         o["timings"]["refresh"]),
        ("total", c["seconds"], o["seconds"]),
        ("CPU s: client and scheduler | process", c["client_cpu"], o["cpu"]),
        ("CPU s: workers", c["workers_cpu"], None),
    ]
    return rows


def part_b(sizes, rows_for, quick=False):
    print(machine_line())
    out = []
    for n in sizes:
        limit = max(2 * 2**30, int(_footprint(n, D, K) * 1.5))
        n_select = 20 if quick else B
        # Workers as distributed starts them, then without the malloc trim.
        c = run_cluster(n, D, K, rows_for(n), limit, keep=True,
                        persist=True, warm=True, n_select=n_select)
        c0 = run_cluster(n, D, K, rows_for(n), limit, persist=True,
                         warm=True, n_select=n_select, malloc_trim=False)
        h, p, h_lab, p_lab = c.pop("arrays")
        o = run_numpy(h, p, h_lab, p_lab, n_select, n_jobs=2)
        o1 = run_numpy(h, p, h_lab, p_lab, n_select, n_jobs=1)
        ratio = c["seconds"] / o["seconds"]
        ratio0 = c0["seconds"] / o["seconds"]
        common = len(set(c["picks"]) & set(o["picks"]))
        # Both batches on one yardstick: the float64 objective with one λ.
        dense = [dense_objective(h, p, h_lab, p_lab, picks, o["lam"],
                                 n_select)
                 for picks in (c["picks"], o["picks"])]
        gap = (dense[0] - dense[1]) / abs(dense[1])
        print(f"(b) N = {n}, {c['n_chunks']} blocks: one process (2 threads) "
              f"{o['seconds']:.1f} s, cluster (2 workers x 1 thread) "
              f"{c['seconds']:.1f} s: ratio {ratio:.2f}; one process with "
              f"1 thread {o1['seconds']:.1f} s; {common} of {n_select} picks "
              f"in common; float64 objective of the batches: cluster "
              f"{dense[0]:.7g}, one process {dense[1]:.7g} (relative "
              f"difference {gap:+.1e}; λ {c['lam']:.6g} vs {o['lam']:.6g})")
        print(f"    workers without MALLOC_TRIM_THRESHOLD_: cluster "
              f"{c0['seconds']:.1f} s, ratio {ratio0:.2f}")
        print(f"    {'':40s} {'cluster s':>10} {'no trim s':>10} "
              f"{'one proc s':>10}")
        for (name, cv, ov), (_, cv0, _) in zip(_profile(c, o, o1),
                                               _profile(c0, o, o1)):
            cells = ["" if v is None else f"{v:10.4f}" for v in (cv, cv0, ov)]
            print(f"    {name:40s} " + " ".join(f"{x:>10}" for x in cells))
        out.append(dict(n=n, numpy=o, numpy_1thread=o1, cluster=c,
                        cluster_no_trim=c0, ratio=ratio,
                        ratio_no_trim=ratio0, common=common,
                        dense_objectives=dense))
    return out


def part_c(n, rows, memory_limit):
    r = run_cluster(n, 128, 100, rows, memory_limit,
                    approximation="binary")
    print(f"(c) binary BAIT, N = {n}, d = 128, k = 100: {r['seconds']:.1f} "
          f"s (set-up {r['setup']:.1f} s), {r['per_step'] * 1e3:.0f} ms a "
          f"step; peak RSS client {_gib(r['client_peak_rss'])}, worker "
          f"{_gib(r['worker_peak_rss'])}")
    return r


def part_t(sizes, blocks=8, n_select=20):
    """Bytes a greedy step moves, by message type, at each pool size
    (the same number of blocks); the set-up's apart."""
    rows = []
    for n in sizes:
        r = run_cluster(n, D, K, n // blocks, 2 * 2**30, persist=True,
                        n_select=n_select, warm=True, split=True)
        steps = r["calls"].get("step", [])
        per = max(1, len(steps))
        row = {"N": n, "steps": len(steps),
               "step: task specs (operand), client to workers": int(
                   np.median([s["shipped"] for s in steps])),
               "step: answers gathered, workers to client": int(
                   np.median([s["gathered"] for s in steps]))}
        for kind, value in sorted(r["workers"]["sent"].items()):
            row[f"step: {kind} (get_data)"] = int(value / per)
        for kind, value in sorted((r["setup_sent"] or {}).items()):
            row[f"set-up, whole: {kind} (get_data)"] = int(value)
        rows.append(row)
    print(f"(t) bytes moved (d = {D}, k = {K}, float32, {blocks} blocks, "
          f"2 workers, B = {n_select}): a greedy step's by message type "
          "(median; worker sends: the steps' total / steps), and the "
          "set-up's whole; the workers' get_data counts sizeof, "
          "distributed's own measure")
    kinds = []
    for row in rows:
        kinds += [k for k in row if k not in kinds]
    print("    " + f"{'':58s}" + "".join(f"{r['N']:>12}" for r in rows))
    for kind in kinds[1:]:
        print("    " + f"{kind:58s}" + "".join(
            f"{r.get(kind, 0):>12}" for r in rows))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "c", "t", "all"],
                        default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000],
                        help="pool sizes of part b")
    parser.add_argument("--traffic-sizes", type=int, nargs="+",
                        default=[20_000, 200_000],
                        help="pool sizes of part t")
    parser.add_argument("--quick", action="store_true",
                        help="small versions of every part (a test)")
    parser.add_argument("--out", default=None, help="write the figures "
                        "as JSON to this file")
    args = parser.parse_args(argv)
    results = {}
    if args.quick:
        if args.part in ("a", "all"):
            results["a"] = part_a(20_000, 5_000, 2**30, n_select=20)
        if args.part in ("b", "all"):
            results["b"] = part_b([10_000], lambda n: n // 2, quick=True)
        if args.part in ("c", "all"):
            results["c"] = part_c(20_000, 10_000, 2**30)
        if args.part in ("t", "all"):
            results["t"] = part_t([4_000, 16_000], n_select=5)
    else:
        if args.part in ("a", "all"):
            results["a"] = part_a(2_000_000, 250_000, int(2.0 * 2**30))
        if args.part in ("b", "all"):
            results["b"] = part_b(args.sizes, lambda n: n // 2)
        if args.part in ("c", "all"):
            results["c"] = part_c(10_000_000, 500_000, 9 * 2**30)
        if args.part in ("t", "all"):
            results["t"] = part_t(args.traffic_sizes)
    for part in results.values():
        for r in part if isinstance(part, list) else [part]:
            for side in (r, r.get("numpy"), r.get("numpy_1thread"),
                         r.get("cluster"), r.get("cluster_no_trim")):
                if isinstance(side, dict):
                    side.pop("picks", None)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return results


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(0 if main() else 1)
