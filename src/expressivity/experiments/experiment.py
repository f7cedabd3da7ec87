"""Run one experiment: build the data, network and paths, train, measure.

``run_experiment`` catches any exception raised while the experiment runs
(loading data, building, training, measuring) and returns an
``ExperimentResult`` with status ``failed`` and the error, so that one bad
grid point is recorded and the sweep goes on. Results are plain
dataclasses of numbers, strings and NumPy arrays, cheap to send from a worker
process or a Dask worker back to the driver.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch

from expressivity.experiments.config import ExperimentConfig, PathsConfig
from expressivity.experiments.training import DataSplit, split_dataset, train_network
from expressivity.models import FullyConnected, NetworkSpec, build_network, save_network
from expressivity.paths import (
    LineSegment,
    Path,
    circle_through,
    ellipse_through,
    polyline_through,
    random_circle,
    random_line,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeasurementRow:
    """One number: per layer, per bound or per class, at one epoch and path.

    Attributes
    ----------
    family
        ``length``, ``bound``, ``topology``, ``certified`` or ``training``.
    name
        What was measured: ``length``, ``growth``, ``U2``, ``b1``, ``loss``, ...
    epoch
        Training epoch, 0 for the initialisation (and untrained networks).
    path_index, layer, class_index
        Which path, layer (0 is the input) and class, or None.
    quantity
        ``length`` or ``energy`` for bounds, else None.
    kind
        ``exact``, ``estimate``, ``certified``, ``not_applicable``,
        ``unavailable`` or ``measured``.
    """

    family: str
    name: str
    value: float | None
    epoch: int = 0
    path_index: int | None = None
    layer: int | None = None
    class_index: int | None = None
    quantity: str | None = None
    log10_value: float | None = None
    kind: str = "measured"
    reason: str = ""


@dataclass(frozen=True)
class Artifact:
    """An array that belongs to one experiment, for example s(t) or a raster."""

    name: str
    array: np.ndarray
    epoch: int = 0
    path_index: int | None = None
    layer: int | None = None
    class_index: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExperimentResult:
    """Everything one experiment produced, ready for the results store."""

    config_hash: str
    config: dict[str, Any]
    status: str = "finished"
    error: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    worker: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    rows: list[MeasurementRow] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.finished_at - self.started_at


def software_versions() -> dict[str, str]:
    """Versions of the software that determine the numbers."""
    import expressivity

    return {
        "expressivity": expressivity.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def run_experiment(
    config: ExperimentConfig | dict[str, Any],
    *,
    checkpoint_dir: str | None = None,
    threads: int | None = None,
) -> ExperimentResult:
    """Run one experiment and return its result; failures become status ``failed``.

    Parameters
    ----------
    config
        The experiment, validated or as its JSON mapping.
    checkpoint_dir
        Folder for the safetensors checkpoints of trained networks (a
        subfolder named by the config hash is created); None saves none.
    threads
        Torch intra-op threads in this process; parallel workers set 1 so
        that they do not oversubscribe the cores.
    """
    if not isinstance(config, ExperimentConfig):
        config = ExperimentConfig.model_validate(config)
    if threads is not None:
        torch.set_num_threads(threads)
    result = ExperimentResult(
        config_hash=config.config_hash(),
        config=config.model_dump(mode="json"),
        started_at=time.time(),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        versions=software_versions(),
    )
    try:
        _run(config, result, checkpoint_dir)
    except Exception as error:  # noqa: BLE001 - recorded, the sweep goes on
        result.status = "failed"
        result.error = f"{type(error).__name__}: {error}"
        logger.warning(
            "experiment %s failed: %s\n%s",
            result.config_hash[:12],
            result.error,
            traceback.format_exc(),
        )
    result.finished_at = time.time()
    return result


def load_data_and_network(config: ExperimentConfig):
    """Load the experiment's dataset and build its untrained network."""
    from expressivity.data import load_dataset

    options = config.dataset_options
    dataset = load_dataset(
        config.dataset, split=options.split, max_examples=options.max_examples
    )
    n_classes = len(dataset.class_names) if dataset.labels is not None else None
    network = build_network(
        NetworkSpec(
            widths=config.network.layer_widths(dataset.n_features, n_classes),
            activation=config.network.activation,
            coefficients=tuple(config.network.coefficients),
            bias=config.network.bias,
            init=config.network.init,
            sigma_w=config.network.sigma_w,
            sigma_b=config.network.sigma_b,
            seed=config.seed,
            dtype=config.network.dtype,
        )
    )
    return dataset, network


