"""Paths built from data points or from random directions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from expressivity.errors import ConfigurationError
from expressivity.paths.curves import EllipseArc, LineSegment, Polyline

PATH_KINDS = ("circle", "ellipse", "line", "polyline")


def circle_through(
    first: torch.Tensor,
    second: torch.Tensor,
    direction: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> EllipseArc:
    """Return the full circle with diameter [first, second].

    The circle is centred at the midpoint and lies in the plane spanned by
    ``second - first`` and ``direction`` (orthogonalised against it). Without
    a direction, the midpoint itself is used when it is not parallel to the
    diameter, otherwise a random direction drawn from ``generator``.
    """
    first = torch.as_tensor(first, dtype=torch.float64)
    second = torch.as_tensor(second, dtype=torch.float64)
    half = (second - first) / 2
    radius = float(torch.linalg.vector_norm(half))
    if radius == 0.0:
        raise ConfigurationError(
            "the two points of the circle coincide; pick two different points"
        )
    centre = (first + second) / 2

    unit = half / radius
    candidates = [] if direction is None else [torch.as_tensor(direction).double()]
    candidates.append(centre)
    for candidate in candidates:
        orthogonal = candidate - (candidate @ unit) * unit
        norm = float(torch.linalg.vector_norm(orthogonal))
        if norm > 1e-8 * max(1.0, float(torch.linalg.vector_norm(candidate))):
            break
    else:
        orthogonal = _random_orthogonal(unit, generator)
        norm = float(torch.linalg.vector_norm(orthogonal))
    b = orthogonal / norm * radius

    # theta = pi at t = 0 gives x(0) = first, theta = 2 pi gives second.
    return EllipseArc(centre, half, b, math.pi, 3 * math.pi)


def _random_orthogonal(
    unit: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    if unit.numel() < 2:
        raise ConfigurationError("a circle needs an input space of dimension >= 2")
    while True:
        candidate = torch.randn(unit.numel(), generator=generator, dtype=torch.float64)
        orthogonal = candidate - (candidate @ unit) * unit
        if float(torch.linalg.vector_norm(orthogonal)) > 1e-6:
            return orthogonal


def ellipse_through(first: torch.Tensor, second: torch.Tensor) -> EllipseArc:
    """Return the closed curve x(theta) = first cos(theta) + second sin(theta).

    This is the trajectory of Raghu et al., "On the Expressive Power of Deep
    Neural Networks", ICML 2017: an ellipse about the origin through both
    points, a circle when they are orthogonal with equal norms.
    """
    first = torch.as_tensor(first, dtype=torch.float64)
    return EllipseArc(torch.zeros_like(first), first, second)


def random_circle(
    dim: int,
    radius: float = 1.0,
    centre: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> EllipseArc:
    """Return a circle of ``radius`` in a random plane through ``centre``."""
    if dim < 2:
        raise ConfigurationError(f"a circle needs dimension >= 2, got {dim}")
    if not radius > 0:
        raise ConfigurationError(f"radius must be > 0, got {radius}")
    basis, _ = torch.linalg.qr(
        torch.randn(dim, 2, generator=generator, dtype=torch.float64)
    )
    centre = torch.zeros(dim, dtype=torch.float64) if centre is None else centre
    return EllipseArc(centre, radius * basis[:, 0], radius * basis[:, 1])


def random_line(
    dim: int, length: float = 1.0, generator: torch.Generator | None = None
) -> LineSegment:
    """Return a segment of ``length`` through the origin in a random direction."""
    if not length > 0:
        raise ConfigurationError(f"length must be > 0, got {length}")
    direction = torch.randn(dim, generator=generator, dtype=torch.float64)
    direction = direction / torch.linalg.vector_norm(direction) * (length / 2)
    return LineSegment(-direction, direction)


def polyline_through(points: Sequence | torch.Tensor, closed: bool = False) -> Polyline:
    """Return the polyline through ``points`` (shape (k, n)), optionally closed."""
    return Polyline(torch.as_tensor(points, dtype=torch.float64), closed)
