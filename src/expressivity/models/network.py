"""Fully connected networks built from a specification.

Notation follows the usual convention for depth-h networks::

    u(1) = W1 x + b1,        z(1) = phi(u(1))
    u(k) = Wk z(k-1) + bk,   z(k) = phi(u(k))      k = 2 .. h-1
    f(x) = Wh z(h-1) + bh                           (the last layer is linear)

with Wk of shape (n_k, n_{k-1}), stored as the weight of ``torch.nn.Linear``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.models.activations import Activation, make_activation

INIT_SCHEMES = ("normal", "he", "glorot", "lecun")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture and initialisation of a fully connected network.

    Attributes
    ----------
    widths
        Layer widths (n_0, n_1, ..., n_h): input dimension, hidden widths,
        output dimension. At least two entries.
    activation
        Activation name (see ``ACTIVATION_NAMES``).
    coefficients
        Polynomial coefficients c_0, c_1, ... for ``activation="polynomial"``.
    bias
        Whether the layers have biases.
    init
        ``normal`` draws Wk entries from N(0, sigma_w^2 / n_{k-1}) and bk
        entries from N(0, sigma_b^2). ``he`` (sigma_w^2 = 2), ``lecun``
        (sigma_w^2 = 1) and ``glorot`` (variance 2 / (n_{k-1} + n_k)) replace
        the weight variance; biases still use sigma_b.
    sigma_w, sigma_b
        Standard deviations of the ``normal`` scheme.
    seed
        Seed of the generator that draws the weights.
    dtype
        ``float32`` or ``float64``.
    """

    widths: tuple[int, ...]
    activation: str = "quadratic"
    coefficients: tuple[float, ...] = field(default=())
    bias: bool = True
    init: str = "normal"
    sigma_w: float = 1.0
    sigma_b: float = 0.0
    seed: int = 0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        validate_widths(self.widths)
        make_activation(self.activation, self.coefficients)
        if self.init not in INIT_SCHEMES:
            raise ConfigurationError(
                f"unknown initialisation {self.init!r}; "
                f"use one of {', '.join(INIT_SCHEMES)}"
            )
        for label, value in (("sigma_w", self.sigma_w), ("sigma_b", self.sigma_b)):
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(
                    f"{label} must be a finite number >= 0, got {value}"
                )
        resolve_dtype(self.dtype)

    def to_dict(self) -> dict:
        return {
            "widths": list(self.widths),
            "activation": self.activation,
            "coefficients": list(self.coefficients),
            "bias": self.bias,
            "init": self.init,
            "sigma_w": self.sigma_w,
            "sigma_b": self.sigma_b,
            "seed": self.seed,
            "dtype": self.dtype,
        }


def validate_widths(widths: Sequence[int]) -> None:
    """Raise ConfigurationError unless widths has >= 2 positive integers."""
    if len(widths) < 2:
        raise ConfigurationError(
            f"widths {list(widths)} must list at least the input and output "
            "dimension, for example 64,64,10"
        )
    for position, width in enumerate(widths):
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ConfigurationError(
                f"width {width!r} at position {position} of {list(widths)} is "
                "invalid; every width must be a positive integer"
            )


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """Map ``float32``/``float64`` (or a torch dtype) to a torch dtype."""
    if isinstance(name, torch.dtype):
        if name in DTYPES.values():
            return name
        raise ConfigurationError(
            f"dtype {name} is not supported; use float32 or float64"
        )
    if name not in DTYPES:
        raise ConfigurationError(
            f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}"
        )
    return DTYPES[name]


class ActivationModule(nn.Module):
    """``torch.nn.Module`` wrapper of an ``Activation``."""

    def __init__(self, activation: Activation) -> None:
        super().__init__()
        self.activation = activation

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.activation(u)

    def extra_repr(self) -> str:
        return self.activation.name


class FullyConnected(nn.Module):
    """Fully connected network with one activation and a linear last layer.

    Parameters
    ----------
    linears
        The affine layers W1, ..., Wh as ``torch.nn.Linear`` modules.
    activation
        Activation applied after every layer but the last.
    """

    def __init__(self, linears: Sequence[nn.Linear], activation: Activation) -> None:
        super().__init__()
        if len(linears) < 1:
            raise ConfigurationError("a network needs at least one linear layer")
        self.linears = nn.ModuleList(linears)
        self.activation = ActivationModule(activation)

    @property
    def widths(self) -> list[int]:
        """Layer widths (n_0, ..., n_h)."""
        first = self.linears[0]
        return [first.in_features] + [layer.out_features for layer in self.linears]

    @property
    def depth(self) -> int:
        """Number of affine layers h."""
        return len(self.linears)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_outputs(x)[-1]

    def layer_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return (z(1), ..., z(h-1), f(x)) for inputs x of shape (..., n_0)."""
        outputs = []
        z = x
        for index, linear in enumerate(self.linears):
            u = linear(z)
            z = u if index == len(self.linears) - 1 else self.activation(u)
            outputs.append(z)
        return tuple(outputs)


def build_network(spec: NetworkSpec) -> FullyConnected:
    """Draw a random network from ``spec`` with its own seeded generator."""
    activation = make_activation(spec.activation, spec.coefficients)
    dtype = resolve_dtype(spec.dtype)
    generator = torch.Generator().manual_seed(spec.seed)

    linears = []
    for fan_in, fan_out in zip(spec.widths[:-1], spec.widths[1:], strict=True):
        linear = nn.Linear(fan_in, fan_out, bias=spec.bias, dtype=dtype)
        weight_std = _weight_std(spec, fan_in, fan_out)
        with torch.no_grad():
            linear.weight.copy_(
                torch.randn(fan_out, fan_in, generator=generator, dtype=dtype)
                * weight_std
            )
            if linear.bias is not None:
                linear.bias.copy_(
                    torch.randn(fan_out, generator=generator, dtype=dtype)
                    * spec.sigma_b
                )
        linears.append(linear)
    return FullyConnected(linears, activation)


def _weight_std(spec: NetworkSpec, fan_in: int, fan_out: int) -> float:
    if spec.init == "he":
        return math.sqrt(2.0 / fan_in)
    if spec.init == "lecun":
        return math.sqrt(1.0 / fan_in)
    if spec.init == "glorot":
        return math.sqrt(2.0 / (fan_in + fan_out))
    return spec.sigma_w / math.sqrt(fan_in)
