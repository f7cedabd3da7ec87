"""Run a reproduction's sweeps into the results database and read them back.

Every reproduction is a list of sweeps run with ``run_sweep``, so the
experiments land in the SQLite results database one by one and a rerun of
the same command skips those already finished. The curves are then read back
from the database, selected by the config hashes of the current grid, so a
database shared with other sweeps (or with the other size) does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from expressivity.errors import ExpressivityError
from expressivity.experiments import (
    ExperimentConfig,
    ResultStore,
    SweepConfig,
    SweepSummary,
    run_sweep,
)
from expressivity.reproductions.verdict import ReproductionReport, VerdictRow

logger = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """How to run a reproduction.

    Attributes
    ----------
    full
        Run the paper's sizes instead of the small default.
    database
        SQLite results file; experiments finished there are skipped.
    workers
        Processes of the local pool; 0 runs in this process.
    figures
        Folder for the figures, or None to write none.
    on_start, on_result
        Progress callbacks passed to ``run_sweep``.
    """

    full: bool = False
    database: Path = Path("reproductions.sqlite")
    workers: int = 1
    figures: Path | None = None
    on_start: Callable[[SweepSummary], None] | None = None
    on_result: Callable[[Any, SweepSummary], None] | None = None


@dataclass
class StoredCurve:
    """The per-layer lengths of one experiment's first path, from the database.

    Attributes
    ----------
    config
        The experiment.
    lengths, energies
        L and E of layers 0 (the input) .. h, as arrays of length h + 1.
    bounds
        Value of each bound (by name) on the output layer's length; None
        for bounds that were not applicable.
    bound_kinds
        Kind of each bound (exact, estimate, certified, not_applicable, ...).
    """

    config: ExperimentConfig
    lengths: np.ndarray
    energies: np.ndarray
    bounds: dict[str, float | None] = field(default_factory=dict)
    bound_kinds: dict[str, str] = field(default_factory=dict)


@dataclass
class SweepOutcome:
    """Curves of the finished experiments and the errors of the failed ones."""

    curves: list[StoredCurve]
    failures: list[tuple[ExperimentConfig, str]]


def image_dataset() -> tuple[str, str]:
    """Return ``("mnist", "")``, or ``("digits", reason)`` when MNIST cannot load.

    The trajectory-length papers use MNIST images; the 8x8 digits bundled
    with scikit-learn are the offline stand-in.
    """
    from expressivity.data import load_dataset

    try:
        load_dataset("mnist", max_examples=2)
    except (ExpressivityError, OSError) as error:
        reason = (
            f"MNIST is not available ({error}); the 8x8 digits (64 features) "
            "stand in for it, so the input dimension is 64 instead of 784"
        )
        logger.warning(reason)
        return "digits", reason
    return "mnist", ""


def run_and_collect(
    sweeps: list[SweepConfig], options: RunOptions, layer_path: int = 0
) -> SweepOutcome:
    """Run ``sweeps`` into ``options.database`` and read back their curves.

    Experiments of the grid finished earlier in the database are skipped by
    ``run_sweep``; all are read back, in grid order.
    """
    for sweep in sweeps:
        run_sweep(
            sweep,
            options.database,
            workers=options.workers,
            on_start=options.on_start,
            on_result=options.on_result,
        )
    configs = [config for sweep in sweeps for config in sweep.experiments()]
    return collect_curves(options.database, configs, layer_path)


def collect_curves(
    database: Path, configs: list[ExperimentConfig], path_index: int = 0
) -> SweepOutcome:
    """Read the length curves of ``configs`` from the results database."""
    curves, failures = [], []
    with ResultStore(database) as store:
        records = {record.config_hash: record for record in store.experiments()}
        for config in configs:
            record = records.get(config.config_hash())
            if record is None:
                failures.append((config, "not in the database"))
                continue
            if record.status != "finished":
                failures.append((config, f"{record.status}: {record.error}"))
                continue
            rows = store.measurements(record.id)
            curves.append(_curve(config, rows, path_index))
    return SweepOutcome(curves, failures)


def _curve(
    config: ExperimentConfig, rows: list[dict[str, Any]], path_index: int
) -> StoredCurve:
    lengths: dict[int, float] = {}
    energies: dict[int, float] = {}
    bounds: dict[str, float | None] = {}
    kinds: dict[str, str] = {}
    last_layer = -1
    for row in rows:
        if row["path_index"] != path_index or row["epoch"] != 0:
            continue
        if row["family"] == "length" and row["name"] == "length":
            lengths[row["layer"]] = row["value"]
            last_layer = max(last_layer, row["layer"])
        elif row["family"] == "length" and row["name"] == "energy":
            energies[row["layer"]] = row["value"]
        elif row["family"] in ("bound", "certified") and row["quantity"] in (
            None,
            "length",
        ):
            bounds[(row["layer"], row["name"])] = row["value"]
            kinds[(row["layer"], row["name"])] = row["kind"]

    layers = range(last_layer + 1)
    output_bounds = {
        name: value
        for (layer, name), value in bounds.items()
        if layer in (None, last_layer)
    }
    output_kinds = {
        name: kind
        for (layer, name), kind in kinds.items()
        if layer in (None, last_layer)
    }
    return StoredCurve(
        config=config,
        lengths=np.array([lengths.get(k, np.nan) for k in layers], dtype=np.float64),
        energies=np.array([energies.get(k, np.nan) for k in layers], dtype=np.float64),
        bounds=output_bounds,
        bound_kinds=output_kinds,
    )


def describe_config(config: ExperimentConfig) -> str:
    """Short label of an experiment for failure listings."""
    network = config.network
    return (
        f"{network.activation} depth={network.depth} width={network.width} "
        f"sigma_w={network.sigma_w:g} sigma_b={network.sigma_b:g} "
        f"init={network.init} seed={config.seed} random={config.paths.random}"
    )


def start_report(
    module: ModuleType,
    kind: str,
    size_name: str,
    rows: list[VerdictRow],
    failures: list[tuple[ExperimentConfig, str]],
) -> ReproductionReport:
    """Build a report from the ``NAME``, ``TITLE`` and ``REFERENCE`` of a module."""
    return ReproductionReport(
        name=module.NAME,
        title=module.TITLE,
        reference=module.REFERENCE,
        kind=kind,
        size=size_name,
        rows=rows,
        failed_experiments=[(describe_config(c), e) for c, e in failures],
    )
