"""Upper and lower bounds on the length and energy of a path's image.

With s(t) = ||J(x(t))||_2, r(t) = sigma_n(J(x(t))), L = L(x) and E = E(x)
the length and energy of the input path, and J the Jacobian of the map from
the input to the layer in question:

    U1  integral s(t) ||x'(t)|| dt          L1  integral r(t) ||x'(t)|| dt
    U2  (sup_t s(t)) L                       L2  (inf_t r(t)) L
    U3  sup_t prod_j ||W_j|| ||D_j(x(t))|| L  L3  inf_t prod_j sigma_min(W_j)
    U4  prod_j ||W_j|| sup_t ||D_j(x(t))|| L        sigma_min(D_j(x(t))) L
    Lc  polyline length (>= chord)

from ||Av|| <= ||A|| ||v|| and ||Av|| >= sigma_n(A) ||v||. Energy versions
raise every factor that multiplies L to the power 2 and multiply E instead.
L3 rests on sigma_min(AB) >= sigma_min(A) sigma_min(B), which needs every
factor injective: widths n_0 <= n_1 <= ... <= n_k, every W_j of full column
rank, and no activation derivative vanishing on the path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from expressivity.bounds.layerwise import LayerwiseProfile, layerwise_profile
from expressivity.bounds.operator_profile import OperatorProfile, operator_profile
from expressivity.bounds.singular import (
    EXACT_MAX_DIM,
    SingularProfile,
    singular_profile,
)
from expressivity.length import LengthResult, integrate, polyline_parameters
from expressivity.models import LayeredModel
from expressivity.paths import Path

BOUND_NAMES = ("U1", "U2", "U3", "U4", "L1", "L2", "L3", "Lc")
KINDS = ("exact", "estimate", "certified", "not_applicable")
_FLOAT64_LOG10_MAX = 307.0


@dataclass
class Bound:
    """One bound on one layer's length or energy.

    Attributes
    ----------
    name
        ``U1`` .. ``U4``, ``L1`` .. ``L3`` or ``Lc``.
    layer
        Index of the layer (1 for the first layer's output).
    quantity
        ``length`` or ``energy``.
    direction
        ``upper`` or ``lower``.
    value
        The bound, or None when not applicable or beyond the float64 range.
    log10_value
        log10 of the bound (products are accumulated in log space), or None.
    kind
        ``exact`` (to ``tolerance``), ``estimate`` (from ``n_samples``
        samples), ``certified`` or ``not_applicable``.
    reason
        Why the kind applies, or why the bound is not applicable.
    """

    name: str
    layer: int
    quantity: str
    direction: str
    value: float | None
    log10_value: float | None
    kind: str
    reason: str
    tolerance: float | None = None
    n_samples: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BoundsResult:
    """Every bound on every layer, with the profiles they were computed from."""

    bounds: list[Bound]
    profile: SingularProfile
    layerwise: LayerwiseProfile | OperatorProfile | None
    n_samples: int
    chain_reason: str = ""
    integral_converged: bool = True
    notes: list[str] = field(default_factory=list)

    def get(self, name: str, layer: int, quantity: str = "length") -> Bound:
        for bound in self.bounds:
            if (bound.name, bound.layer, bound.quantity) == (name, layer, quantity):
                return bound
        raise KeyError(f"no bound {name} for layer {layer} ({quantity})")


def evaluate_bounds(
    model: torch.nn.Module | LayeredModel,
    path: Path,
    lengths: LengthResult,
    *,
    n_samples: int = 257,
    rtol: float = 1e-4,
    exact_max_dim: int = EXACT_MAX_DIM,
    max_evaluations: int = 20_000,
) -> BoundsResult:
    """Evaluate U1..U4, L1..L3 and Lc for every layer, for length and energy.

    Parameters
    ----------
    model
        The network; per-layer product bounds need a chain structure.
    path
        The input curve.
    lengths
        The measured lengths (from ``trajectory_lengths``) on the same path.
    n_samples
        Sample parameters per smooth piece of the path for the sup and inf
        estimates (U2, U3, U4, L2, L3).
    rtol
        Relative tolerance of the quadrature for U1 and L1.
    exact_max_dim
        Largest min(n_k, n) for which singular values are exact.
    max_evaluations
        Budget of path points for the U1 and L1 quadrature.
    """
    layered = model if isinstance(model, LayeredModel) else LayeredModel(model)
    t = polyline_parameters(path, n_samples)
    profile = singular_profile(layered, path, t, exact_max_dim=exact_max_dim)
    layerwise: LayerwiseProfile | OperatorProfile | None = None
    if layered.chain is not None:
        layerwise = layerwise_profile(layered.chain, path, t)
    elif layered.operator_chain is not None:
        layerwise = operator_profile(layered.operator_chain, path, t)

    def integrand(points: torch.Tensor) -> torch.Tensor:
        # NOTE: every call forms and decomposes the Jacobians at new points,
        # so U1 and L1 cost about as many Jacobians as quadrature nodes.
        at = singular_profile(layered, path, points, exact_max_dim=exact_max_dim)
        speed = torch.linalg.vector_norm(path.velocity(points), dim=1)
        s, r = at.s * speed, at.r * speed
        return torch.cat([s, r, s**2, r**2])

    # L1 can be far smaller than the length it bounds, so its integrals get an
    # absolute tolerance of rtol times that layer's measured length (energy).
    n_layers = profile.s.shape[0]
    measured = torch.tensor([layer.length for layer in lengths.layers[1:]])
    measured_energy = torch.tensor([layer.energy for layer in lengths.layers[1:]])
    atol = (
        torch.cat(
            [torch.zeros(n_layers), measured, torch.zeros(n_layers), measured_energy]
        ).to(torch.float64)
        * rtol
    )
    integrals = integrate(
        integrand,
        path.breakpoints,
        rtol=rtol,
        atol=atol,
        max_evaluations=max_evaluations,
        warn=False,
    )
    achieved = integrals.errors / torch.clamp(integrals.values.abs(), min=1e-300)
    u1 = integrals.values[:n_layers], integrals.values[2 * n_layers : 3 * n_layers]
    l1 = integrals.values[n_layers : 2 * n_layers], integrals.values[3 * n_layers :]
    u1_tolerance = achieved[:n_layers], achieved[2 * n_layers : 3 * n_layers]
    l1_tolerance = achieved[n_layers : 2 * n_layers], achieved[3 * n_layers :]

    bounds: list[Bound] = []
    input_layer = lengths.layers[0]
    for k in range(1, n_layers + 1):
        for power, quantity in ((1, "length"), (2, "energy")):
            measure = input_layer.length if power == 1 else input_layer.energy
            context = _Context(
                k, power, quantity, measure, len(t), profile, layerwise, layered
            )
            u1_rtol = rtol
            l1_rtol = rtol
            if not integrals.converged:
                u1_rtol = float(u1_tolerance[power - 1][k - 1])
                l1_rtol = float(l1_tolerance[power - 1][k - 1])
            bounds.extend(
                [
                    _integral_bound(
                        "U1",
                        "upper",
                        float(u1[power - 1][k - 1]),
                        context,
                        u1_rtol,
                        integrals.converged,
                    ),
                    _sampled_bound("U2", "upper", profile.s[k - 1].max(), context),
                    _u3(context),
                    _u4(context),
                    _l1(
                        float(l1[power - 1][k - 1]),
                        context,
                        l1_rtol,
                        integrals.converged,
                    ),
                    _l2(context),
                    _l3(context),
                    _lc(lengths.layers[k], context),
                ]
            )

    bounds = [_unless_unconverged(bound, profile) for bound in bounds]
    _flag_contradictions(bounds, lengths)
    return BoundsResult(
        bounds=bounds,
        profile=profile,
        layerwise=layerwise,
        n_samples=len(t),
        chain_reason=layered.chain_reason,
        integral_converged=integrals.converged,
    )


@dataclass
class _Context:
    layer: int
    power: int
    quantity: str
    measure: float
    n_samples: int
    profile: SingularProfile
    layerwise: LayerwiseProfile | OperatorProfile | None
    layered: LayeredModel

    def bound(self, name, direction, log_value, kind, reason, **extra) -> Bound:
        """Build a Bound from the natural log of the factor multiplying L."""
        if log_value is None:
            return Bound(
                name,
                self.layer,
                self.quantity,
                direction,
                None,
                None,
                kind,
                reason,
                **extra,
            )
        if self.measure <= 0:
            log10 = -math.inf
        else:
            log10 = (self.power * log_value + math.log(self.measure)) / math.log(10)
        if math.isnan(log10):
            raise ArithmeticError(f"{name} of layer {self.layer} is NaN")
        if log10 > _FLOAT64_LOG10_MAX:
            return Bound(
                name,
                self.layer,
                self.quantity,
                direction,
                None,
                log10,
                kind,
                reason + "; beyond the float64 range, see log10_value",
                **extra,
            )
        value = 0.0 if log10 == -math.inf else 10.0**log10
        return Bound(
            name,
            self.layer,
            self.quantity,
            direction,
            value,
            None if log10 == -math.inf else log10,
            kind,
            reason,
            **extra,
        )

    @property
    def exact(self) -> bool:
        return self.profile.exact[self.layer - 1]


def _log(value: torch.Tensor | float) -> float:
    value = float(value)
    return math.log(value) if value > 0 else -math.inf


def _sampled_reason(kind: str, count: int) -> str:
    return (
        f"sampled {kind} over {count} points of the path: an estimate of the "
        f"{'supremum from below' if kind == 'sup' else 'infimum from above'}, "
        "not a guaranteed bound"
    )


def _integral_bound(
    name, direction, value, context: _Context, tolerance, converged=True
) -> Bound:
    if not context.exact:
        kind, reason = "estimate", context.profile.methods[context.layer - 1]
    elif converged:
        kind = "exact"
        reason = f"quadrature of exact singular values, rtol {tolerance:.2g}"
    else:
        # The error estimate |Kronrod - Gauss| is pessimistic, so a value whose
        # estimate missed the tolerance is still close; it is labelled by it.
        kind = "exact" if tolerance <= 1e-2 else "estimate"
        reason = (
            "quadrature of exact singular values stopped at its evaluation budget "
            f"with relative error estimate {tolerance:.2g}"
        )
    return Bound(
        name,
        context.layer,
        context.quantity,
        direction,
        value,
        math.log10(value) if value > 0 else None,
        kind,
        reason,
        tolerance=tolerance,
    )


def _unless_unconverged(bound: Bound, profile: SingularProfile) -> Bound:
    """Replace a bound on s(t) or r(t) whose power iteration did not converge.

    An unconverged s(t) lies below the true value and an unconverged r(t)
    above it, so neither gives a bound in the direction it is used.
    """
    uses_s = bound.name in ("U1", "U2")
    uses_r = bound.name in ("L1", "L2") and bound.value != 0.0
    k = bound.layer - 1
    if uses_s and profile.s_converged and not profile.s_converged[k]:
        quantity = "s(t)"
    elif uses_r and profile.r_converged and not profile.r_converged[k]:
        quantity = "r(t)"
    else:
        return bound
    bound.value, bound.log10_value = None, None
    bound.kind = "not_applicable"
    bound.tolerance, bound.n_samples = None, None
    bound.reason = (
        f"power iteration for {quantity} did not converge "
        f"({profile.methods[k]}); raise exact_max_dim above "
        f"{min(profile.widths[k], profile.n_inputs)} to decompose the dense jacobian"
    )
    return bound


def _sampled_bound(name, direction, value, context: _Context) -> Bound:
    kind = "sup" if direction == "upper" else "inf"
    return context.bound(
        name,
        direction,
        _log(value),
        "estimate",
        _sampled_reason(kind, context.n_samples),
        n_samples=context.n_samples,
    )


def _no_chain(name, direction, context: _Context) -> Bound:
    return context.bound(
        name,
        direction,
        None,
        "not_applicable",
        f"not available for this model: {context.layered.chain_reason}",
    )


def _log_products(context: _Context, weights: torch.Tensor, derivatives: torch.Tensor):
    """Sum of log weight factors up to the layer and of log derivative factors."""
    k = context.layer
    hidden = min(k, derivatives.shape[0])
    return float(weights[:k].sum()), derivatives[:hidden]


def _u3(context: _Context) -> Bound:
    if context.layerwise is None:
        return _no_chain("U3", "upper", context)
    layerwise = context.layerwise
    if isinstance(layerwise, OperatorProfile):
        return _operator_upper(
            "U3", layerwise.upper_sup_of_product(context.layer), "", context
        )
    log_weights, log_derivatives = _log_products(
        context, layerwise.log_weight_norms, layerwise.log_derivative_max
    )
    log_value = log_weights
    if len(log_derivatives):
        log_value += float(log_derivatives.sum(dim=0).max())
    return context.bound(
        "U3",
        "upper",
        log_value,
        "estimate",
        _sampled_reason("sup", context.n_samples),
        n_samples=context.n_samples,
    )


def _u4(context: _Context) -> Bound:
    if context.layerwise is None:
        return _no_chain("U4", "upper", context)
    layerwise = context.layerwise
    if isinstance(layerwise, OperatorProfile):
        return _operator_upper(
            "U4",
            layerwise.upper_product_of_sups(context.layer),
            " (sup of each stage factor taken separately)",
            context,
        )
    log_weights, log_derivatives = _log_products(
        context, layerwise.log_weight_norms, layerwise.log_derivative_max
    )
    log_value = log_weights
    if len(log_derivatives):
        log_value += float(log_derivatives.max(dim=1).values.sum())
    return context.bound(
        "U4",
        "upper",
        log_value,
        "estimate",
        _sampled_reason("sup", context.n_samples)
        + " (sup of each ||D_k|| taken separately)",
        n_samples=context.n_samples,
    )


def _operator_upper(name: str, log_value: float, detail: str, context) -> Bound:
    methods = context.layerwise.method_summary(context.layer)
    return context.bound(
        name,
        "upper",
        log_value,
        "estimate",
        _sampled_reason("sup", context.n_samples)
        + detail
        + (f"; operator norms {methods}" if methods else ""),
        n_samples=context.n_samples,
    )


def _operator_l3(context: _Context, layerwise: OperatorProfile) -> Bound:
    problem = layerwise.lower_problem(context.layer)
    if problem is not None:
        return context.bound("L3", "lower", None, "not_applicable", problem)
    return context.bound(
        "L3",
        "lower",
        layerwise.lower_inf_of_product(context.layer),
        "estimate",
        _sampled_reason("inf", context.n_samples)
        + "; conditions checked: every operator injective with exact sigma_min, "
        "no vanishing derivative, residual lower bounds positive",
        n_samples=context.n_samples,
    )


def _vacuous_reason(context: _Context) -> str | None:
    width = context.profile.widths[context.layer - 1]
    n = context.profile.n_inputs
    if width < n:
        return f"vacuous: m < n (layer {context.layer} has {width} outputs, {n} inputs)"
    return None


def _l1(value: float, context: _Context, rtol: float, converged: bool) -> Bound:
    bound = _integral_bound("L1", "lower", value, context, rtol, converged)
    reason = _vacuous_reason(context)
    if reason is not None or value == 0.0:
        bound.value, bound.log10_value = 0.0, None
        bound.reason = reason or "vacuous: r(t) = 0 on the path"
        bound.kind = "exact"
    return bound


def _l2(context: _Context) -> Bound:
    bound = _sampled_bound(
        "L2", "lower", context.profile.r[context.layer - 1].min(), context
    )
    reason = _vacuous_reason(context)
    if reason is not None:
        bound.value, bound.log10_value, bound.kind = 0.0, None, "exact"
        bound.reason, bound.n_samples = reason, None
    return bound


def _l3(context: _Context) -> Bound:
    if context.layerwise is None:
        return _no_chain("L3", "lower", context)
    layerwise = context.layerwise
    if isinstance(layerwise, OperatorProfile):
        return _operator_l3(context, layerwise)
    problem = _l3_problem(context, layerwise)
    if problem is not None:
        return context.bound("L3", "lower", None, "not_applicable", problem)
    log_weights, log_derivatives = _log_products(
        context, layerwise.log_weight_sigma_min, layerwise.log_derivative_min
    )
    log_value = log_weights + (
        float(log_derivatives.sum(dim=0).min()) if len(log_derivatives) else 0.0
    )
    return context.bound(
        "L3",
        "lower",
        log_value,
        "estimate",
        _sampled_reason("inf", context.n_samples)
        + "; conditions checked: widths non-decreasing, full column rank, "
        "no vanishing derivative at or between samples",
        n_samples=context.n_samples,
    )


def _l3_problem(context: _Context, layerwise: LayerwiseProfile) -> str | None:
    """Return why L3 does not hold for the map up to this layer, or None."""
    widths = layerwise.widths
    for j in range(1, context.layer + 1):
        if widths[j] < widths[j - 1]:
            return (
                f"not applicable: layer {j} maps R^{widths[j - 1]} to "
                f"R^{widths[j]}, so W_{j} is not injective"
            )
        if layerwise.weight_rank_deficient[j - 1]:
            return f"not applicable: W_{j} is rank deficient"
    for j in range(1, min(context.layer, len(layerwise.derivative_vanishes)) + 1):
        if layerwise.derivative_vanishes[j - 1]:
            return (
                f"not applicable: the activation derivative of layer {j} "
                f"vanishes on the path, so D_{j} is singular there"
            )
    return None


def _lc(layer_length, context: _Context) -> Bound:
    if context.power == 1:
        value = layer_length.polyline
        reason = (
            "polyline through the sample points (chord "
            f"{layer_length.chord:.6g}); a chord is never longer than its arc"
        )
    else:
        value = layer_length.polyline_energy
        reason = "polyline energy sum ||chord||^2 / dt (Cauchy-Schwarz)"
    return Bound(
        "Lc",
        context.layer,
        context.quantity,
        "lower",
        value,
        math.log10(value) if value > 0 else None,
        "certified",
        reason,
    )


def _flag_contradictions(bounds: list[Bound], lengths: LengthResult) -> None:
    """Mark estimates that the measured length contradicts."""
    for bound in bounds:
        if bound.value is None or bound.kind == "not_applicable":
            continue
        layer = lengths.layers[bound.layer]
        measured = layer.length if bound.quantity == "length" else layer.energy
        slack = 10 * lengths.tolerance * measured + 1e-12 * measured
        if bound.direction == "upper" and bound.value < measured - slack:
            bound.reason += "; below the measured value, so not a valid bound here"
        if bound.direction == "lower" and bound.value > measured + slack:
            bound.reason += "; above the measured value, so not a valid bound here"
