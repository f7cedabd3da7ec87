"""Trajectories: C^1 (or piecewise C^1) curves x: [0, 1] -> R^n with exact derivatives.

Every path evaluates its position and its derivative at a batch of parameters
t, and lists its breakpoints: the parameters where the derivative may jump.
Integration over a path restarts at each breakpoint, so quadrature never
straddles a corner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from expressivity.errors import ConfigurationError


class Path:
    """A curve x(t), t in [0, 1], in R^n with its derivative x'(t).

    Subclasses implement ``position`` and ``velocity`` for a tensor t of shape
    (n_points,), returning tensors of shape (n_points, n).
    """

    kind: str = "path"

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @property
    def breakpoints(self) -> tuple[float, ...]:
        """Sorted parameters 0 = t_0 < ... < t_p = 1 between smooth pieces."""
        return (0.0, 1.0)

    @property
    def closed(self) -> bool:
        return False

    def position(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def velocity(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def exact_length(self) -> float | None:
        """Closed-form length of the path itself, or None when there is none."""
        return None

    def describe(self) -> dict:
        """JSON-ready description: kind, dimension and defining parameters."""
        return {"kind": self.kind, "dim": self.dim, "closed": self.closed}


def _as_vector(value: torch.Tensor | Sequence[float], name: str) -> torch.Tensor:
    vector = torch.as_tensor(value, dtype=torch.float64).detach().clone()
    if vector.ndim != 1:
        raise ConfigurationError(
            f"{name} must be a vector of shape (n,), got shape {tuple(vector.shape)}"
        )
    if not torch.all(torch.isfinite(vector)):
        raise ConfigurationError(f"{name} has non-finite entries")
    return vector


@dataclass
class LineSegment(Path):
    """The segment x(t) = start + t (end - start)."""

    start: torch.Tensor
    end: torch.Tensor
    kind: str = field(default="line", init=False)

    def __post_init__(self) -> None:
        self.start = _as_vector(self.start, "start")
        self.end = _as_vector(self.end, "end")
        if self.start.shape != self.end.shape:
            raise ConfigurationError(
                f"start has dimension {self.start.numel()} but end has "
                f"{self.end.numel()}; both points need the same dimension"
            )

    @property
    def dim(self) -> int:
        return self.start.numel()

    def position(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(torch.float64)[:, None]
        return self.start + t * (self.end - self.start)

    def velocity(self, t: torch.Tensor) -> torch.Tensor:
        return (self.end - self.start).expand(t.shape[0], -1).clone()

    def exact_length(self) -> float:
        return float(torch.linalg.vector_norm(self.end - self.start))

    def describe(self) -> dict:
        return {**super().describe(), "length": self.exact_length()}


@dataclass
class EllipseArc(Path):
    """The arc x(t) = centre + a cos(theta(t)) + b sin(theta(t)).

    theta(t) = theta_start + t (theta_end - theta_start). With a and b
    orthogonal and of equal norm r this is an arc of the circle of radius r
    about ``centre`` in the plane span(a, b); the full turn is
    theta_end - theta_start = 2 pi.
    """

    centre: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    theta_start: float = 0.0
    theta_end: float = 2.0 * math.pi
    kind: str = field(default="ellipse", init=False)

    def __post_init__(self) -> None:
        self.centre = _as_vector(self.centre, "centre")
        self.a = _as_vector(self.a, "a")
        self.b = _as_vector(self.b, "b")
        if not (self.centre.shape == self.a.shape == self.b.shape):
            raise ConfigurationError(
                "centre, a and b need the same dimension, got "
                f"{self.centre.numel()}, {self.a.numel()} and {self.b.numel()}"
            )
        if not (math.isfinite(self.theta_start) and math.isfinite(self.theta_end)):
            raise ConfigurationError("theta_start and theta_end must be finite")
        if self.theta_start == self.theta_end:
            raise ConfigurationError(
                f"theta_start = theta_end = {self.theta_start}: the arc is a point"
            )

    @property
    def dim(self) -> int:
        return self.centre.numel()

    @property
    def closed(self) -> bool:
        return math.isclose(abs(self.theta_end - self.theta_start), 2 * math.pi)

    @property
    def is_circle(self) -> bool:
        norm_a = float(torch.linalg.vector_norm(self.a))
        norm_b = float(torch.linalg.vector_norm(self.b))
        inner = float(self.a @ self.b)
        scale = max(norm_a, norm_b, 1e-300)
        return abs(norm_a - norm_b) <= 1e-12 * scale and abs(inner) <= 1e-12 * scale**2

    def theta(self, t: torch.Tensor) -> torch.Tensor:
        return self.theta_start + t.to(torch.float64) * (
            self.theta_end - self.theta_start
        )

    def position(self, t: torch.Tensor) -> torch.Tensor:
        theta = self.theta(t)[:, None]
        return self.centre + torch.cos(theta) * self.a + torch.sin(theta) * self.b

    def velocity(self, t: torch.Tensor) -> torch.Tensor:
        theta = self.theta(t)[:, None]
        rate = self.theta_end - self.theta_start
        return rate * (-torch.sin(theta) * self.a + torch.cos(theta) * self.b)

    def exact_length(self) -> float | None:
        if not self.is_circle:
            return None
        radius = float(torch.linalg.vector_norm(self.a))
        return radius * abs(self.theta_end - self.theta_start)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "kind": "circle" if self.is_circle else "ellipse",
            "theta_start": self.theta_start,
            "theta_end": self.theta_end,
            "norm_a": float(torch.linalg.vector_norm(self.a)),
            "norm_b": float(torch.linalg.vector_norm(self.b)),
        }


@dataclass
class Polyline(Path):
    """The polyline through points p_0, ..., p_{k-1}, closed or open.

    Each piece is traversed at constant speed in an equal share of [0, 1], so
    the breakpoints are at multiples of 1 / (number of pieces).
    """

    points: torch.Tensor
    is_closed: bool = False
    kind: str = field(default="polyline", init=False)

    def __post_init__(self) -> None:
        points = torch.as_tensor(self.points, dtype=torch.float64).detach().clone()
        if points.ndim != 2 or points.shape[0] < 2:
            raise ConfigurationError(
                "points must have shape (k, n) with k >= 2, "
                f"got shape {tuple(points.shape)}"
            )
        if not torch.all(torch.isfinite(points)):
            raise ConfigurationError("points has non-finite entries")
        if self.is_closed:
            points = torch.cat([points, points[:1]])
        self.points = points

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    @property
    def n_pieces(self) -> int:
        return self.points.shape[0] - 1

    @property
    def closed(self) -> bool:
        return self.is_closed

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return tuple(i / self.n_pieces for i in range(self.n_pieces + 1))

    def _piece(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scaled = t.to(torch.float64) * self.n_pieces
        index = torch.clamp(torch.floor(scaled).long(), 0, self.n_pieces - 1)
        return index, scaled - index

    def position(self, t: torch.Tensor) -> torch.Tensor:
        index, local = self._piece(t)
        start = self.points[index]
        return start + local[:, None] * (self.points[index + 1] - start)

    def velocity(self, t: torch.Tensor) -> torch.Tensor:
        # At a breakpoint this returns the derivative of the piece that starts
        # there (the right derivative), except at t = 1.
        index, _ = self._piece(t)
        return self.n_pieces * (self.points[index + 1] - self.points[index])

    def exact_length(self) -> float:
        steps = self.points[1:] - self.points[:-1]
        return float(torch.linalg.vector_norm(steps, dim=1).sum())

    def describe(self) -> dict:
        return {
            **super().describe(),
            "n_points": self.points.shape[0] - int(self.is_closed),
            "length": self.exact_length(),
        }


class CallablePath(Path):
    """A user-supplied curve given by its position and derivative functions.

    Parameters
    ----------
    position_fn, velocity_fn
        Map t of shape (n_points,) to tensors of shape (n_points, dim).
    dim
        Dimension n of the input space.
    breakpoints
        Parameters where the derivative may jump, 0 and 1 included.
    """

    kind = "callable"

    def __init__(
        self,
        position_fn: Callable[[torch.Tensor], torch.Tensor],
        velocity_fn: Callable[[torch.Tensor], torch.Tensor],
        dim: int,
        breakpoints: Sequence[float] = (0.0, 1.0),
    ) -> None:
        points = tuple(float(b) for b in breakpoints)
        if points[0] != 0.0 or points[-1] != 1.0 or list(points) != sorted(points):
            raise ConfigurationError(
                f"breakpoints {list(points)} must be sorted and run from 0 to 1"
            )
        self._position_fn = position_fn
        self._velocity_fn = velocity_fn
        self._dim = dim
        self._breakpoints = points

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return self._breakpoints

    def position(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self._position_fn(t.to(torch.float64)))

    def velocity(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self._velocity_fn(t.to(torch.float64)))
