"""Elementwise activations with the derivative facts the bounds need.

Each activation carries its derivative and, where it exists, the supremum of
``abs(phi')`` over the real line (1 for relu, tanh, hard tanh and linear; none
for polynomials, whose derivative is unbounded and must be evaluated on the
path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from expressivity.errors import ConfigurationError

ACTIVATION_NAMES = ("quadratic", "polynomial", "relu", "tanh", "hardtanh", "linear")


@dataclass(frozen=True)
class Activation:
    """An elementwise activation phi and its derivative.

    Attributes
    ----------
    name
        One of ``ACTIVATION_NAMES``.
    coefficients
        For ``polynomial``: coefficients c_0, c_1, ..., c_d of
        phi(u) = sum_j c_j u^j, lowest degree first. Empty otherwise.
    """

    name: str
    coefficients: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.name not in ACTIVATION_NAMES:
            raise ConfigurationError(
                f"unknown activation {self.name!r}; "
                f"use one of {', '.join(ACTIVATION_NAMES)}"
            )
        if self.name == "polynomial":
            if len(self.coefficients) < 2:
                raise ConfigurationError(
                    f"polynomial activation needs at least two coefficients "
                    f"(c_0, c_1, ...), got {list(self.coefficients)}"
                )
            if all(c == 0 for c in self.coefficients[1:]):
                raise ConfigurationError(
                    "polynomial activation with coefficients "
                    f"{list(self.coefficients)} is constant; give a non-zero "
                    "coefficient of degree >= 1"
                )

    @property
    def degree(self) -> int | None:
        """Polynomial degree of phi, or None when phi is not a polynomial."""
        if self.name == "quadratic":
            return 2
        if self.name == "linear":
            return 1
        if self.name == "polynomial":
            nonzero = [j for j, c in enumerate(self.coefficients) if c != 0]
            return max(nonzero)
        return None

    @property
    def derivative_sup(self) -> float | None:
        """sup over u of abs(phi'(u)), or None where it is unbounded."""
        if self.name in ("relu", "tanh", "hardtanh", "linear"):
            return 1.0
        if self.name == "polynomial" and self.degree == 1:
            return abs(self.coefficients[1])
        return None

    @property
    def is_piecewise_linear(self) -> bool:
        """True for activations whose derivative jumps (relu, hard tanh)."""
        return self.name in ("relu", "hardtanh")

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        if self.name == "quadratic":
            return u * u
        if self.name == "relu":
            return torch.relu(u)
        if self.name == "tanh":
            return torch.tanh(u)
        if self.name == "hardtanh":
            return torch.clamp(u, -1.0, 1.0)
        if self.name == "linear":
            return u
        return _polyval(self.coefficients, u)

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        """phi'(u), elementwise.

        At the kinks of relu (u = 0) and hard tanh (u = +-1) this returns the
        one-sided derivative 0, which matches what autograd returns there.
        """
        if self.name == "quadratic":
            return 2.0 * u
        if self.name == "relu":
            return (u > 0).to(u.dtype)
        if self.name == "tanh":
            return 1.0 - torch.tanh(u) ** 2
        if self.name == "hardtanh":
            return ((u > -1.0) & (u < 1.0)).to(u.dtype)
        if self.name == "linear":
            return torch.ones_like(u)
        derived = tuple(j * c for j, c in enumerate(self.coefficients))[1:]
        return _polyval(derived, u)

    def to_dict(self) -> dict:
        out: dict = {"name": self.name}
        if self.coefficients:
            out["coefficients"] = list(self.coefficients)
        return out


def _polyval(coefficients: Sequence[float], u: torch.Tensor) -> torch.Tensor:
    # Horner's rule, highest degree first.
    result = torch.full_like(u, float(coefficients[-1]))
    for c in reversed(coefficients[:-1]):
        result = result * u + c
    return result


def make_activation(
    name: str, coefficients: Sequence[float] | None = None
) -> Activation:
    """Build an activation from its name (case-insensitive, ``-`` or ``_`` ignored).

    ``hard-tanh`` and ``hard_tanh`` are accepted for ``hardtanh``, ``square``
    for ``quadratic``, ``identity`` for ``linear``.
    """
    key = name.strip().lower().replace("-", "").replace("_", "")
    aliases = {"square": "quadratic", "identity": "linear", "poly": "polynomial"}
    key = aliases.get(key, key)
    if key != "polynomial" and coefficients:
        raise ConfigurationError(
            f"coefficients {list(coefficients)} given for activation {name!r}; "
            "coefficients apply only to 'polynomial'"
        )
    return Activation(key, tuple(float(c) for c in (coefficients or ())))
