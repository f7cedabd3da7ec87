"""Per-layer factors of the product bounds: weight norms and activation derivatives.

For a chain f = W_h D_{h-1} W_{h-1} ... D_1 W_1 (Jacobian form), with
D_k(x) = diag(phi'(u(k)(x))):

* ||W_k||_2 and sigma_min(W_k) come from ``torch.linalg.svdvals``;
* ||D_k(x(t))||_2 = max_i abs(phi'(u_i(k)(x(t)))), which for the quadratic
  activation is 2 max_i abs(u_i(k));
* sigma_min(D_k(x(t))) = min_i abs(phi'(u_i(k)(x(t)))).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from expressivity.length.speed import check_finite
from expressivity.models import LayerChain
from expressivity.paths import Path


@dataclass
class LayerwiseProfile:
    """Factors of the product bounds at the sample parameters t.

    Attributes
    ----------
    widths
        (n_0, ..., n_h).
    log_weight_norms
        log ||W_k||_2 for k = 1..h, shape (h,).
    log_weight_sigma_min
        log sigma_min(W_k), shape (h,); -inf where W_k has fewer rows than
        columns or is rank deficient.
    weight_rank_deficient
        Per layer, whether sigma_min(W_k) <= max(n_k, n_{k-1}) * eps * ||W_k||.
    log_derivative_max, log_derivative_min
        log max_i abs(phi'(u_i(k))) and log min_i abs(phi'(u_i(k))) for the
        hidden layers k = 1..h-1, shape (h-1, n_points).
    derivative_vanishes
        Per hidden layer, whether phi'(u_i(k)) is 0 at a sample or changes
        sign between consecutive samples for some unit i.
    """

    widths: list[int]
    log_weight_norms: torch.Tensor
    log_weight_sigma_min: torch.Tensor
    weight_rank_deficient: list[bool]
    log_derivative_max: torch.Tensor
    log_derivative_min: torch.Tensor
    derivative_vanishes: list[bool]


def layerwise_profile(
    chain: LayerChain, path: Path, t: torch.Tensor
) -> LayerwiseProfile:
    """Evaluate the per-layer factors of the product bounds along the path."""
    log_norms, log_sigma_min, deficient = [], [], []
    for layer in chain.layers:
        weight = layer.weight.to(torch.float64)
        values = torch.linalg.svdvals(weight)
        log_norms.append(math.log(float(values[0])) if values[0] > 0 else -math.inf)
        rows, columns = weight.shape
        tolerance = max(rows, columns) * torch.finfo(weight.dtype).eps * values[0]
        is_deficient = rows < columns or bool(values[columns - 1] <= tolerance)
        deficient.append(bool(rows >= columns and is_deficient))
        smallest = float(values[columns - 1]) if rows >= columns else 0.0
        log_sigma_min.append(
            math.log(smallest) if smallest > 0 and not is_deficient else -math.inf
        )

    dtype = chain.layers[0].linear.weight.dtype
    x = path.position(t).to(dtype)
    with torch.no_grad():
        preactivations, _ = chain.forward_all(x)
    names = [layer.name for layer in chain.layers]
    check_finite(preactivations, names, "pre-activation")

    log_max, log_min, vanishes = [], [], []
    for layer, u in zip(chain.layers[:-1], preactivations[:-1], strict=True):
        derivative = layer.activation.derivative(u.to(torch.float64))
        magnitude = derivative.abs()
        log_max.append(torch.log(magnitude.max(dim=1).values))
        log_min.append(torch.log(magnitude.min(dim=1).values))
        sign_change = (derivative[1:] * derivative[:-1] < 0).any()
        vanishes.append(bool((magnitude == 0).any() or sign_change))

    n_points = t.numel()
    empty = torch.zeros(0, n_points, dtype=torch.float64)
    return LayerwiseProfile(
        widths=list(chain.widths),
        log_weight_norms=torch.tensor(log_norms, dtype=torch.float64),
        log_weight_sigma_min=torch.tensor(log_sigma_min, dtype=torch.float64),
        weight_rank_deficient=deficient,
        log_derivative_max=torch.stack(log_max) if log_max else empty,
        log_derivative_min=torch.stack(log_min) if log_min else empty,
        derivative_vanishes=vanishes,
    )
