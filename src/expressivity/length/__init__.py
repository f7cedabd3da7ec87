"""Trajectory length and energy through every layer."""

from expressivity.length.quadrature import QuadratureResult, integrate
from expressivity.length.speed import (
    layer_speeds,
    layer_values,
    layer_values_and_velocities,
)
from expressivity.length.trajectory import (
    LayerLength,
    LengthResult,
    polyline_lengths,
    polyline_parameters,
    trajectory_lengths,
)

__all__ = [
    "LayerLength",
    "LengthResult",
    "QuadratureResult",
    "integrate",
    "layer_speeds",
    "layer_values",
    "layer_values_and_velocities",
    "polyline_lengths",
    "polyline_parameters",
    "trajectory_lengths",
]
