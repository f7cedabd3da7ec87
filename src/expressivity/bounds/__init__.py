"""Bounds on trajectory length and energy, each labelled and checked for validity."""

from expressivity.bounds.evaluate import (
    BOUND_NAMES,
    KINDS,
    Bound,
    BoundsResult,
    evaluate_bounds,
)
from expressivity.bounds.layerwise import LayerwiseProfile, layerwise_profile
from expressivity.bounds.singular import SingularProfile, singular_profile

__all__ = [
    "BOUND_NAMES",
    "KINDS",
    "Bound",
    "BoundsResult",
    "LayerwiseProfile",
    "SingularProfile",
    "evaluate_bounds",
    "layerwise_profile",
    "singular_profile",
]
