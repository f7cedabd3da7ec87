"""Benchmark a 16-experiment sweep: 2 pool workers against 1, and the overheads.

The same sweep (16 random quadratic networks on the 8x8 digits, two circles
each, lengths and every bound) runs into a fresh database with a local pool
of 1 worker, then of 2 workers, alternating ``--repeat`` times so that a
change in machine load hits both. The fastest run of each is reported:

* speed-up: wall time with 1 worker / wall time with 2 workers;
* store overhead per experiment: seconds the driver spent writing results
  to SQLite, divided by the number of experiments;
* scheduler overhead per experiment, for runs with one worker: (wall time -
  sum of the experiments' own durations) / number of experiments. It
  includes starting the worker process (spawn, importing torch) and sending
  the results back.
* the load average before and after, and a control: the speed-up of 2
  processes against 1 on a pure-Python loop, measured between the sweeps.
  On a machine that other jobs load, the control shows how much a second
  process can gain at all; sweep speed-up / control speed-up is the
  parallel efficiency of the sweep machinery itself.
* the same with a Dask LocalCluster of 1 and 2 workers (``--dask``), and in
  the driver's own process with torch's default threads (``--in-process``).

Run: ``python benchmarks/bench_sweep.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from expressivity.experiments import ResultStore, load_config, run_sweep


def sweep_config(quick: bool) -> dict:
    """16 experiments: 4 depths x 2 sigma_w x 2 seeds (4 in quick mode)."""
    return {
        "name": "bench",
        "dataset": "digits",
        "network": {"depth": 3, "width": 24 if quick else 48},
        "paths": {"kind": "circle", "count": 2},
        "measurements": {"samples": 33 if quick else 257, "rtol": 1e-6},
        "grid": {
            "depth": [2, 3] if quick else [3, 4, 5, 6],
            "sigma_w": [1.0, 2.0],
            "seed": [0] if quick else [0, 1],
        },
    }


def timed_run(sweep, folder: Path, label: str, parallel: int, **options) -> dict:
    database = folder / f"{label}.sqlite"
    summary = run_sweep(sweep, database, **options)
    with ResultStore(database) as store:
        durations = [record.duration_s for record in store.experiments()]
    n = len(durations)
    return {
        "label": label,
        "n": n,
        "wall_s": summary.wall_s,
        "work_s": sum(durations),
        "store_s_per_experiment": summary.store_s / n,
        "overhead_s_per_experiment": (summary.wall_s - sum(durations)) / n
        if parallel == 1
        else float("nan"),
        "statuses": summary.counts,
    }


def _burn(iterations: int) -> float:
    started = time.perf_counter()
    total = 0
    for index in range(iterations):
        total += index
    return time.perf_counter() - started


def control_speedup(iterations: int = 20_000_000) -> float:
    """Wall time of one loop in 1 process / two loops in 2 processes."""
    context = multiprocessing.get_context("spawn")
    walls = {}
    for n_processes in (1, 2):
        with context.Pool(n_processes) as pool:
            pool.map(_burn, [1000] * n_processes)
            started = time.perf_counter()
            pool.map(_burn, [iterations] * n_processes)
            walls[n_processes] = time.perf_counter() - started
    return walls[1] / (walls[2] / 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 small experiments")
    parser.add_argument("--dask", action="store_true", help="also run on Dask")
    parser.add_argument(
        "--in-process", action="store_true", help="also run without a pool"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each")
    arguments = parser.parse_args()

    sweep = load_config(sweep_config(arguments.quick))
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs visible, "
        f"{len(os.sched_getaffinity(0))} usable, "
        f"{len(sweep.experiments())} experiments"
    )
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    runs = []
    controls = []
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        for repeat in range(arguments.repeat):
            runs.append(timed_run(sweep, folder, f"pool-1.{repeat}", 1, workers=1))
            controls.append(control_speedup())
            runs.append(timed_run(sweep, folder, f"pool-2.{repeat}", 2, workers=2))
        if arguments.in_process:
            runs.append(timed_run(sweep, folder, "in-process", 1, workers=0))
        if arguments.dask:
            runs.extend(dask_runs(sweep, folder))

    print(
        f"{'run':<12} {'wall (s)':>9} {'work (s)':>9} "
        f"{'store/exp (ms)':>15} {'overhead/exp (s)':>17}  statuses"
    )
    for run in runs:
        print(
            f"{run['label']:<12} {run['wall_s']:9.2f} {run['work_s']:9.2f} "
            f"{1e3 * run['store_s_per_experiment']:15.2f} "
            f"{run['overhead_s_per_experiment']:17.3f}  {run['statuses']}"
        )
    print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    by_label = {run["label"]: run for run in runs}
    fastest = {
        name: min(r["wall_s"] for r in runs if r["label"].startswith(name + "."))
        for name in ("pool-1", "pool-2")
    }
    speedup = fastest["pool-1"] / fastest["pool-2"]
    print(
        f"speed-up, 2 pool workers vs 1 (fastest of {arguments.repeat}): {speedup:.2f}x"
    )
    control = max(controls)
    print(
        f"control, 2 processes vs 1 on a Python loop (best of {len(controls)}): "
        f"{control:.2f}x; sweep speed-up / control: {speedup / control:.2f}"
    )
    if arguments.dask:
        dask_speedup = by_label["dask-1"]["wall_s"] / by_label["dask-2"]["wall_s"]
        print(f"speed-up, 2 Dask workers vs 1: {dask_speedup:.2f}x")


def dask_runs(sweep, folder: Path) -> list[dict]:
    from dask.distributed import LocalCluster

    runs = []
    for n_workers in (1, 2):
        with LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster:
            runs.append(
                timed_run(
                    sweep,
                    folder,
                    f"dask-{n_workers}",
                    n_workers,
                    scheduler=cluster.scheduler_address,
                )
            )
    return runs


if __name__ == "__main__":
    main()
