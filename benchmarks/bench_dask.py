"""BAIT on a Dask cluster: scale, overhead against one process, bytes moved.

Three measurements (docs/results.md, "Beyond one machine"):

- ``--part a``: exact BAIT at N = 2·10⁶, d = 64, k = 10, B = 100, 100
  labeled, float32, the pool generated on the workers
  (``dask.array.random``), on a ``LocalCluster`` of 2 worker processes
  whose memory limits are each below the pool's footprint (embeddings,
  probabilities and per-candidate states): wall time, time per greedy
  step, bytes moved per step, peak RSS of the client and of the workers.
- ``--part b``: the same problem at N = 2·10⁵ (and 2·10⁶ with
  ``--sizes``) in one process on NumPy and on the cluster, back to back,
  on the same numbers (the cluster's pool is computed to NumPy for the
  one-process run): the cluster's time over one process's.
- ``--part c``: binary BAIT at N = 10⁷, d = 128, k = 100 on the cluster.

Bytes moved per step come from distributed's own accounting: the sizes
the scheduler records for the data the client ships (the commit's
operand) and gathers (each block's answer), and the workers' counters of
bytes sent to one another (``transfer_outgoing_bytes_total``).
``--quick`` runs small versions of all three (a test).
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

K, D, B, N_LABELED = 10, 64, 100, 100


def _cluster(memory_limit, threads=1, workers=2):
    import dask
    from distributed import Client, LocalCluster

    # The blocks' objects are changed in place on their workers: spilling
    # them to disk is correct but slow, and the worker memory limits are
    # tight on purpose. Workers keep running up to 95 % of their limit.
    with dask.config.set({"distributed.worker.memory.target": False,
                          "distributed.worker.memory.spill": False,
                          "distributed.worker.memory.pause": 0.95,
                          "distributed.worker.memory.terminate": 0.98}):
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


def _worker_bytes(client):
    def sent(dask_worker):
        return dask_worker.transfer_outgoing_bytes_total
    return sum(client.run(sent).values())


def _worker_peak_rss(client):
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(client.run(peak).values())


class _StepBytes:
    """Bytes each greedy step moves: what the client ships (the commit's
    operand) and gathers (each block's answer), measured with
    ``dask.sizeof`` (distributed's own measure of a key's bytes), and what
    the workers send one another (their ``transfer_outgoing_bytes_total``
    counters)."""

    def __init__(self, client):
        from dask.sizeof import sizeof

        import skbait._engine.chunked as chunked
        import skbait._engine.distributed as dist

        self.client = client
        self.per_step = []
        self._patched = [(dist.DaskCandidates, "_ship",
                          dist.DaskCandidates._ship),
                         (chunked.Chunks, "call", chunked.Chunks.call)]
        stats, shipped = self, []
        ship, call = self._patched[0][2], self._patched[1][2]

        def counting_ship(pool, obj):
            shipped.append(0 if obj is None else sizeof(obj))
            return ship(pool, obj)

        def counting_call(chunks, method, *args, **kwargs):
            if method == "step" and stats._at_first_step is None:
                stats._at_first_step = _worker_bytes(stats.client)
            results = call(chunks, method, *args, **kwargs)
            if method == "step":
                stats.per_step.append(dict(
                    shipped=shipped[-1] if shipped else 0,
                    gathered=sizeof(results)))
            return results

        dist.DaskCandidates._ship = counting_ship
        chunked.Chunks.call = counting_call

    def close(self):
        for owner, name, original in self._patched:
            setattr(owner, name, original)

    def start(self):
        self._workers = _worker_bytes(self.client)
        self._at_first_step = None

    def summary(self):
        """Median bytes shipped and gathered by the steps that applied a
        commit; the workers' bytes to one another per step, from the first
        step on, and in the set-up before it (in all)."""
        steps = [s for s in self.per_step if s["shipped"]]
        if not steps:
            return {}
        out = {key: int(np.median([s[key] for s in steps]))
               for key in steps[0]}
        out["between_workers"] = int(
            (_worker_bytes(self.client) - self._at_first_step)
            / len(self.per_step))
        out["setup_between_workers"] = int(self._at_first_step
                                           - self._workers)
        return out


def run_cluster(n, d, k, rows, memory_limit, approximation="exact",
                n_select=B, keep=False):
    """One selection on a fresh 2-worker cluster; its figures."""
    from skbait import bait_select

    cluster, client = _cluster(memory_limit)
    try:
        h, p = _pool(n, d, k, rows)
        h_lab, p_lab = _labeled(d, k)
        stats = _StepBytes(client)
        try:
            stats.start()
            start = time.perf_counter()
            idx, info = bait_select(h, n_select, pool_proba=p,
                                    labeled_embeddings=h_lab,
                                    labeled_proba=p_lab,
                                    approximation=approximation,
                                    return_info=True)
            seconds = time.perf_counter() - start
            bytes_per_step = stats.summary()
        finally:
            stats.close()
        steps = info.n_forward + max(0, info.n_forward - n_select)
        out = dict(
            n=n, d=d, k=k, rule=info.approximation, seconds=seconds,
            setup=info.timings["setup"],
            per_step=info.timings["kernel"] / max(1, info.n_forward),
            steps=steps, bytes_per_step=bytes_per_step,
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


def run_numpy(h, p, h_lab, p_lab, n_select=B):
    from skbait import bait_select

    start = time.perf_counter()
    idx, info = bait_select(h, n_select, pool_proba=p,
                            labeled_embeddings=h_lab, labeled_proba=p_lab,
                            return_info=True)
    return dict(seconds=time.perf_counter() - start,
                per_step=(info.timings["kernel"] + info.timings["gemm"])
                / max(1, info.n_forward),
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


def part_b(sizes, rows_for):
    out = []
    for n in sizes:
        limit = max(2 * 2**30, int(_footprint(n, D, K) * 1.5))
        c = run_cluster(n, D, K, rows_for(n), limit, keep=True)
        h, p, h_lab, p_lab = c.pop("arrays")
        o = run_numpy(h, p, h_lab, p_lab)
        ratio = c["seconds"] / o["seconds"]
        same = c["picks"] == o["picks"]
        gap = abs(c["objective"] - o["objective"]) / abs(o["objective"])
        print(f"(b) N = {n}: one process {o['seconds']:.1f} s, cluster "
              f"{c['seconds']:.1f} s: ratio {ratio:.2f} (per step "
              f"{o['per_step'] * 1e3:.0f} vs {c['per_step'] * 1e3:.0f} ms); "
              f"same picks: {same} (final objectives differ by {gap:.1e} "
              f"relative; float32 near-ties may go either way); bytes a "
              f"step {c['bytes_per_step']}")
        out.append(dict(n=n, numpy=o, cluster=c, ratio=ratio, same=same))
    return out


def part_c(n, rows, memory_limit):
    r = run_cluster(n, 128, 100, rows, memory_limit,
                    approximation="binary")
    print(f"(c) binary BAIT, N = {n}, d = 128, k = 100: {r['seconds']:.1f} "
          f"s (set-up {r['setup']:.1f} s), {r['per_step'] * 1e3:.0f} ms a "
          f"step; peak RSS client {_gib(r['client_peak_rss'])}, worker "
          f"{_gib(r['worker_peak_rss'])}")
    return r


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "c", "all"],
                        default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000],
                        help="pool sizes of part b")
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
            results["b"] = part_b([10_000], lambda n: n // 2)
        if args.part in ("c", "all"):
            results["c"] = part_c(20_000, 10_000, 2**30)
    else:
        if args.part in ("a", "all"):
            results["a"] = part_a(2_000_000, 250_000, int(2.0 * 2**30))
        if args.part in ("b", "all"):
            results["b"] = part_b(args.sizes, lambda n: n // 2)
        if args.part in ("c", "all"):
            results["c"] = part_c(10_000_000, 500_000, 9 * 2**30)
    for part in results.values():
        for r in part if isinstance(part, list) else [part]:
            for key in ("picks",):
                r.pop(key, None)
                for side in ("numpy", "cluster"):
                    if side in r:
                        r[side].pop(key, None)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return results


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(0 if main() else 1)
