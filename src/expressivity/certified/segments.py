"""Certified length and energy bounds of every layer's image over path segments.

For a layer output z(t) on a segment [t0, t1] with centre t_c and half-width
h (every t of the segment within h of t_c):

* lower: the chord, ||z(t1) - z(t0)|| <= integral ||z'||, and
  ||z(t1) - z(t0)||^2 / (t1 - t0) <= integral ||z'||^2 (Cauchy-Schwarz), with
  the difference enclosed both from the end values and, on smooth segments,
  from the Taylor expansion about the centre;
* upper, Taylor form (smooth segments): with a = z'(t_c), b = z''(t_c) and
  R >= sup ||z'''|| over the segment, ||z'(t_c + s)|| <= ||a + b s|| + R s^2 / 2,
  and Jensen's inequality for the concave square root gives
  integral_{-h}^{h} ||a + b s|| ds <= 2h sqrt(||a||^2 + ||b||^2 h^2 / 3),
  so integral ||z'|| <= 2h sqrt(||a||^2 + ||b||^2 h^2 / 3) + R h^3 / 3, which
  is tight to O(h^3) per segment;
* upper, first order: 2h sup ||z'||;
* upper, Jacobian norm: (sup_t ||J(x(t))||_2) (2h sup ||x'||), the certified
  bound of s(t) over the segment times the segment's input length (chains
  of Linear layers only).

Each energy bound squares the same integrand, for example
integral (||a + b s|| + R s^2 / 2)^2 <= 2h ||a||^2 + 2 h^3 ||b||^2 / 3
+ R (2 h^3 ||a|| / 3 + h^4 ||b|| / 2) + R^2 h^5 / 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from expressivity.certified.interval import (
    Interval,
    norm_down,
    norm_up,
    round_down,
    round_up,
)
from expressivity.certified.jacobian import elementwise_sup, layerwise_log_sup
from expressivity.certified.operator_jets import OperatorJetChain
from expressivity.certified.path_enclosure import derivative_boxes, speed_upper
from expressivity.certified.taylor import ChainWeights, LayerJet
from expressivity.paths import Path

# Rows of the interval computations kept in memory at once, scaled by width.
_CHUNK_ENTRIES = 2**22


@dataclass
class SegmentBounds:
    """Per-layer bounds on each segment, every tensor of shape (h, n_segments).

    Attributes
    ----------
    length_lower, length_upper
        Bounds on the integral of ||z'(t)|| over the segment.
    energy_lower, energy_upper
        Bounds on the integral of ||z'(t)||^2 over the segment.
    n_evaluations
        Interval propagations through the network (segments and points).
    """

    length_lower: torch.Tensor
    length_upper: torch.Tensor
    energy_lower: torch.Tensor
    energy_upper: torch.Tensor
    n_evaluations: int

    @staticmethod
    def concatenate(parts: list[SegmentBounds]) -> SegmentBounds:
        return SegmentBounds(
            torch.cat([p.length_lower for p in parts], dim=1),
            torch.cat([p.length_upper for p in parts], dim=1),
            torch.cat([p.energy_lower for p in parts], dim=1),
            torch.cat([p.energy_upper for p in parts], dim=1),
            sum(p.n_evaluations for p in parts),
        )


def segment_geometry(
    t0: torch.Tensor, t1: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the centres t_c and half-widths h with [t0, t1] in [t_c - h, t_c + h]."""
    centre = (t0 + t1) * 0.5
    half_width = round_up(torch.maximum(t1 - centre, centre - t0))
    return centre, half_width


CertifiedChain = ChainWeights | OperatorJetChain


def evaluate_jets(
    chain: CertifiedChain, path: Path, t0: torch.Tensor, t1: torch.Tensor
) -> tuple[list[LayerJet], list[LayerJet], torch.Tensor]:
    """Propagate the segments and their centres; return segment, centre, h."""
    centre_t, half_width = segment_geometry(t0, t1)
    centre = chain.propagate(
        derivative_boxes(path, centre_t, centre_t), torch.zeros_like(centre_t)
    )
    segment = chain.propagate(derivative_boxes(path, t0, t1), half_width, centre)
    return segment, centre, half_width


