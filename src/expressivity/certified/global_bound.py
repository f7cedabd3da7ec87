"""U5: a bound on sup ||J(x)||_2 over a whole input domain, in log space.

For a domain that contains the path (a ball or a box), every layer's
Jacobian satisfies ||J|| <= prod_j ||W_j||_2 sup_x ||D_j(x)|| (the product
of sups, U4 with the path replaced by the domain), so
L(z(k) o x) <= (sup ||J||) L(x) and E(z(k) o x) <= (sup ||J||)^2 E(x).

For activations with a bounded derivative (relu, tanh, hard tanh, linear)
sup ||D_j|| = sup abs(phi') and U5 is the product of spectral norms of the
AutoLip estimate (Virmaux and Scaman, "Lipschitz regularity of deep neural
networks", NeurIPS 2018). For the quadratic and polynomial activations the
pre-activations must be bounded over the domain. Per unit,
m(1)_i = abs(W_1 c + b_1)_i + R ||row_i(W_1)||_2 on a ball of centre c and
radius R (abs(W_1) r for the half-widths r of a box), and for later layers
m(k)_i = min((abs(W_k) p(k-1))_i, ||row_i(W_k)||_2 ||p(k-1)||_2) + abs(b_k)_i
with p(k-1)_j = sum_d abs(c_d) m(k-1)_j^d >= abs(phi(u_j)). Then
sup abs(phi'(u_i)) <= sum_d d abs(c_d) m_i^(d-1); for phi(u) = u^2 the
magnitudes grow like R^(2^(k-1)), so every quantity is kept as its natural
logarithm and combined with logsumexp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from expressivity.certified.enclosure import chain_weights
from expressivity.certified.interval import UNIT_ROUNDOFF
from expressivity.certified.jacobian import weight_norm_upper
from expressivity.errors import ConfigurationError
from expressivity.models import Activation, LayeredModel

# Relative widening of every log-space result: logsumexp of n terms and the
# float64 logarithms each round by a few ulps of the log's magnitude.
_LOG_MARGIN = 64 * UNIT_ROUNDOFF


@dataclass(frozen=True)
class Ball:
    """The ball of ``radius`` about ``centre`` (shape (n,))."""

    centre: torch.Tensor
    radius: float


@dataclass(frozen=True)
class Box:
    """The box lower <= x <= upper, both of shape (n,)."""

    lower: torch.Tensor
    upper: torch.Tensor


@dataclass
class GlobalBound:
    """log10 of a certified bound on sup over the domain of ||J|| for one layer.

    Attributes
    ----------
    layer
        1-based layer index.
    log10_sup_jacobian
        log10 of the bound on sup_x ||J(x)||_2 over the domain.
    log10_derivative_sups
        log10 of the bound on sup ||D_j|| for the hidden layers up to this one.
    """

    layer: int
    log10_sup_jacobian: float
    log10_derivative_sups: list[float]

    def log10_length_bound(self, input_length: float) -> float:
        """log10 of U5 for the length: sup ||J|| times L(x)."""
        return self.log10_sup_jacobian + math.log10(input_length)

    def log10_energy_bound(self, input_energy: float) -> float:
        """log10 of U5 for the energy: (sup ||J||)^2 times E(x)."""
        return 2 * self.log10_sup_jacobian + math.log10(input_energy)


def global_bounds(
    model: nn.Module | LayeredModel, domain: Ball | Box
) -> list[GlobalBound]:
    """Return U5 factors sup_x ||J(x)|| over ``domain`` for every layer, in log10.

    Parameters
    ----------
    model
        A network with a chain structure.
    domain
        A ``Ball`` or ``Box`` in input space.
    """
    chain = chain_weights(model)
    log_magnitude = _first_layer_log_magnitude(chain, domain)
    log_output = log_magnitude

    log_total = 0.0
    derivative_sups: list[float] = []
    results = []
    for k, (weight, bias, activation) in enumerate(
        zip(chain.weights, chain.biases, chain.activations, strict=True)
    ):
        if k > 0:
            log_magnitude = _next_log_magnitude(weight, bias, log_output)
        log_total += math.log(weight_norm_upper(weight))
        if activation is not None:
            log_derivative = _log_derivative_sup(activation, log_magnitude)
            log_total += log_derivative
            derivative_sups.append(_widen(log_derivative) / math.log(10))
            log_output = _log_output_magnitude(activation, log_magnitude)
        results.append(
            GlobalBound(k + 1, _widen(log_total) / math.log(10), list(derivative_sups))
        )
    return results


def _widen(log_value: float) -> float:
    return log_value + _LOG_MARGIN * (1.0 + abs(log_value))


def _first_layer_log_magnitude(chain, domain: Ball | Box) -> torch.Tensor:
    weight, bias = chain.weights[0], chain.biases[0]
    n_inputs = weight.shape[1]
    if isinstance(domain, Ball):
        centre = torch.as_tensor(domain.centre, dtype=torch.float64)
        if not (math.isfinite(domain.radius) and domain.radius >= 0):
            raise ConfigurationError(
                f"ball radius {domain.radius} is invalid; give a finite radius >= 0"
            )
        spread = domain.radius * torch.linalg.vector_norm(weight, dim=1)
    elif isinstance(domain, Box):
        lower = torch.as_tensor(domain.lower, dtype=torch.float64)
        upper = torch.as_tensor(domain.upper, dtype=torch.float64)
        if not bool(torch.all(lower <= upper)):
            raise ConfigurationError("box lower corner exceeds its upper corner")
        centre = (lower + upper) / 2
        spread = weight.abs() @ ((upper - lower) / 2)
    else:
        raise ConfigurationError(
            f"domain must be a Ball or a Box, got {type(domain).__name__}"
        )
    if centre.shape != (n_inputs,):
        raise ConfigurationError(
            f"domain has dimension {centre.numel()} but the network takes "
            f"{n_inputs} inputs"
        )
    image = weight @ centre + (bias if bias is not None else 0.0)
    magnitude = image.abs() + spread
    # Relative rounding of the dot products, as in interval.affine.
    magnitude = magnitude * (1 + 4 * (n_inputs + 2) * UNIT_ROUNDOFF)
    return torch.log(magnitude)


def _next_log_magnitude(weight, bias, log_output: torch.Tensor) -> torch.Tensor:
    log_absolute = torch.log(weight.abs())
    entrywise = torch.logsumexp(log_absolute + log_output[None, :], dim=1)
    row_norms = torch.log(torch.linalg.vector_norm(weight, dim=1))
    output_norm = 0.5 * torch.logsumexp(2 * log_output, dim=0)
    log_magnitude = torch.minimum(entrywise, row_norms + output_norm)
    if bias is not None:
        log_magnitude = torch.logaddexp(log_magnitude, torch.log(bias.abs()))
    return log_magnitude + _LOG_MARGIN * (1.0 + log_magnitude.abs())


def _coefficients(activation: Activation) -> list[float]:
    if activation.name == "quadratic":
        return [0.0, 0.0, 1.0]
    if activation.name == "polynomial":
        return list(activation.coefficients)
    return []


def _log_derivative_sup(activation: Activation, log_magnitude: torch.Tensor) -> float:
    if activation.derivative_sup is not None:
        return math.log(activation.derivative_sup)
    coefficients = _coefficients(activation)
    terms = [
        math.log(d * abs(c)) + (d - 1) * log_magnitude
        for d, c in enumerate(coefficients)
        if d >= 1 and c != 0
    ]
    return float(torch.logsumexp(torch.stack(terms), dim=0).max())


def _log_output_magnitude(
    activation: Activation, log_magnitude: torch.Tensor
) -> torch.Tensor:
    if activation.name in ("relu", "linear"):
        return log_magnitude
    if activation.name in ("tanh", "hardtanh"):
        return torch.minimum(log_magnitude, torch.zeros_like(log_magnitude))
    terms = [
        math.log(abs(c)) + d * log_magnitude
        for d, c in enumerate(_coefficients(activation))
        if c != 0
    ]
    return torch.logsumexp(torch.stack(terms), dim=0)
