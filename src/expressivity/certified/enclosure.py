"""Certified enclosures [lower, upper] of every layer's trajectory length and energy.

The path's parameter interval is split into segments inside its smooth
pieces. On each segment ``bound_segments`` gives a certified lower bound (the
chord) and upper bound (Taylor, first-order or Jacobian-norm form) of the
integral of ||z'(t)|| and of ||z'(t)||^2 for every layer output z. Their
sums enclose the layer's length and energy. Adaptive refinement bisects
the segments whose upper - lower is largest until the relative gap
(upper - lower) / upper of every layer's length is at most the target or
the budget of network evaluations is spent.

Every reported bound is the best seen during the refinement (the largest
lower and the smallest upper sum), each of which is certified, so the gap
never grows from one step to the next.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from expressivity.certified.interval import ROUNDING, gamma, round_down, round_up
from expressivity.certified.operator_jets import OperatorJetChain
from expressivity.certified.path_enclosure import check_supported
from expressivity.certified.segments import (
    CertifiedChain,
    SegmentBounds,
    bound_segments,
)
from expressivity.certified.taylor import ChainWeights
from expressivity.errors import ConfigurationError
from expressivity.models import ChainUnavailable, LayeredModel, extract_chain
from expressivity.paths import Path

logger = logging.getLogger(__name__)

DEFAULT_GAP = 1e-3
DEFAULT_MAX_EVALUATIONS = 200_000
DEFAULT_INITIAL_SEGMENTS = 16


@dataclass
class Enclosure:
    """Certified bounds on one layer's trajectory length and energy.

    Attributes
    ----------
    layer
        1 for the first layer's output, h for the network output.
    name
        The layer's name in the model.
    lower, upper
        lower <= L(z(k) o x) <= upper.
    gap
        (upper - lower) / upper, 0 when upper is 0.
    energy_lower, energy_upper, energy_gap
        The same for the energy integral of ||z'(t)||^2 over t in [0, 1].
    segments
        Number of segments of the final partition.
    """

    layer: int
    name: str
    lower: float
    upper: float
    gap: float
    energy_lower: float
    energy_upper: float
    energy_gap: float
    segments: int

    def contains(self, value: float, rtol: float = 0.0) -> bool:
        """Return whether value lies in [lower, upper], widened by rtol times value."""
        slack = rtol * abs(value)
        return self.lower - slack <= value <= self.upper + slack

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RefinementStep:
    """State after one refinement round: partition size, gaps and elapsed time."""

    n_segments: int
    n_evaluations: int
    gaps: list[float]
    elapsed_seconds: float


@dataclass
class EnclosureResult:
    """Certified enclosures of every layer, with the refinement's accounting.

    Attributes
    ----------
    enclosures
        One ``Enclosure`` per layer output, the network output last.
    target_gap
        Requested relative gap of every layer's length.
    gap
        Largest relative length gap reached over the layers.
    converged
        Whether ``gap <= target_gap``.
    n_segments, n_evaluations, max_evaluations
        Final partition size, interval propagations used, and the budget.
    history
        The gaps after each refinement round.
    rounding
        How floating-point rounding is accounted for.
    """

    enclosures: list[Enclosure]
    target_gap: float
    gap: float
    converged: bool
    n_segments: int
    n_evaluations: int
    max_evaluations: int
    history: list[RefinementStep] = field(default_factory=list)
    rounding: str = ROUNDING

    def get(self, layer: int) -> Enclosure:
        return self.enclosures[layer - 1]

    def to_dict(self) -> dict:
        return {
            "enclosures": [e.to_dict() for e in self.enclosures],
            "target_gap": self.target_gap,
            "gap": self.gap,
            "converged": self.converged,
            "n_segments": self.n_segments,
            "n_evaluations": self.n_evaluations,
            "max_evaluations": self.max_evaluations,
            "rounding": self.rounding,
        }


def chain_weights(model: nn.Module | LayeredModel) -> ChainWeights:
    """Return the float64 Linear-layer chain of a model, or raise ConfigurationError."""
    module = model.model if isinstance(model, LayeredModel) else model
    try:
        return ChainWeights.from_chain(extract_chain(module))
    except ChainUnavailable as error:
        raise ConfigurationError(
            f"certified bounds need a chain of Linear layers and activations: {error}"
        ) from None


def certified_chain(model: nn.Module | LayeredModel) -> CertifiedChain:
    """Return the float64 chain that ``certified_lengths`` propagates through.

    A chain of Linear layers and activations when the model is one; else the
    stages that ``discover_chain`` reads off (convolutions, batch norm,
    pooling, residual blocks). Raises ConfigurationError naming the module
    that fits neither.
    """
    module = model.model if isinstance(model, LayeredModel) else model
    try:
        return ChainWeights.from_chain(extract_chain(module))
    except ChainUnavailable:
        pass
    layered = model if isinstance(model, LayeredModel) else LayeredModel(model)
    if layered.operator_chain is None:
        raise ConfigurationError(
            "certified bounds need a chain of Linear layers and activations, or of "
            "convolutions, batch norm, pooling, activations and residual blocks: "
            f"{layered.chain_reason}"
        )
    return OperatorJetChain.from_operator_chain(layered.operator_chain)


def certified_lengths(
    model: nn.Module | LayeredModel,
    path: Path,
    *,
    gap: float = DEFAULT_GAP,
    max_evaluations: int = DEFAULT_MAX_EVALUATIONS,
    initial_segments: int = DEFAULT_INITIAL_SEGMENTS,
) -> EnclosureResult:
    """Enclose the length and energy of the path's image after every layer.

    Parameters
    ----------
    model
        A network with a chain structure: ``FullyConnected``, an
        ``nn.Sequential`` of Linear layers and supported activations, or a
        model that ``discover_chain`` reads as convolutions, batch norm in
        eval mode, pooling, activations and residual blocks (wrap it in
        ``LayeredModel(model, input_shape)`` unless its first layer fixes the
        input shape).
    path
        A ``LineSegment``, ``EllipseArc`` or ``Polyline``.
    gap
        Target relative gap (upper - lower) / upper of every layer's length.
    max_evaluations
        Budget of interval propagations through the network.
    initial_segments
        Segments per smooth piece of the path before refinement.

    Returns
    -------
    EnclosureResult
        The enclosures, the gap reached and whether it met the target.
    """
    _check_arguments(gap, max_evaluations, initial_segments)
    check_supported(path)
    chain = certified_chain(model)
    if chain.widths[0] != path.dim:
        raise ConfigurationError(
            f"the path has dimension {path.dim} but the network takes inputs of "
            f"dimension {chain.widths[0]}; build the path in the network's input space"
        )

    started = time.perf_counter()
    t0, t1 = initial_partition(path, initial_segments)
    bounds = bound_segments(chain, path, t0, t1)
    n_evaluations = bounds.n_evaluations
    best = _Totals.from_bounds(bounds)
    history: list[RefinementStep] = []

    while True:
        gaps = best.length_gaps()
        elapsed = time.perf_counter() - started
        history.append(RefinementStep(len(t0), n_evaluations, gaps, elapsed))
        logger.info(
            "certified lengths: %d segments, %d evaluations, gap %.3g",
            len(t0),
            n_evaluations,
            max(gaps),
        )
        if max(gaps) <= gap:
            break
        # Each split propagates two segments, two centres and at most four
        # end points (an end point shared within a chunk is propagated once).
        affordable = (max_evaluations - n_evaluations) // 8
        if affordable <= 0:
            break
        selected = _select(bounds, best, gap, affordable)
        t0, t1, bounds, used = _split(chain, path, t0, t1, bounds, selected)
        n_evaluations += used
        best.update(bounds)

    return _result(chain, best, len(t0), n_evaluations, gap, max_evaluations, history)


def initial_partition(path: Path, per_piece: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split every smooth piece of the path into ``per_piece`` equal segments."""
    edges = path.breakpoints
    starts, ends = [], []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        grid = torch.linspace(low, high, per_piece + 1, dtype=torch.float64)
        grid[0], grid[-1] = low, high
        starts.append(grid[:-1])
        ends.append(grid[1:])
    return torch.cat(starts), torch.cat(ends)


