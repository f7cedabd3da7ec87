"""Run the experiments of a sweep on a process pool or a Dask cluster.

Workers run ``run_experiment`` and send the results back. The driver alone
writes them to the results store, each as it arrives, so the database never
has concurrent writers. Experiments already finished in the database are
skipped, which makes a rerun resume an interrupted sweep.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expressivity.errors import ConfigurationError
from expressivity.experiments.config import ExperimentConfig, SweepConfig
from expressivity.experiments.experiment import (
    ExperimentResult,
    run_experiment,
    software_versions,
)
from expressivity.experiments.store import ResultStore

logger = logging.getLogger(__name__)


@dataclass
class SweepSummary:
    """Counts and timings of one run of a sweep.

    Attributes
    ----------
    total
        Experiments in the grid.
    skipped
        Experiments already finished in the database.
    counts
        Experiments run now, per status.
    wall_s
        Wall-clock seconds of this run.
    store_s
        Seconds spent writing results to the database.
    """

    total: int
    skipped: int
    counts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    store_s: float = 0.0

    @property
    def completed(self) -> int:
        return sum(self.counts.values())


ProgressCallback = Callable[[ExperimentResult, SweepSummary], None]


def run_sweep(
    sweep: SweepConfig,
    database: str | Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    checkpoint_dir: str | Path | None = None,
    scheduler_timeout_s: float = 30.0,
    on_start: Callable[[SweepSummary], None] | None = None,
    on_result: ProgressCallback | None = None,
) -> SweepSummary:
    """Run every experiment of ``sweep`` not yet finished in ``database``.

    Parameters
    ----------
    sweep
        The validated sweep.
    database
        SQLite results file, created when missing.
    workers
        Processes of the local pool (spawned, one torch thread each); 0 runs
        the experiments one after another in this process. Ignored with
        ``scheduler``.
    scheduler
        Address of a running Dask scheduler, for example
        ``tcp://127.0.0.1:8786``; the experiments run on its workers.
    scheduler_timeout_s
        Seconds to wait for the connection to the scheduler.
    checkpoint_dir
        Folder for checkpoints of trained networks. With a Dask cluster the
        files are written on the workers' file systems.
    on_start
        Called once with the summary before the first experiment runs.
    on_result
        Called in the driver after each result is stored.
    """
    if workers < 0:
        raise ConfigurationError(f"workers must be >= 0, got {workers}")
    started = time.perf_counter()
    experiments = sweep.experiments()
    directory = None if checkpoint_dir is None else str(checkpoint_dir)

    with ResultStore(database) as store:
        done = store.done_hashes()
        pending = unique_pending(experiments, done)
        summary = SweepSummary(
            total=len(experiments), skipped=len(experiments) - len(pending)
        )
        logger.info(
            "sweep %r: %d experiments, %d already done, %d to run",
            sweep.base.name,
            summary.total,
            summary.skipped,
            len(pending),
        )
        if on_start is not None:
            on_start(summary)

        payloads = [config.model_dump(mode="json") for config in pending]
        if scheduler is not None:
            results = _run_dask(payloads, scheduler, directory, scheduler_timeout_s)
        elif workers == 0:
            results = (run_experiment(p, checkpoint_dir=directory) for p in payloads)
        else:
            results = _run_pool(payloads, workers, directory)

        for result in results:
            store_started = time.perf_counter()
            store.write(result, sweep=sweep.base.name)
            summary.store_s += time.perf_counter() - store_started
            summary.counts[result.status] = summary.counts.get(result.status, 0) + 1
            if result.status == "failed":
                logger.warning(
                    "experiment %s failed: %s", result.config_hash[:12], result.error
                )
            if on_result is not None:
                on_result(result, summary)
    summary.wall_s = time.perf_counter() - started
    return summary


def unique_pending(
    experiments: list[ExperimentConfig], done: set[str]
) -> list[ExperimentConfig]:
    """Experiments not in ``done``, each distinct config once, in grid order."""
    seen = set(done)
    pending = []
    for config in experiments:
        key = config.config_hash()
        if key not in seen:
            seen.add(key)
            pending.append(config)
    return pending


def _run_pool(
    payloads: list[dict[str, Any]], workers: int, checkpoint_dir: str | None
) -> Iterator[ExperimentResult]:
    # Spawned workers start clean: no inherited torch thread pools or locks.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_exit_quietly_on_interrupt
    ) as pool:
        futures: dict[Future, dict[str, Any]] = {
            pool.submit(
                run_experiment, payload, checkpoint_dir=checkpoint_dir, threads=1
            ): payload
            for payload in payloads
        }
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for future in finished:
                yield _result_or_failure(future, futures[future])


def _exit_quietly_on_interrupt() -> None:
    # Ctrl-C reaches every process of the terminal's process group. The
    # parent stops the sweep and keeps the store (workers never write to
    # it), so a worker exits at once instead of printing a traceback.
    signal.signal(signal.SIGINT, _exit_worker)


def _exit_worker(signum: int, frame: object) -> None:
    os._exit(130)


def _run_dask(
    payloads: list[dict[str, Any]],
    address: str,
    checkpoint_dir: str | None,
    timeout_s: float,
) -> Iterator[ExperimentResult]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ConfigurationError(
            "--scheduler needs dask.distributed; install it with "
            "pip install 'expressivity[cluster]'"
        ) from None
    try:
        client = Client(address, timeout=timeout_s)
    except (OSError, TimeoutError) as error:
        raise ConfigurationError(
            f"cannot connect to the Dask scheduler at {address!r}: {error}; "
            "start one with `dask scheduler` or check the address"
        ) from None
    with client:
        futures = client.map(
            run_experiment,
            payloads,
            checkpoint_dir=checkpoint_dir,
            threads=1,
            pure=False,
        )
        by_key = {
            future.key: payload
            for future, payload in zip(futures, payloads, strict=True)
        }
        for future in as_completed(futures):
            yield _result_or_failure(future, by_key[future.key])


def _result_or_failure(future, payload: dict[str, Any]) -> ExperimentResult:
    """Return the worker's result, or a ``failed`` result if the worker died."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - recorded, the sweep goes on
        config = ExperimentConfig.model_validate(payload)
        now = time.time()
        return ExperimentResult(
            config_hash=config.config_hash(),
            config=payload,
            status="failed",
            error=f"worker error: {type(error).__name__}: {error}",
            started_at=now,
            finished_at=now,
            versions=software_versions(),
        )
