"""Certified bounds: guaranteed enclosures of lengths and Jacobian norms.

Interval bound propagation of path segments through a network's chain of
layers gives enclosures of every pre-activation and of the t-derivatives of
every layer output over each segment. From them:

* ``certified_lengths``: [lower, upper] of every layer's trajectory length
  and energy, refined adaptively to a requested relative gap;
* ``certified_extremes``: [sampled max, certified upper] for sup_t s(t) and a
  certified lower bound on inf_t r(t) where the Jacobian can be injective;
* ``global_bounds``: U5, sup ||J|| over a ball or a box, in log space.

Rounding is accounted for by widening every float64 operation outward by its
error bound (see ``interval.ROUNDING``).
"""

from expressivity.certified.enclosure import (
    DEFAULT_GAP,
    DEFAULT_MAX_EVALUATIONS,
    Enclosure,
    EnclosureResult,
    RefinementStep,
    certified_lengths,
)
from expressivity.certified.extremes import (
    Extremes,
    ExtremesResult,
    certified_extremes,
)
from expressivity.certified.global_bound import Ball, Box, GlobalBound, global_bounds
from expressivity.certified.interval import ROUNDING, Interval

__all__ = [
    "DEFAULT_GAP",
    "DEFAULT_MAX_EVALUATIONS",
    "ROUNDING",
    "Ball",
    "Box",
    "Enclosure",
    "EnclosureResult",
    "Extremes",
    "ExtremesResult",
    "GlobalBound",
    "Interval",
    "RefinementStep",
    "certified_extremes",
    "certified_lengths",
    "global_bounds",
]