@dataclass
class _Totals:
    length_lower: torch.Tensor
    length_upper: torch.Tensor
    energy_lower: torch.Tensor
    energy_upper: torch.Tensor

    @classmethod
    def from_bounds(cls, bounds: SegmentBounds) -> _Totals:
        return cls(*_sums(bounds))

    def update(self, bounds: SegmentBounds) -> None:
        length_lower, length_upper, energy_lower, energy_upper = _sums(bounds)
        self.length_lower = torch.maximum(self.length_lower, length_lower)
        self.length_upper = torch.minimum(self.length_upper, length_upper)
        self.energy_lower = torch.maximum(self.energy_lower, energy_lower)
        self.energy_upper = torch.minimum(self.energy_upper, energy_upper)

    def length_gaps(self) -> list[float]:
        return _relative_gaps(self.length_lower, self.length_upper)


def _sums(bounds: SegmentBounds):
    # The rounding error of a sum of n non-negative terms is at most gamma_n
    # times the sum, so the sums are widened by the factor 1 +- gamma_{n+1}.
    n = bounds.length_lower.shape[1]
    down, up = 1.0 - gamma(n + 1), 1.0 + gamma(n + 1)
    return (
        round_down(bounds.length_lower.sum(dim=1) * down),
        round_up(bounds.length_upper.sum(dim=1) * up),
        round_down(bounds.energy_lower.sum(dim=1) * down),
        round_up(bounds.energy_upper.sum(dim=1) * up),
    )


