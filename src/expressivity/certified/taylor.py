"""Interval Taylor propagation of a path segment through a chain of layers.

Along the path, u(k)(t) = W_k z(k-1)(t) + b_k and z(k)(t) = phi(u(k)(t)).
Their t-derivatives up to order 3 follow from the chain rule (Faa di Bruno):

    u^(j) = W_k z^(j)(k-1)                                  j >= 1
    z'    = phi'(u) u'
    z''   = phi''(u) u'^2 + phi'(u) u''
    z'''  = phi'''(u) u'^3 + 3 phi''(u) u' u'' + phi'(u) u'''

Evaluated in interval arithmetic over a segment, these give enclosures of
every layer's output and its first three derivatives over the segment.
Interval bound propagation alone overestimates a width by about the factor
abs(W_k) / W_k per layer, so each enclosure of order j < 3 is intersected
with its mean-value form v(t_c) + [-h, h] v^(j+1), using the enclosure at the
segment's centre t_c and the next order; the overestimate then only enters
at order 3, which the length bound multiplies by h^3.

Relu and hard tanh have kinks. A segment on which some pre-activation
interval strictly contains a kink is marked not smooth from that layer on:
its orders 2 and 3 are not used there, and phi' is enclosed by [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from expressivity.certified.interval import (
    LIBM_ULPS,
    Interval,
    affine,
    round_down,
    round_up,
)
from expressivity.errors import NumericalError
from expressivity.models import Activation, LayerChain


@dataclass
class ChainWeights:
    """Float64 weights, biases and activations of a chain.

    Attributes
    ----------
    weights, biases
        W_k of shape (n_k, n_{k-1}) and b_k (or None), k = 1..h.
    activations
        phi after each layer; None for the linear last layer.
    names
        Layer names as the model gives them.
    """

    weights: list[torch.Tensor]
    biases: list[torch.Tensor | None]
    activations: list[Activation | None]
    names: list[str]

    @classmethod
    def from_chain(cls, chain: LayerChain) -> ChainWeights:
        weights, biases = [], []
        for layer in chain.layers:
            weights.append(layer.linear.weight.detach().to(torch.float64))
            bias = layer.linear.bias
            biases.append(None if bias is None else bias.detach().to(torch.float64))
        return cls(
            weights,
            biases,
            [layer.activation for layer in chain.layers],
            [layer.name for layer in chain.layers],
        )

    @property
    def widths(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def entries_per_row(self) -> int:
        """Entries of one segment's enclosure of one order, over all layers."""
        return sum(self.widths)

    def propagate(
        self,
        inputs: list[Interval],
        half_width: torch.Tensor,
        centre: list[LayerJet] | None = None,
    ) -> list[LayerJet]:
        """Run ``propagate`` on this chain."""
        return propagate(self, inputs, half_width, centre)


@dataclass
class LayerJet:
    """Enclosures of one layer over a batch of segments.

    Attributes
    ----------
    pre_jet
        Enclosures of u(k)(t) and its t-derivatives of orders 1, 2, 3, each
        of shape (n_segments, n_k).
    derivative
        Enclosure of phi'(u(k)(t)), or None for the last layer.
    jet
        Enclosures of z(k)(t) and its t-derivatives of orders 1, 2, 3.
    smooth
        Per segment, whether no kink lies in this or an earlier layer, so
        that orders 2 and 3 of ``jet`` are meaningful.
    """

    pre_jet: list[Interval]
    derivative: Interval | None
    jet: list[Interval]
    smooth: torch.Tensor

    @property
    def preactivation(self) -> Interval:
        return self.pre_jet[0]


def activation_jet(
    activation: Activation, u: Interval
) -> tuple[list[Interval], torch.Tensor]:
    """Enclose phi, phi', phi'', phi''' over u; also return the kink crossings.

    Returns
    -------
    values, crossing
        Four intervals and a boolean tensor of shape (n_segments,) that is
        true where some unit's interval strictly contains a kink.
    """
    name = activation.name
    no_crossing = torch.zeros(u.lower.shape[0], dtype=torch.bool)
    if name == "quadratic":
        return [u.square(), u.scale(2.0), _constant(u, 2.0), _constant(u, 0.0)], (
            no_crossing
        )
    if name == "linear":
        return [u, _constant(u, 1.0), _constant(u, 0.0), _constant(u, 0.0)], no_crossing
    if name == "polynomial":
        return _polynomial_jet(activation.coefficients, u), no_crossing
    if name == "tanh":
        return _tanh_jet(u), no_crossing
    if name == "relu":
        return _piecewise_linear_jet(activation, u, (0.0,))
    if name == "hardtanh":
        return _piecewise_linear_jet(activation, u, (-1.0, 1.0))
    raise ValueError(f"no interval form for activation {name!r}")


def _constant(like: Interval, value: float) -> Interval:
    filled = torch.full_like(like.lower, value)
    return Interval(filled, filled.clone())


def _polynomial_jet(coefficients: tuple[float, ...], u: Interval) -> list[Interval]:
    values = []
    current = list(coefficients)
    for _ in range(4):
        values.append(_horner(current, u))
        current = [j * c for j, c in enumerate(current)][1:] or [0.0]
    return values


