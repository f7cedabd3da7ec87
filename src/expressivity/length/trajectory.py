"""Trajectory length and energy of a path through every layer of a network.

For a curve c(t), t in [0, 1]:

    length  L(c) = integral_0^1 ||c'(t)|| dt
    energy  E(c) = integral_0^1 ||c'(t)||^2 dt

The image of the input path x(t) under the first k layers has derivative
J_k(x(t)) x'(t), computed exactly by forward-mode autodiff, so both integrals
are computed by adaptive quadrature of exact integrands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from expressivity.errors import ConfigurationError, NumericalError
from expressivity.length.quadrature import integrate
from expressivity.length.speed import layer_speeds, layer_values
from expressivity.models import LayeredModel
from expressivity.paths import Path

logger = logging.getLogger(__name__)

# Smallest relative tolerance accepted: the Gauss-Kronrod error estimate of a
# float64 integrand stalls at a few hundred ulps (about 1e-14 relative), so a
# smaller request only exhausts the evaluation budget.
MIN_RTOL = 1e-14


@dataclass
class LayerLength:
    """Length and energy of the path's image after one layer.

    Attributes
    ----------
    index
        0 for the input, k for the output of the k-th layer.
    name
        ``input`` or the layer's name in the model.
    width
        Dimension of the layer's output (None when the model does not say).
    length, energy
        Integrals of the exact speed and its square.
    length_error, energy_error
        Quadrature error estimates (absolute).
    growth
        L(z(k)) / L(x), the cumulative growth since the input.
    layer_ratio
        L(z(k)) / L(z(k-1)), the growth of this layer alone.
    polyline
        Sum of chord lengths through the polyline points: a lower bound.
    polyline_energy
        Sum of ||chord||^2 / dt, a lower bound on the energy by the
        Cauchy-Schwarz inequality on each piece.
    chord
        ||z(k)(x(1)) - z(k)(x(0))||, a lower bound on the length.
    """

    index: int
    name: str
    width: int | None
    length: float
    energy: float
    length_error: float
    energy_error: float
    growth: float
    layer_ratio: float
    polyline: float
    polyline_energy: float
    chord: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class LengthResult:
    """Length and energy through every layer, with the quadrature's accounting."""

    layers: list[LayerLength]
    tolerance: float
    converged: bool
    n_evaluations: int
    n_intervals: int
    n_polyline_points: int
    names: list[str] = field(default_factory=list)

    @property
    def input_length(self) -> float:
        return self.layers[0].length

    @property
    def output_length(self) -> float:
        return self.layers[-1].length

    @property
    def error_estimate(self) -> float:
        """Largest relative length error estimate over the layers."""
        return max(
            layer.length_error / layer.length if layer.length > 0 else 0.0
            for layer in self.layers
        )


def trajectory_lengths(
    model: nn.Module | LayeredModel,
    path: Path,
    *,
    rtol: float = 1e-6,
    n_polyline_points: int = 1000,
    max_evaluations: int = 2_000_000,
) -> LengthResult:
    """Measure the length and energy of the path's image after every layer.

    Parameters
    ----------
    model
        Any module mapping (n_points, n) to (n_points, m). Networks with a
        chain structure (``FullyConnected``, ``nn.Sequential`` of Linear
        layers and activations) report every hidden layer too.
    path
        Input curve; its dimension must match the model's input.
    rtol
        Relative tolerance of the adaptive quadrature, for every layer's
        length and energy.
    n_polyline_points
        Points per smooth piece of the path for the polyline lower bound.
    max_evaluations
        Budget of path points for the quadrature.

    Returns
    -------
    LengthResult
        One ``LayerLength`` per layer, the input first.

    Raises
    ------
    NumericalError
        When a layer's output or its derivative is not finite, naming it.
    """
    layered = model if isinstance(model, LayeredModel) else LayeredModel(model)
    _check_dimensions(layered, path)
    if not rtol >= MIN_RTOL:
        raise ConfigurationError(
            f"tolerance {rtol} is invalid; give a relative tolerance of at least "
            f"{MIN_RTOL:g}, the resolution of float64 quadrature"
        )
    if n_polyline_points < 2:
        raise ConfigurationError(
            f"n_polyline_points must be >= 2, got {n_polyline_points}"
        )

    def integrand(t: torch.Tensor) -> torch.Tensor:
        speeds = layer_speeds(layered, path, t)
        return torch.cat([speeds, speeds**2])

    quadrature = integrate(
        integrand, path.breakpoints, rtol=rtol, max_evaluations=max_evaluations
    )
    n_rows = len(layered.names) + 1
    polyline, polyline_energy, chord = polyline_lengths(
        layered, path, n_polyline_points
    )

    # A polyline is never longer than the curve, so a polyline above the
    # quadrature value means that the Gauss-Kronrod nodes missed a feature of
    # the speed. A narrow bump between two kinks of a ReLU or hard tanh unit
    # gives the same wrong value at both orders, so its error estimate is zero,
    # and a jump of the speed inside the last 0.4 % of an interval (outside the
    # outermost Kronrod nodes) is missed the same way. Integrating again from
    # the polyline's partition, then from 16 and 256 times finer ones, puts
    # nodes in every polyline piece.
    for refinement in (1, 16, 256):
        if not _misses_polyline(quadrature.values[:n_rows], polyline, rtol):
            break
        n_parameters = n_polyline_points * refinement
        partition = polyline_parameters(path, n_parameters).tolist()
        # 15 Kronrod nodes per interval of the partition, before any bisection.
        if 15 * (len(partition) - 1) > max_evaluations - quadrature.n_evaluations:
            logger.warning(
                "quadrature fell below the polyline lower bound and a "
                "%d-point partition exceeds the evaluation budget; the error "
                "estimate is widened to cover the gap",
                n_parameters,
            )
            break
        logger.warning(
            "quadrature fell below the polyline lower bound; integrating again "
            "from a %d-point partition of each path piece",
            n_parameters,
        )
        previous = quadrature.n_evaluations
        quadrature = integrate(
            integrand,
            partition,
            rtol=rtol,
            initial_pieces=1,
            max_evaluations=max_evaluations,
        )
        quadrature.n_evaluations += previous
    shortfall = polyline.to(quadrature.values.dtype) - quadrature.values[:n_rows]
    if bool(torch.any(shortfall > 0)):
        # The remaining gap is a known part of the error: widen the estimate
        # so that [length - error, length + error] contains the polyline.
        quadrature.errors[:n_rows] = torch.maximum(
            quadrature.errors[:n_rows], shortfall.clamp(min=0)
        )

    lengths = quadrature.values[:n_rows]
    energies = quadrature.values[n_rows:]
    _check_integrals_finite(lengths, energies, ["input", *layered.names])
    length_errors = quadrature.errors[:n_rows]
    energy_errors = quadrature.errors[n_rows:]
    logger.info(
        "quadrature: %d evaluations, %d intervals",
        quadrature.n_evaluations,
        quadrature.n_intervals,
    )

    names = ["input", *layered.names]
    widths = [path.dim, *layered.widths[1:]]
    if None in widths:
        # A module without a readable chain reports its output width only
        # once it has run, so read it off one evaluation.
        start = torch.tensor([path.breakpoints[0]], dtype=layered.dtype)
        with torch.no_grad():
            first = layered.outputs(path.position(start))
        widths = [path.dim, *(output.shape[-1] for output in first)]
    layers = []
    for index in range(n_rows):
        length = float(lengths[index])
        previous = float(lengths[index - 1]) if index > 0 else length
        layers.append(
            LayerLength(
                index=index,
                name=names[index],
                width=widths[index],
                length=length,
                energy=float(energies[index]),
                length_error=float(length_errors[index]),
                energy_error=float(energy_errors[index]),
                growth=_ratio(length, float(lengths[0])),
                layer_ratio=_ratio(length, previous),
                polyline=float(polyline[index]),
                polyline_energy=float(polyline_energy[index]),
                chord=float(chord[index]),
            )
        )
    return LengthResult(
        layers=layers,
        tolerance=rtol,
        converged=quadrature.converged,
        n_evaluations=quadrature.n_evaluations,
        n_intervals=quadrature.n_intervals,
        n_polyline_points=n_polyline_points,
        names=names,
    )