def _relative_gaps(lower: torch.Tensor, upper: torch.Tensor) -> list[float]:
    gaps = []
    for low, high in zip(lower.tolist(), upper.tolist(), strict=True):
        if not math.isfinite(high):
            gaps.append(math.inf)
        else:
            gaps.append((high - max(low, 0.0)) / high if high > 0 else 0.0)
    return gaps


def _select(
    bounds: SegmentBounds, best: _Totals, target: float, affordable: int
) -> torch.Tensor:
    """Indices of the segments to bisect: those above their share of the target."""
    scale = torch.clamp(best.length_upper, min=torch.finfo(torch.float64).tiny)
    share = (bounds.length_upper - bounds.length_lower) / scale[:, None]
    priority = share.max(dim=0).values
    n_segments = priority.numel()
    chosen = torch.nonzero(priority > target / n_segments).flatten()
    if chosen.numel() == 0:
        chosen = priority.argmax().reshape(1)
    if chosen.numel() > affordable:
        chosen = chosen[torch.argsort(priority[chosen], descending=True)[:affordable]]
    return chosen


def _split(chain, path, t0, t1, bounds: SegmentBounds, selected: torch.Tensor):
    keep = torch.ones(t0.numel(), dtype=torch.bool)
    keep[selected] = False
    middle = (t0[selected] + t1[selected]) * 0.5
    # Children side by side, so that their shared end point is evaluated once.
    new_t0 = torch.stack([t0[selected], middle], dim=1).flatten()
    new_t1 = torch.stack([middle, t1[selected]], dim=1).flatten()
    new_bounds = bound_segments(chain, path, new_t0, new_t1)

    merged_t0 = torch.cat([t0[keep], new_t0])
    merged_t1 = torch.cat([t1[keep], new_t1])
    order = torch.argsort(merged_t0)
    kept = SegmentBounds(
        bounds.length_lower[:, keep],
        bounds.length_upper[:, keep],
        bounds.energy_lower[:, keep],
        bounds.energy_upper[:, keep],
        0,
    )
    merged = SegmentBounds.concatenate([kept, new_bounds])
    merged = SegmentBounds(
        merged.length_lower[:, order],
        merged.length_upper[:, order],
        merged.energy_lower[:, order],
        merged.energy_upper[:, order],
        0,
    )
    return merged_t0[order], merged_t1[order], merged, new_bounds.n_evaluations


def _result(chain, best, n_segments, n_evaluations, target, budget, history):
    length_gaps = best.length_gaps()
    energy_gaps = _relative_gaps(best.energy_lower, best.energy_upper)
    enclosures = [
        Enclosure(
            layer=k + 1,
            name=chain.names[k],
            lower=float(best.length_lower[k]),
            upper=float(best.length_upper[k]),
            gap=length_gaps[k],
            energy_lower=float(best.energy_lower[k]),
            energy_upper=float(best.energy_upper[k]),
            energy_gap=energy_gaps[k],
            segments=n_segments,
        )
        for k in range(chain.depth)
    ]
    reached = max(length_gaps)
    return EnclosureResult(
        enclosures=enclosures,
        target_gap=target,
        gap=reached,
        converged=reached <= target,
        n_segments=n_segments,
        n_evaluations=n_evaluations,
        max_evaluations=budget,
        history=history,
    )


def _check_arguments(gap: float, max_evaluations: int, initial_segments: int) -> None:
    if not (math.isfinite(gap) and 0 < gap < 1):
        raise ConfigurationError(
            f"gap {gap} is invalid; give a relative gap in (0, 1), e.g. 1e-3"
        )
    if max_evaluations < 1:
        raise ConfigurationError(
            f"max_evaluations {max_evaluations} is invalid; give a positive integer"
        )
    if initial_segments < 1:
        raise ConfigurationError(
            f"initial_segments {initial_segments} is invalid; give a positive integer"
        )
