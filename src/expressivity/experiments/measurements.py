"""The measurements an experiment makes, turned into rows and arrays for the store.

Lengths and bounds come from ``expressivity.measure``. Certified bounds and
decision-region topology come from optional subpackages: when one is missing
or lacks the function used here, the measurement is recorded with kind
``unavailable`` and the reason, and the experiment goes on.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

import numpy as np
import torch

from expressivity.experiments.config import ExperimentConfig, MeasurementsConfig
from expressivity.measurement import measure
from expressivity.models import FullyConnected
from expressivity.paths import Path

if TYPE_CHECKING:
    from expressivity.experiments.experiment import ExperimentResult

logger = logging.getLogger(__name__)

LENGTH_FIELDS = ("length", "energy", "growth", "layer_ratio", "polyline", "chord")


def length_and_bounds(
    network: FullyConnected,
    path: Path,
    requested: MeasurementsConfig,
    result: ExperimentResult,
    epoch: int,
    path_index: int,
) -> None:
    """Record lengths per layer, every bound, and s(t), r(t) along the path."""
    from expressivity.experiments.experiment import Artifact, MeasurementRow

    measurement = measure(
        network,
        path,
        rtol=requested.rtol,
        bounds=requested.bounds,
        n_samples=requested.samples,
    )
    lengths = measurement.lengths
    for layer in lengths.layers:
        for name in LENGTH_FIELDS:
            if layer.index == 0 and name == "layer_ratio":
                continue
            result.rows.append(
                MeasurementRow(
                    "length",
                    name,
                    float(getattr(layer, name)),
                    epoch=epoch,
                    path_index=path_index,
                    layer=layer.index,
                    kind="exact"
                    if name in ("length", "energy", "growth")
                    else "measured",
                    reason=f"rtol {lengths.tolerance:g}, converged {lengths.converged}",
                )
            )
    if measurement.bounds is None:
        return

    for bound in measurement.bounds.bounds:
        result.rows.append(
            MeasurementRow(
                "bound",
                bound.name,
                bound.value,
                epoch=epoch,
                path_index=path_index,
                layer=bound.layer,
                quantity=bound.quantity,
                log10_value=bound.log10_value,
                kind=bound.kind,
                reason=bound.reason,
            )
        )
    profile = measurement.bounds.profile
    result.artifacts.append(
        Artifact(
            "singular_profile",
            np.stack(
                [
                    np.broadcast_to(profile.t.numpy(), profile.s.shape[1:]),
                    *profile.s.numpy(),
                    *profile.r.numpy(),
                ]
            ),
            epoch=epoch,
            path_index=path_index,
            meta={
                "rows": "t, then s(t) of layers 1..h, then r(t) of layers 1..h",
                "widths": list(profile.widths),
                "n_inputs": profile.n_inputs,
                "exact": list(profile.exact),
            },
        )
    )


def certified_bounds(
    network: FullyConnected,
    path: Path,
    result: ExperimentResult,
    epoch: int,
    path_index: int,
) -> None:
    """Record certified enclosures [lower, upper] of every layer's length and energy.

    The enclosures come from ``expressivity.certified.certified_lengths``
    (interval bound propagation over segments of the path).
    """
    from expressivity.experiments.experiment import MeasurementRow

    function, reason = _optional("expressivity.certified", "certified_lengths")
    if function is None:
        result.rows.append(
            MeasurementRow(
                "certified",
                "certified",
                None,
                epoch=epoch,
                path_index=path_index,
                kind="unavailable",
                reason=reason,
            )
        )
        return

    enclosures = function(network, path)
    reason = (
        f"gap {enclosures.gap:.3g} (target {enclosures.target_gap:.3g}), "
        f"{enclosures.n_segments} segments, converged {enclosures.converged}"
    )
    for enclosure in enclosures.enclosures:
        for name in ("lower", "upper", "energy_lower", "energy_upper"):
            result.rows.append(
                MeasurementRow(
                    "certified",
                    name if name.startswith("energy") else f"length_{name}",
                    _float_or_none(getattr(enclosure, name)),
                    epoch=epoch,
                    path_index=path_index,
                    layer=enclosure.layer,
                    kind="certified",
                    reason=reason,
                )
            )


def slice_topology(
    network: FullyConnected,
    features: torch.Tensor,
    dataset,
    config: ExperimentConfig,
    result: ExperimentResult,
    epoch: int,
) -> None:
    """Record Betti numbers per class on a plane through three examples.

    The plane passes through three examples of distinct classes drawn with
    the experiment's seed. The region images and margin persistence diagrams
    of the finest resolution are stored as arrays.
    """
    from expressivity.experiments.experiment import (
        Artifact,
        MeasurementRow,
        pick_examples,
    )

    analyze_slice, reason = _optional("expressivity.topology", "analyze_slice")
    through_points, reason_points = _optional(
        "expressivity.topology", "slice_through_points"
    )
    if analyze_slice is None or through_points is None:
        result.rows.append(
            MeasurementRow(
                "topology",
                "betti",
                None,
                epoch=epoch,
                kind="unavailable",
                reason=reason or reason_points,
            )
        )
        return

    generator = torch.Generator().manual_seed(config.seed)
    indices = pick_examples(dataset.labels, features.shape[0], 3, generator)
    plane = through_points(features[indices].numpy())
    topology = analyze_slice(
        network,
        plane,
        config.measurements.topology_resolutions,
        class_names=dataset.class_names or None,
    )
    resolution = topology.raster.resolution
    result.artifacts.append(
        Artifact(
            "region_labels",
            np.asarray(topology.raster.labels),
            epoch=epoch,
            meta={
                "resolution": resolution,
                "examples": indices,
                "bounds": np.asarray(plane.bounds).tolist(),
            },
        )
    )
    for entry in topology.classes:
        homology = entry.homology
        for dimension, betti in enumerate(homology.betti_in_box):
            result.rows.append(
                MeasurementRow(
                    "topology",
                    f"b{dimension}",
                    float(betti),
                    epoch=epoch,
                    class_index=entry.class_index,
                    kind="measured",
                    reason=f"in the box at resolution {resolution}, "
                    f"stable from {entry.stable_from}",
                )
            )
        in_box = getattr(entry.bound, "in_box", None)
        result.rows.append(
            MeasurementRow(
                "topology",
                "betti_bound",
                None if in_box is None else float(in_box),
                epoch=epoch,
                class_index=entry.class_index,
                kind="not_applicable" if in_box is None else "certified",
                reason=getattr(entry.bound, "reason", "")
                or "Milnor bound on the sum of Betti numbers in the box",
            )
        )
        if entry.diagram is not None:
            for dimension, pairs in enumerate(entry.diagram.intervals):
                result.artifacts.append(
                    Artifact(
                        "persistence",
                        np.asarray(pairs, dtype=np.float64),
                        epoch=epoch,
                        class_index=entry.class_index,
                        meta={"dimension": dimension, "class_name": entry.class_name},
                    )
                )


def _optional(module_name: str, function_name: str):
    """Return (function, "") or (None, the reason it is unavailable)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return None, f"{module_name} is not installed or failed to import: {error}"
    function = getattr(module, function_name, None)
    if function is None:
        return None, f"{module_name} has no function {function_name}"
    return function, ""


def _float_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
