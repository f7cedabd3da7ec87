"""One measurement: lengths and bounds of one path through one network."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from expressivity.bounds import BoundsResult, evaluate_bounds
from expressivity.length import LengthResult, trajectory_lengths
from expressivity.models import LayeredModel
from expressivity.paths import Path

logger = logging.getLogger(__name__)


@dataclass
class Measurement:
    """Lengths through every layer and every bound, on the same path.

    ``to_dict`` gives the JSON layout: ``network``, ``path``,
    ``input_length``, ``layers`` (``index``, ``name``, ``width``, ``length``,
    ``growth``, ...), ``bounds`` (``name``, ``layer``, ``quantity``,
    ``value``, ``kind``, ``reason``, ...), ``tolerance`` and
    ``error_estimate``.
    """

    lengths: LengthResult
    bounds: BoundsResult | None
    network: dict[str, Any] = field(default_factory=dict)
    path: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "network": self.network,
            "path": self.path,
            "input_length": self.lengths.input_length,
            "input_energy": self.lengths.layers[0].energy,
            "tolerance": self.lengths.tolerance,
            "error_estimate": self.lengths.error_estimate,
            "converged": self.lengths.converged,
            "n_evaluations": self.lengths.n_evaluations,
            "n_polyline_points": self.lengths.n_polyline_points,
            "layers": [layer.to_dict() for layer in self.lengths.layers[1:]],
            "bounds": [],
        }
        if self.bounds is not None:
            payload["bounds"] = [bound.to_dict() for bound in self.bounds.bounds]
            payload["n_samples"] = self.bounds.n_samples
            payload["singular_value_methods"] = self.bounds.profile.methods
            payload["product_bounds"] = (
                "available"
                if self.bounds.layerwise is not None
                else f"not available for this model: {self.bounds.chain_reason}"
            )
        return payload


def measure(
    model: nn.Module | LayeredModel,
    path: Path,
    *,
    rtol: float = 1e-6,
    bounds: bool = True,
    n_samples: int = 257,
    bounds_rtol: float = 1e-4,
    n_polyline_points: int = 1000,
    network_description: dict[str, Any] | None = None,
) -> Measurement:
    """Measure lengths through every layer and evaluate every bound.

    Parameters
    ----------
    model
        Any module; chain-structured networks report every hidden layer and
        the per-layer product bounds.
    path
        The input curve.
    rtol
        Relative tolerance of the length quadrature.
    bounds
        Whether to evaluate the bounds as well.
    n_samples
        Samples per smooth piece of the path for sampled sups and infs.
    bounds_rtol
        Relative tolerance of the U1 and L1 integrals.
    n_polyline_points
        Points per smooth piece for the polyline lower bound.
    network_description
        JSON-ready description of the network to store with the result.
    """
    layered = model if isinstance(model, LayeredModel) else LayeredModel(model)
    logger.info("measuring lengths through %d layers", len(layered.names))
    lengths = trajectory_lengths(
        layered, path, rtol=rtol, n_polyline_points=n_polyline_points
    )
    bounds_result = None
    if bounds:
        logger.info("evaluating bounds on %d samples per piece", n_samples)
        bounds_result = evaluate_bounds(
            layered, path, lengths, n_samples=n_samples, rtol=bounds_rtol
        )
    return Measurement(
        lengths=lengths,
        bounds=bounds_result,
        network=network_description or {"type": type(model).__name__},
        path=path.describe(),
    )
