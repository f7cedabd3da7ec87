"""Certified sup of s(t) = ||J(x(t))||_2 and inf of r(t) = sigma_n(J(x(t))).

The path is split into equal segments per smooth piece; on each, the
interval propagation of ``taylor.propagate`` encloses every phi'(u(k)), and
``jacobian`` turns those enclosures into a certified upper bound on s and,
where the map can be injective, a certified lower bound on r. The sampled
maximum of s at the segment ends bounds sup s from below, so sup s lies in
[sampled, certified].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from expressivity.bounds import singular_profile
from expressivity.certified.enclosure import chain_weights, initial_partition
from expressivity.certified.interval import ROUNDING
from expressivity.certified.jacobian import (
    centred_bounds,
    centred_jacobians,
    elementwise_sup,
    layerwise_log_sup,
)
from expressivity.certified.path_enclosure import check_supported
from expressivity.certified.segments import evaluate_jets
from expressivity.errors import ConfigurationError
from expressivity.models import LayeredModel
from expressivity.paths import Path

DEFAULT_SEGMENTS = 256
# Largest n_0 * sum_k n_k n_{k-1} (multiply-adds of one interval Jacobian)
# for which the centred bound is computed.
CENTRED_MAX_COST = 2 * 10**7
_CHUNK_ENTRIES = 2**23


@dataclass
class Extremes:
    """Certified sup of s(t) and inf of r(t) over the path for one layer.

    Attributes
    ----------
    layer, name
        Layer index (1-based) and name.
    sup_sampled
        max of s over the segment ends: a lower bound on sup_t s(t),
        exact or estimated as ``sup_sampled_kind`` says.
    sup_certified
        Certified upper bound on sup_t s(t).
    inf_lower
        Certified lower bound on inf_t r(t), or None when vacuous.
    inf_reason
        Why ``inf_lower`` is None, or how it was obtained.
    method
        Which upper bounds were combined (the smallest is kept per segment).
    """

    layer: int
    name: str
    sup_sampled: float
    sup_sampled_kind: str
    sup_certified: float
    inf_lower: float | None
    inf_reason: str
    method: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ExtremesResult:
    """Per-layer certified extremes with the partition they were computed on."""

    layers: list[Extremes]
    n_segments: int
    rounding: str = ROUNDING

    def get(self, layer: int) -> Extremes:
        return self.layers[layer - 1]


def certified_extremes(
    model: nn.Module | LayeredModel,
    path: Path,
    *,
    segments: int = DEFAULT_SEGMENTS,
    power_iterations: int = 20,
) -> ExtremesResult:
    """Bound sup_t s(t) from above and inf_t r(t) from below for every layer.

    Parameters
    ----------
    model
        A network with a chain structure.
    path
        A ``LineSegment``, ``EllipseArc`` or ``Polyline``.
    segments
        Equal segments per smooth piece of the path.
    power_iterations
        Collatz-Wielandt iterations for the elementwise bound.

    Notes
    -----
    The centred bound (interval Jacobian) is the only one that converges to
    sup s as the segments shrink, and the only source of a lower bound on r;
    it costs n_0 times a forward pass per segment and is skipped when
    n_0 sum_k n_k n_{k-1} exceeds ``CENTRED_MAX_COST``.
    """
    if segments < 1:
        raise ConfigurationError(
            f"segments {segments} is invalid; give a positive integer"
        )
    check_supported(path)
    layered = model if isinstance(model, LayeredModel) else LayeredModel(model)
    try:
        chain = chain_weights(layered)
    except ConfigurationError:
        if layered.operator_chain is None:
            raise
        # The bounds on s and r below multiply dense interval Jacobians.
        raise ConfigurationError(
            "sup s(t) and inf r(t) are certified for chains of Linear layers and "
            "activations only; this model also has convolutions, batch norm, "
            "pooling, reshapes or residual blocks"
        ) from None
    widths = chain.widths
    n_inputs = widths[0]
    cost = n_inputs * sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    use_centred = cost <= CENTRED_MAX_COST

    t0, t1 = initial_partition(path, segments)
    rows = max(
        1, _CHUNK_ENTRIES // (n_inputs * max(widths) * (8 if use_centred else 1))
    )
    uppers, lowers = [], []
    for a, b in zip(torch.split(t0, rows), torch.split(t1, rows), strict=True):
        jets, _, _ = evaluate_jets(chain, path, a, b)
        upper = torch.minimum(
            torch.exp(layerwise_log_sup(chain, jets)),
            elementwise_sup(chain, jets, power_iterations),
        )
        lower = torch.zeros_like(upper)
        if use_centred:
            for k, (centre, radius) in enumerate(centred_jacobians(chain, jets)):
                centred_upper, lower[k] = centred_bounds(centre, radius, n_inputs)
                upper[k] = torch.minimum(upper[k], centred_upper)
        uppers.append(upper)
        lowers.append(lower)
    upper = torch.cat(uppers, dim=1)
    lower = torch.cat(lowers, dim=1)

    sample_t = torch.unique(torch.cat([t0, t1]))
    profile = singular_profile(layered, path, sample_t)
    method = "min of layerwise product and elementwise abs(J) bound" + (
        " and centred interval Jacobian" if use_centred else ""
    )
    layers = []
    for k in range(chain.depth):
        inf_lower, reason = _inf_bound(k, widths, use_centred, lower[k])
        layers.append(
            Extremes(
                layer=k + 1,
                name=chain.names[k],
                sup_sampled=float(profile.s[k].max()),
                sup_sampled_kind="exact" if profile.exact[k] else "estimate",
                sup_certified=float(upper[k].max()),
                inf_lower=inf_lower,
                inf_reason=reason,
                method=method,
            )
        )
    return ExtremesResult(layers=layers, n_segments=len(t0))


def _inf_bound(k: int, widths: list[int], use_centred: bool, lower: torch.Tensor):
    n_inputs, width = widths[0], widths[k + 1]
    if width < n_inputs:
        return None, (
            f"vacuous: m < n (layer {k + 1} has {width} outputs, {n_inputs} inputs)"
        )
    if not use_centred:
        return None, (
            "vacuous: the interval Jacobian needed for a lower bound was not "
            f"computed (cost above {CENTRED_MAX_COST} multiply-adds per segment)"
        )
    smallest = float(lower.min())
    if smallest <= 0.0:
        return None, (
            "vacuous: on some segment the interval Jacobian contains a matrix "
            "that is not injective; use more segments"
        )
    return smallest, "sigma_n of the centre minus the spectral norm of the radius"