def _horner(coefficients: list[float], u: Interval) -> Interval:
    result = _constant(u, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        result = (result * u).shift(c)
    return result


def _tanh_jet(u: Interval) -> list[Interval]:
    # tanh is increasing; with T = tanh(u): phi' = 1 - T^2,
    # phi'' = -2 T (1 - T^2), phi''' = (6 T^2 - 2)(1 - T^2).
    tanh = Interval(
        torch.clamp(round_down(torch.tanh(u.lower), LIBM_ULPS), min=-1.0),
        torch.clamp(round_up(torch.tanh(u.upper), LIBM_ULPS), max=1.0),
    )
    square = tanh.square()
    first = _negate(square).shift(1.0)
    first = Interval(torch.clamp(first.lower, min=0.0), first.upper)
    second = (tanh * first).scale(-2.0)
    third = square.scale(6.0).shift(-2.0) * first
    return [tanh, first, second, third]


def _negate(interval: Interval) -> Interval:
    return Interval(-interval.upper, -interval.lower)


def _piecewise_linear_jet(
    activation: Activation, u: Interval, kinks: tuple[float, ...]
):
    # The function is monotone, so its range comes from the end points. On an
    # interval free of kinks phi' is the constant 0 or 1 (read at the
    # midpoint) and phi'' = phi''' = 0; across a kink phi' lies in [0, 1].
    values = Interval(activation(u.lower), activation(u.upper))
    straddles = torch.zeros_like(u.lower, dtype=torch.bool)
    for kink in kinks:
        straddles |= (u.lower < kink) & (u.upper > kink)
    slope = activation.derivative((u.lower + u.upper) * 0.5)
    derivative = Interval(
        torch.where(straddles, torch.zeros_like(slope), slope),
        torch.where(straddles, torch.ones_like(slope), slope),
    )
    zero = _constant(u, 0.0)
    return [values, derivative, zero, _constant(u, 0.0)], straddles.any(dim=1)


def propagate(
    chain: ChainWeights,
    inputs: list[Interval],
    half_width: torch.Tensor,
    centre: list[LayerJet] | None = None,
) -> list[LayerJet]:
    """Enclose every layer's output and its t-derivatives over each segment.

    Parameters
    ----------
    chain
        The network.
    inputs
        Enclosures of x^(j)(t), j = 0..3, over the segments (shape
        (n_segments, n_0) each).
    half_width
        h per segment, shape (n_segments,): every t of the segment is within
        h of its centre t_c. Zero for evaluations at single points.
    centre
        The result of ``propagate`` at the segment centres, for the
        mean-value tightening; None to skip it.

    Raises
    ------
    NumericalError
        When an enclosure is not finite, naming the layer.
    """
    n_rows = inputs[0].lower.shape[0]
    previous = inputs
    previous_smooth = torch.ones(n_rows, dtype=torch.bool)
    results: list[LayerJet] = []
    for k, (weight, bias, activation) in enumerate(
        zip(chain.weights, chain.biases, chain.activations, strict=True)
    ):
        absolute = weight.abs()
        u = [affine(previous[0], weight, bias, absolute)] + [
            affine(previous[j], weight, absolute=absolute) for j in range(1, 4)
        ]
        if centre is not None:
            mask = previous_smooth & _previous_smooth(centre, k)
            u = tighten_jet(u, centre[k].pre_jet, half_width, mask)

        if activation is None:
            jet, derivative, smooth = u, None, previous_smooth
        else:
            phi, crossing = activation_jet(activation, u[0])
            smooth = previous_smooth & ~crossing
            jet = compose_jet(phi, u)
            derivative = phi[1]
            if centre is not None:
                mask = smooth & centre[k].smooth
                jet = tighten_jet(jet, centre[k].jet, half_width, mask)

        for order, interval in enumerate(jet[:2]):
            if not interval.is_finite():
                raise NumericalError(
                    f"non-finite enclosure of the order-{order} derivative at layer "
                    f"{k + 1} ({chain.names[k]}): the values overflow float64; "
                    "use a shorter path or a smaller sigma_w",
                    layer=k + 1,
                )
        results.append(LayerJet(u, derivative, jet, smooth))
        previous, previous_smooth = jet, smooth
    return results


def _previous_smooth(centre: list[LayerJet], k: int) -> torch.Tensor:
    if k == 0:
        return torch.ones(centre[0].smooth.shape[0], dtype=torch.bool)
    return centre[k - 1].smooth


def compose_jet(phi: list[Interval], u: list[Interval]) -> list[Interval]:
    """Return z, z', z'', z''' from phi^(i)(u) and u, u', u'', u'''."""
    u1_square = u[1].square()
    z1 = phi[1] * u[1]
    z2 = phi[2] * u1_square + phi[1] * u[2]
    z3 = (
        phi[3] * (u1_square * u[1])
        + (phi[2] * (u[1] * u[2])).scale(3.0)
        + phi[1] * u[3]
    )
    return [phi[0], z1, z2, z3]


def tighten_jet(
    jet: list[Interval],
    centre_jet: list[Interval],
    half_width: torch.Tensor,
    smooth: torch.Tensor,
) -> list[Interval]:
    """Intersect each order with its mean-value form about the centre.

    v(t) lies in v(t_c) + [-h, h] v'(segment) whenever v is absolutely
    continuous with v' in the enclosure almost everywhere: always for the
    order 0 (every activation is Lipschitz), and for orders 1 and 2 only on
    smooth segments. Orders are tightened from the top down so that each
    uses the already tightened next order.
    """
    tightened = list(jet)
    for order in range(len(jet) - 2, -1, -1):
        if order >= len(centre_jet):
            continue
        mean_value = centre_jet[order] + tightened[order + 1].spread(half_width)
        candidate = tightened[order].intersect(mean_value)
        if order == 0:
            tightened[order] = candidate
        else:
            tightened[order] = candidate.where(smooth, tightened[order])
    return tightened
