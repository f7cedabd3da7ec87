"""Certified length enclosures stored in the results database.

The experiment runner records certified bounds through a function
``expressivity.certified.certified_bounds``, which the certified package does
not define (it provides ``certified_lengths``), so its rows come out as
``unavailable``. This adapter calls ``certified_lengths`` on the networks of a
sweep and writes the enclosure into the same database as an experiment of its
own, keyed by the sweep config renamed with a ``-certified`` suffix, so a rerun
skips it like any finished experiment.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from expressivity.errors import ExpressivityError
from expressivity.experiments import (
    ExperimentConfig,
    ExperimentResult,
    MeasurementRow,
    ResultStore,
    build_paths,
    load_data_and_network,
)
from expressivity.models import FullyConnected
from expressivity.paths import Path as CurvePath

if TYPE_CHECKING:
    from expressivity.reproductions.quadratic import Sizes

logger = logging.getLogger(__name__)

GAP = 0.05
MAX_EVALUATIONS = 20_000


@dataclass(frozen=True)
class CertifiedOutcome:
    """Enclosure [lower, upper] of the output length and the measured length."""

    label: str
    measured: float
    lower: float | None
    upper: float | None
    reason: str = ""


def network_and_path(config: ExperimentConfig) -> tuple[FullyConnected, CurvePath]:
    """Rebuild an untrained experiment's network and first path, as the runner does."""
    dataset, network = load_data_and_network(config)
    features = dataset.features.to(torch.float64)
    paths = build_paths(features, dataset.labels, config.paths, config.seed)
    return network, paths[0]


def certified_enclosures(sizes: Sizes, database: Path) -> list[CertifiedOutcome]:
    """Enclose the output length of each activation and sigma_w at the first seed.

    The networks have depth ``sizes.certified_max_depth``; enclosures already
    in the database are read back instead of recomputed.
    """
    from expressivity.reproductions.quadratic import sweeps

    outcomes = []
    for sweep in sweeps(sizes, "certified"):
        for config in sweep.experiments():
            if (
                config.network.depth != sizes.certified_max_depth
                or config.seed != sizes.seeds[0]
            ):
                continue
            outcomes.append(_enclosure(config, database))
    return outcomes


def _enclosure(config: ExperimentConfig, database: Path) -> CertifiedOutcome:
    from expressivity.reproductions.quadratic import activation_label

    network = config.network
    activation = activation_label(network.activation, tuple(network.coefficients))
    label = f"{activation} sigma_w={network.sigma_w:g} depth {network.depth}"
    keyed = config.model_copy(update={"name": config.name + "-certified"})
    with ResultStore(database) as store:
        stored = _read(store, keyed.config_hash())
        if stored is None:
            stored = _compute(keyed, config)
            store.write(stored, sweep=keyed.name)
    values = {row.name: row.value for row in stored.rows}
    if stored.status != "finished":
        return CertifiedOutcome(label, float("nan"), None, None, stored.error)
    return CertifiedOutcome(
        label, values["measured"], values["length_lower"], values["length_upper"]
    )


def _read(store: ResultStore, config_hash: str) -> ExperimentResult | None:
    for record in store.experiments():
        if record.config_hash != config_hash:
            continue
        rows = [
            MeasurementRow(family=row["family"], name=row["name"], value=row["value"])
            for row in store.measurements(record.id)
        ]
        return ExperimentResult(
            config_hash=config_hash,
            config=record.config,
            status=record.status,
            error=record.error,
            rows=rows,
        )
    return None


def _compute(keyed: ExperimentConfig, config: ExperimentConfig) -> ExperimentResult:
    from expressivity.certified import certified_lengths
    from expressivity.length import trajectory_lengths

    result = ExperimentResult(
        config_hash=keyed.config_hash(),
        config=keyed.model_dump(mode="json"),
        started_at=time.time(),
    )
    try:
        network, path = network_and_path(config)
        measured = trajectory_lengths(network, path, rtol=1e-8).output_length
        enclosure = certified_lengths(
            network, path, gap=GAP, max_evaluations=MAX_EVALUATIONS
        )
        output = enclosure.enclosures[-1]
        for name, value in (
            ("measured", measured),
            ("length_lower", output.lower),
            ("length_upper", output.upper),
            ("gap", enclosure.gap),
        ):
            result.rows.append(
                MeasurementRow(
                    "certified",
                    name,
                    float(value),
                    layer=network.depth,
                    kind="certified" if name != "measured" else "exact",
                    reason=f"target gap {GAP}, {enclosure.n_evaluations} propagations",
                )
            )
    except (ExpressivityError, ValueError, RuntimeError) as error:
        logger.warning("certified enclosure of %s failed: %s", keyed.name, error)
        result.status = "failed"
        result.error = f"{type(error).__name__}: {error}"
    result.finished_at = time.time()
    return result