def _run(config: ExperimentConfig, result: ExperimentResult, checkpoint_dir) -> None:
    dataset, network = load_data_and_network(config)
    dtype = network.linears[0].weight.dtype
    features = dataset.features.to(torch.float64)

    if config.training is None:
        paths = build_paths(features, dataset.labels, config.paths, config.seed)
        measure_network(network, paths, config, result, 0, features, dataset)
        return

    recipe = config.training
    split = split_dataset(
        features,
        dataset.labels,
        test_fraction=recipe.test_fraction,
        seed=config.seed,
        normalize=recipe.normalize_inputs,
        dtype=dtype,
    )
    # Paths and slices live in the standardised input space the network receives.
    inputs = split.transform(features.to(dtype)).to(torch.float64)
    paths = build_paths(inputs, dataset.labels, config.paths, config.seed)
    folder = None
    if checkpoint_dir is not None:
        folder = FilePath(checkpoint_dir) / result.config_hash[:16]
        folder.mkdir(parents=True, exist_ok=True)

    def at_epoch(epoch: int) -> None:
        if folder is not None:
            checkpoint = folder / f"epoch_{epoch:04d}.safetensors"
            save_network(network, checkpoint)
            result.artifacts.append(
                Artifact(
                    "checkpoint", np.zeros(0), epoch, meta={"file": str(checkpoint)}
                )
            )
        measure_network(network, paths, config, result, epoch, inputs, dataset)

    training = train_network(
        network, split, recipe, seed=config.seed, on_epoch=at_epoch
    )
    result.rows.extend(_training_rows(training.history, split))
    if training.status == "diverged":
        result.status = "diverged"
        result.error = training.message


def _training_rows(history, split: DataSplit) -> list[MeasurementRow]:
    rows = []
    for record in history:
        for name in ("loss", "train_accuracy", "test_accuracy"):
            value = getattr(record, name)
            rows.append(
                MeasurementRow(
                    "training",
                    name,
                    None if np.isnan(value) else value,
                    epoch=record.epoch,
                    reason=f"{split.train_labels.numel()} training and "
                    f"{split.test_labels.numel()} test examples",
                )
            )
    return rows


def build_paths(
    features: torch.Tensor,
    labels: torch.Tensor | None,
    paths: PathsConfig,
    seed: int,
) -> list[Path]:
    """Build ``paths.count`` paths; path i draws its examples with seed + i.

    Paths through examples pass through examples of distinct classes where
    the labels allow it.
    """
    built = []
    for index in range(paths.count):
        generator = torch.Generator().manual_seed(seed + index)
        built.append(_one_path(features, labels, paths, generator))
    return built


def _one_path(features, labels, paths: PathsConfig, generator) -> Path:
    dim = features.shape[1]
    if paths.random:
        if paths.kind == "line":
            return random_line(dim, generator=generator)
        if paths.kind in ("circle", "ellipse"):
            return random_circle(dim, generator=generator)
        points = torch.randn(
            paths.n_points, dim, generator=generator, dtype=torch.float64
        )
        return polyline_through(points, closed=True)

    needed = paths.n_points if paths.kind == "polyline" else 2
    points = features[pick_examples(labels, features.shape[0], needed, generator)]
    if paths.kind == "circle":
        return circle_through(points[0], points[1], generator=generator)
    if paths.kind == "ellipse":
        return ellipse_through(points[0], points[1])
    if paths.kind == "line":
        return LineSegment(points[0], points[1])
    return polyline_through(points, closed=True)


def pick_examples(
    labels: torch.Tensor | None, n_examples: int, needed: int, generator
) -> list[int]:
    """Draw ``needed`` example indices, of distinct classes while classes remain."""
    order = torch.randperm(n_examples, generator=generator).tolist()
    if labels is None:
        return order[:needed]
    chosen, seen = [], set()
    for index in order:
        label = int(labels[index])
        if label not in seen:
            chosen.append(index)
            seen.add(label)
        if len(chosen) == needed:
            return chosen
    rest = [i for i in order if i not in chosen]
    return chosen + rest[: needed - len(chosen)]


def measure_network(
    network: FullyConnected,
    paths: list[Path],
    config: ExperimentConfig,
    result: ExperimentResult,
    epoch: int,
    features: torch.Tensor,
    dataset,
) -> None:
    """Append the configured measurements of ``network`` at ``epoch`` to ``result``."""
    from expressivity.experiments import measurements

    requested = config.measurements
    for index, path in enumerate(paths):
        if requested.length:
            measurements.length_and_bounds(
                network, path, requested, result, epoch, index
            )
        if requested.certified:
            measurements.certified_bounds(network, path, result, epoch, index)
    if requested.topology:
        measurements.slice_topology(network, features, dataset, config, result, epoch)