def bound_segments(
    chain: CertifiedChain,
    path: Path,
    t0: torch.Tensor,
    t1: torch.Tensor,
    *,
    power_iterations: int = 2,
) -> SegmentBounds:
    """Compute certified per-layer length and energy bounds on each segment.

    Parameters
    ----------
    chain
        The network: a chain of Linear layers or of discovered operators.
    path
        A line, ellipse arc or polyline.
    t0, t1
        Segment ends of shape (n_segments,), each segment inside one smooth
        piece of the path.
    power_iterations
        Collatz-Wielandt iterations of the elementwise Jacobian bound.
    """
    # An even chunk size keeps the two children of a split in one chunk.
    rows = max(2, _CHUNK_ENTRIES // (chain.entries_per_row * 32) * 2)
    parts = [
        _bound_chunk(chain, path, a, b, power_iterations)
        for a, b in zip(torch.split(t0, rows), torch.split(t1, rows), strict=True)
    ]
    return SegmentBounds.concatenate(parts)


def _bound_chunk(chain, path, t0, t1, power_iterations) -> SegmentBounds:
    segment, centre, half_width = evaluate_jets(chain, path, t0, t1)
    boxes = derivative_boxes(path, t0, t1)

    # End points are shared by neighbours, so each is propagated once.
    ends, inverse = torch.unique(torch.cat([t0, t1]), return_inverse=True)
    end_jets = chain.propagate(
        derivative_boxes(path, ends, ends), torch.zeros_like(ends)
    )
    n_rows = t0.shape[0]
    start_index, end_index = inverse[:n_rows], inverse[n_rows:]

    duration = round_up(t1 - t0)
    input_speed = speed_upper(boxes)
    # The Jacobian-norm bound needs dense weight matrices; for chains of
    # convolutions, pooling and residual blocks the first-order and Taylor
    # bounds are used alone.
    s_upper = None
    if isinstance(chain, ChainWeights):
        s_upper = torch.minimum(
            torch.exp(layerwise_log_sup(chain, segment)),
            elementwise_sup(chain, segment, power_iterations),
        )

    rows = [[], [], [], []]
    for k in range(chain.depth):
        values = end_jets[k].jet[0]
        start = Interval(values.lower[start_index], values.upper[start_index])
        end = Interval(values.lower[end_index], values.upper[end_index])
        chord = norm_down((end - start).mignitude)
        chord = torch.where(
            segment[k].smooth & centre[k].smooth,
            torch.maximum(chord, _taylor_chord(segment[k], centre[k], t0, t1)),
            chord,
        )
        rows[0].append(chord)
        rows[2].append(torch.clamp(round_down(chord * chord / duration, 4.0), min=0.0))

        length_upper, energy_upper = _upper_bounds(
            segment[k],
            centre[k],
            half_width,
            None if s_upper is None else s_upper[k],
            input_speed,
        )
        rows[1].append(length_upper)
        rows[3].append(energy_upper)

    stacked = [torch.stack(row) for row in rows]
    return SegmentBounds(*stacked, n_evaluations=2 * n_rows + len(ends))


def _taylor_chord(segment, centre, t0, t1) -> torch.Tensor:
    """Lower bound on ||z(t1) - z(t0)|| from the Taylor expansion about t_c.

    With s_0 = t0 - t_c and s_1 = t1 - t_c,
    z(t1) - z(t0) = (s_1 - s_0) z'(t_c) + (s_1^2 - s_0^2) z''(t_c) / 2 + r with
    abs(r) <= (abs(s_1)^3 + abs(s_0)^3) sup abs(z^(3)) / 6 componentwise. Its
    rounding error is relative to z' rather than to z, so unlike the
    difference of the end values it stays accurate on short segments whose
    end values are large.
    """
    centre_t = (t0 + t1) * 0.5
    offset_start = Interval.around((t0 - centre_t)[:, None])
    offset_end = Interval.around((t1 - centre_t)[:, None])
    first = (offset_end - offset_start) * centre.jet[1]
    second = (offset_end.square() - offset_start.square()).scale(0.5) * centre.jet[2]
    cube = round_up((offset_end.magnitude**3 + offset_start.magnitude**3) / 6, 8.0)
    remainder = round_up(cube * segment.jet[3].magnitude)
    difference = first + second + Interval(-remainder, remainder)
    return norm_down(difference.mignitude)


def _upper_bounds(segment, centre, half_width, s_upper, input_speed):
    h = half_width
    speed = norm_up(segment.jet[1].magnitude)
    length = round_up(2 * h * speed)
    energy = round_up(2 * h * speed * speed, 4.0)

    if s_upper is not None:
        scaled_speed = s_upper * input_speed
        jacobian_length = round_up(2 * h * scaled_speed, 4.0)
        jacobian_energy = round_up(2 * h * scaled_speed * scaled_speed, 8.0)
        length = torch.minimum(length, jacobian_length)
        energy = torch.minimum(energy, jacobian_energy)

    smooth = segment.smooth & centre.smooth
    a = norm_up(centre.jet[1].magnitude)
    b = norm_up(centre.jet[2].magnitude)
    remainder = norm_up(segment.jet[3].magnitude)
    h2, h3 = h * h, h * h * h
    taylor_length = round_up(
        2 * h * torch.sqrt(round_up(a * a + b * b * h2 / 3, 8.0)) + remainder * h3 / 3,
        16.0,
    )
    taylor_energy = round_up(
        2 * h * a * a
        + 2 * h3 * b * b / 3
        + remainder * (2 * h3 * a / 3 + h3 * h * b / 2)
        + remainder * remainder * h3 * h2 / 10,
        32.0,
    )
    length = torch.where(smooth, torch.minimum(length, taylor_length), length)
    energy = torch.where(smooth, torch.minimum(energy, taylor_energy), energy)
    return length, energy
