"""Enclosures of a path and its first three derivatives over parameter segments.

For a segment [t0, t1] inside one smooth piece of the path, ``derivative_boxes``
returns intervals containing x(t), x'(t), x''(t) and x'''(t) for every t in
the segment:

* a line segment (or a polyline piece) x(t) = p + tau(t) d is affine in t,
  so its box over [t0, t1] is the box of the two end points, x' = d and the
  higher derivatives vanish;
* an ellipse arc x(t) = c + a cos(theta) + b sin(theta) has coordinates
  c_i + R_i cos(theta - phi_i) with R_i = hypot(a_i, b_i) and
  phi_i = atan2(b_i, a_i), whose exact range over the theta interval comes
  from the range of cos; the j-th derivative is the same form with theta
  shifted by j pi / 2 and scaled by (theta_end - theta_start)^j.
"""

from __future__ import annotations

import math

import torch

from expressivity.certified.interval import (
    LIBM_ULPS,
    UNIT_ROUNDOFF,
    Interval,
    norm_up,
    round_down,
    round_up,
)
from expressivity.errors import ConfigurationError
from expressivity.paths import EllipseArc, LineSegment, Path, Polyline

ORDERS = 4
_TWO_PI = 2.0 * math.pi


def check_supported(path: Path) -> None:
    """Raise ConfigurationError unless the path has exact segment enclosures."""
    if not isinstance(path, LineSegment | EllipseArc | Polyline):
        raise ConfigurationError(
            f"certified bounds need a line, circle, ellipse or polyline path, got "
            f"a {type(path).__name__}; sample a callable path into a polyline "
            "(polyline_through) to certify it"
        )


def derivative_boxes(path: Path, t0: torch.Tensor, t1: torch.Tensor) -> list[Interval]:
    """Return enclosures of x^(j)(t), j = 0..3, over each segment [t0, t1].

    Parameters
    ----------
    path
        A ``LineSegment``, ``EllipseArc`` or ``Polyline``.
    t0, t1
        Segment ends of shape (n_segments,), each segment inside one smooth
        piece; t0 = t1 gives the enclosure at a single parameter.

    Returns
    -------
    list of Interval
        Four intervals of shape (n_segments, n).
    """
    t0 = t0.to(torch.float64)
    t1 = t1.to(torch.float64)
    if isinstance(path, LineSegment):
        return _affine_boxes(path.start, path.end - path.start, t0, t1, 1.0)
    if isinstance(path, Polyline):
        return _polyline_boxes(path, t0, t1)
    if isinstance(path, EllipseArc):
        return _ellipse_boxes(path, t0, t1)
    check_supported(path)
    raise AssertionError("unreachable")


def speed_upper(boxes: list[Interval]) -> torch.Tensor:
    """Upper bound on ||x'(t)|| over each segment, shape (n_segments,)."""
    return norm_up(boxes[1].magnitude)


def _affine_boxes(
    start: torch.Tensor,
    step: torch.Tensor,
    tau0: torch.Tensor,
    tau1: torch.Tensor,
    rate: float,
) -> list[Interval]:
    # x = start + tau * step with tau in [tau0, tau1]; the computed step is
    # widened because the path is defined by the exact difference of its ends.
    step_box = Interval.around(step[None, :])
    tau = Interval(
        torch.minimum(tau0, tau1)[:, None], torch.maximum(tau0, tau1)[:, None]
    )
    position = Interval.point(start[None, :]) + tau * step_box
    velocity = step_box.scale(rate)
    velocity = Interval(
        velocity.lower.expand(len(tau0), -1), velocity.upper.expand(len(tau0), -1)
    )
    zero = Interval.zeros_like(position)
    return [position, velocity, zero, Interval.zeros_like(position)]


def _polyline_boxes(
    path: Polyline, t0: torch.Tensor, t1: torch.Tensor
) -> list[Interval]:
    n_pieces = path.n_pieces
    centre = (t0 + t1) * 0.5
    index = torch.clamp(torch.floor(centre * n_pieces).long(), 0, n_pieces - 1)
    start = path.points[index]
    step = path.points[index + 1] - start
    # NOTE: tau is not clamped to [0, 1]: at a breakpoint whose float value
    # falls just inside the neighbouring piece, the affine extension of this
    # piece stays within rounding of the (continuous) path.
    tau0 = round_down(t0 * n_pieces - index)
    tau1 = round_up(t1 * n_pieces - index)
    step_box = Interval.around(step)
    tau = Interval(tau0[:, None], tau1[:, None])
    position = Interval.point(start) + tau * step_box
    velocity = step_box.scale(float(n_pieces))
    return [
        position,
        velocity,
        Interval.zeros_like(position),
        Interval.zeros_like(position),
    ]


def _ellipse_boxes(
    path: EllipseArc, t0: torch.Tensor, t1: torch.Tensor
) -> list[Interval]:
    rate = path.theta_end - path.theta_start
    rate_box = Interval.around(torch.tensor([rate], dtype=torch.float64))
    theta0 = round_down(path.theta_start + torch.minimum(t0, t1) * rate, 4.0)
    theta1 = round_up(path.theta_start + torch.maximum(t0, t1) * rate, 4.0)
    low_theta = torch.minimum(theta0, theta1)
    high_theta = torch.maximum(theta0, theta1)

    radius = Interval.around(torch.hypot(path.a, path.b))
    radius_row = Interval(radius.lower[None, :], radius.upper[None, :])
    phase = torch.atan2(path.b, path.a)
    boxes = []
    scale = Interval.point(torch.ones(1, dtype=torch.float64))
    for order in range(ORDERS):
        shift = order * math.pi / 2
        start = low_theta[:, None] + shift - phase[None, :]
        end = high_theta[:, None] + shift - phase[None, :]
        # Widen for the rounding of the shift, the phase and the subtraction.
        slack = 16 * UNIT_ROUNDOFF * (start.abs() + end.abs() + 8.0)
        cosine = cos_range(start - slack, end + slack)
        box = cosine * radius_row * Interval(scale.lower[:, None], scale.upper[:, None])
        if order == 0:
            box = box + Interval.point(path.centre[None, :])
        boxes.append(box)
        scale = scale * rate_box
    return boxes


def cos_range(start: torch.Tensor, end: torch.Tensor) -> Interval:
    """Enclosure of {cos(psi) : start <= psi <= end}, elementwise.

    The maximum is 1 when the interval contains a multiple of 2 pi and the
    minimum -1 when it contains an odd multiple of pi; otherwise both come
    from the end points, cos being monotone between its extrema.
    """
    cos_start, cos_end = torch.cos(start), torch.cos(end)
    has_max = torch.ceil(start / _TWO_PI) <= torch.floor(end / _TWO_PI)
    has_min = torch.ceil((start - math.pi) / _TWO_PI) <= torch.floor(
        (end - math.pi) / _TWO_PI
    )
    full_turn = (end - start) >= _TWO_PI
    slack = LIBM_ULPS * UNIT_ROUNDOFF
    upper = torch.where(
        has_max | full_turn,
        torch.ones_like(start),
        torch.maximum(cos_start, cos_end) + slack,
    )
    lower = torch.where(
        has_min | full_turn,
        -torch.ones_like(start),
        torch.minimum(cos_start, cos_end) - slack,
    )
    return Interval(torch.clamp(lower, min=-1.0), torch.clamp(upper, max=1.0))