def polyline_lengths(
    model: nn.Module | LayeredModel, path: Path, n_points: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return polyline length, polyline energy and chord per layer (input first).

    The polyline passes through ``n_points`` equally spaced parameters on
    each smooth piece of the path, breakpoints included. A chord is never
    longer than the arc it spans, so the polyline length is a lower bound on
    the length; ||chord||^2 / dt <= integral over the piece of ||c'||^2 by the
    Cauchy-Schwarz inequality, so the polyline energy is a lower bound on the
    energy.
    """
    layered = model if isinstance(model, LayeredModel) else LayeredModel(model)
    t = polyline_parameters(path, n_points)
    values = layer_values(layered, path, t)
    dt = (t[1:] - t[:-1]).to(torch.float64)
    polyline, energy, chord = [], [], []
    for value in values:
        value = value.to(torch.float64)
        steps = torch.linalg.vector_norm(value[1:] - value[:-1], dim=1)
        polyline.append(steps.sum())
        energy.append((steps**2 / dt).sum())
        chord.append(torch.linalg.vector_norm(value[-1] - value[0]))
    return torch.stack(polyline), torch.stack(energy), torch.stack(chord)


def polyline_parameters(path: Path, n_points: int) -> torch.Tensor:
    """Return n_points equally spaced parameters per smooth piece, shared ends once."""
    edges = path.breakpoints
    pieces = [
        torch.linspace(lo, hi, n_points, dtype=torch.float64)[:-1]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return torch.cat([*pieces, torch.tensor([edges[-1]], dtype=torch.float64)])


def _check_integrals_finite(
    lengths: torch.Tensor, energies: torch.Tensor, names: list[str]
) -> None:
    """Raise NumericalError naming the first layer whose integral overflowed.

    Finite speeds can still give an infinite integral: ||v|| overflows for
    entries near the float64 maximum and the energy integrand ||v||^2 already
    for speeds above about 1e154.
    """
    for index, (length, energy) in enumerate(zip(lengths, energies, strict=True)):
        for quantity, value in (("length", length), ("energy", energy)):
            if not bool(torch.isfinite(value)):
                raise NumericalError(
                    f"non-finite {quantity} at layer {index} ({names[index]}): "
                    f"the integral overflowed to {float(value)}. Use float64 "
                    "(--dtype float64), a smaller sigma_w, or a shorter path",
                    layer=index,
                )


def _misses_polyline(
    lengths: torch.Tensor, polyline: torch.Tensor, rtol: float
) -> bool:
    """Check whether some layer's polyline exceeds its quadrature length."""
    slack = 2 * rtol * lengths.abs() + 1e-12 * lengths.abs().max()
    return bool(torch.any(polyline.to(lengths.dtype) > lengths + slack))


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def _check_dimensions(layered: LayeredModel, path: Path) -> None:
    expected = layered.widths[0]
    if expected is not None and expected != path.dim:
        raise ConfigurationError(
            f"the path has dimension {path.dim} but the network takes inputs of "
            f"dimension {expected}; build the path in the network's input space"
        )
