"""The floor of a greedy step on a Dask cluster: round trips of tasks that
do nothing (docs/results.md §17).

On a ``LocalCluster`` of 2 worker processes × 1 thread, with 4 block
states held as task results:

- *one task*: a task submitted and its result gathered, again and again;
- *a step*: what ``WorkerBlocks.call`` sends for a method that changes
  the blocks (a task per block that makes its next state and one that
  takes its answer, in one message), the answers gathered;
- *a step, a message per task*: the same tasks submitted one by one.

A greedy step of BAIT on a Dask pool costs at least *a step* plus its
compute; the selection makes about ``2 B`` of them.

    python benchmarks/bench_dask_round_trip.py
"""

import argparse
import time

import dask
import numpy as np


class _Block:
    """A block's state that does nothing."""

    def __init__(self):
        self.x = np.zeros(8)


def _step(state, version):
    return state


def _answer(state, version):
    return version


def _one(i):
    return i


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster, wait

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        states = [client.submit(_Block, pure=False) for _ in range(4)]
        wait(states)

        def one_task():
            client.submit(_one, 1, pure=False).result()

        def step_one_message():
            nonlocal states
            new = [dask.delayed(_step, pure=False)(s, 0) for s in states]
            answers = [dask.delayed(_answer, pure=False)(s, 1) for s in new]
            futures = client.compute(new + answers, optimize_graph=False)
            states = futures[:4]
            client.gather(futures[4:])

        def step_per_task():
            nonlocal states
            new = [client.submit(_step, s, 0, pure=False) for s in states]
            answers = [client.submit(_answer, s, 1, pure=False) for s in new]
            states = new
            client.gather(answers)

        for name, fn in [("one task", one_task),
                         ("a step (one message)", step_one_message),
                         ("a step, a message per task", step_per_task)]:
            for _ in range(20):
                fn()
            start = time.perf_counter()
            for _ in range(args.steps):
                fn()
            ms = 1e3 * (time.perf_counter() - start) / args.steps
            print(f"{name:>28}: {ms:6.1f} ms", flush=True)


if __name__ == "__main__":
    main()
