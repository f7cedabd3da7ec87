"""Certified bounds on ||J(x)||_2 and sigma_n(J(x)) over a path segment.

J is the Jacobian of the map from the input to a layer's output,
J = D_k W_k ... D_1 W_1 (without D for the linear last layer), with
D_j = diag(phi'(u(j))). Given enclosures of every phi'(u(j)) over a segment
(``LayerJet.derivative``), three upper bounds on sup ||J||_2 hold:

* layerwise: prod_j ||W_j||_2 max_i abs(phi'(u_i(j))) (certified U3 factor);
* elementwise: abs(J) <= M = Dmax_k abs(W_k) ... Dmax_1 abs(W_1) entrywise,
  so ||J||_2 <= ||M||_2 = sqrt(rho(M^T M)), and for the non-negative matrix
  M^T M and any positive vector x, rho(M^T M) <= max_i (M^T M x)_i / x_i
  (Collatz-Wielandt), which needs matrix-vector products only;
* centred: the interval matrix product gives J in [J_c - J_r, J_c + J_r],
  so ||J||_2 <= ||J_c||_2 + ||J_r||_2 and
  sigma_n(J) >= sigma_n(J_c) - ||J_r||_2 (Weyl's inequality).

Singular values of a float matrix come from LAPACK (``torch.linalg.svdvals``),
whose backward-stable SVD returns them with an absolute error of at most
p(m, n) u ||A||_2 for a modest polynomial p (Demmel, "Applied Numerical
Linear Algebra", 1997, section 5.2.1); they are widened by
``SVD_MARGIN_FACTOR`` max(m, n) u ||A||_2, an assumption stated in the result.
"""

from __future__ import annotations

import math

import torch

from expressivity.certified.interval import UNIT_ROUNDOFF, gamma, round_down, round_up
from expressivity.certified.taylor import ChainWeights, LayerJet

SVD_MARGIN_FACTOR = 16.0


def svd_margin(rows: int, columns: int) -> float:
    """Relative (to ||A||_2) widening of LAPACK singular values."""
    return SVD_MARGIN_FACTOR * max(rows, columns) * UNIT_ROUNDOFF


def weight_norm_upper(weight: torch.Tensor) -> float:
    """Certified upper bound on ||W||_2 (see ``svd_margin``)."""
    largest = float(torch.linalg.svdvals(weight)[0])
    return largest * (1.0 + svd_margin(*weight.shape)) + torch.finfo(torch.float64).tiny


def layerwise_log_sup(chain: ChainWeights, jets: list[LayerJet]) -> torch.Tensor:
    """log of prod_{j<=k} ||W_j|| max_i abs(phi'(u_i(j))), shape (h, n_segments).

    Row k - 1 bounds ||J|| for the map to layer k's output, the derivative
    factor of layer k included for hidden layers.
    """
    n_rows = jets[0].preactivation.lower.shape[0]
    total = torch.zeros(n_rows, dtype=torch.float64)
    rows = []
    for weight, jet in zip(chain.weights, jets, strict=True):
        total = total + math.log(weight_norm_upper(weight))
        if jet.derivative is not None:
            largest = jet.derivative.magnitude.max(dim=1).values
            total = total + torch.log(round_up(largest))
        rows.append(round_up(total.clone(), 4.0))
    return torch.stack(rows)


def elementwise_sup(
    chain: ChainWeights, jets: list[LayerJet], iterations: int = 2
) -> torch.Tensor:
    """Collatz-Wielandt bound on ||Dmax abs(W) ... Dmax abs(W)||_2 per layer.

    Returns
    -------
    torch.Tensor
        Shape (h, n_segments); row k - 1 is the bound for layer k.
    """
    absolute = [w.abs() for w in chain.weights]
    scales = [None if j.derivative is None else j.derivative.magnitude for j in jets]
    n_rows = jets[0].preactivation.lower.shape[0]
    n_inputs = chain.widths[0]
    widest = max(chain.widths)
    rows = []
    for k in range(1, chain.depth + 1):
        vector = torch.ones(n_rows, n_inputs, dtype=torch.float64)
        ratio = torch.zeros(n_rows, dtype=torch.float64)
        for _ in range(max(iterations, 1)):
            image = vector
            for j in range(k):
                image = image @ absolute[j].T
                if scales[j] is not None:
                    image = image * scales[j]
            for j in range(k - 1, -1, -1):
                if scales[j] is not None:
                    image = image * scales[j]
                image = image @ absolute[j]
            ratio = (image / vector).max(dim=1).values
            peak = image.max(dim=1, keepdim=True).values
            safe_peak = torch.where(peak > 0, peak, torch.ones_like(peak))
            vector = torch.clamp(image / safe_peak, min=1e-30)
        # Each of the 2k products and 2k scalings rounds by at most gamma.
        ratio = ratio * (1.0 + 4 * k * gamma(widest + 2))
        rows.append(round_up(torch.sqrt(round_up(ratio)), 4.0))
    return torch.stack(rows)


def centred_jacobians(
    chain: ChainWeights, jets: list[LayerJet]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Interval Jacobians [J_c - J_r, J_c + J_r] of every layer over each segment.

    Returns
    -------
    list of (J_c, J_r)
        One pair per layer, each of shape (n_segments, n_k, n_0).
    """
    n_rows = jets[0].preactivation.lower.shape[0]
    n_inputs = chain.widths[0]
    centre = torch.eye(n_inputs, dtype=torch.float64).expand(n_rows, -1, -1)
    radius = torch.zeros_like(centre)
    result = []
    for weight, jet in zip(chain.weights, jets, strict=True):
        n = weight.shape[1]
        absolute = weight.abs()
        product = weight @ centre
        spread = absolute @ radius + gamma(n + 2) * (absolute @ centre.abs())
        spread = spread * (1.0 + 2 * gamma(n + 2))
        centre, radius = product, spread
        if jet.derivative is not None:
            middle = (jet.derivative.lower + jet.derivative.upper) * 0.5
            half = round_up(
                torch.maximum(
                    jet.derivative.upper - middle, middle - jet.derivative.lower
                )
            )
            scaled = middle[:, :, None] * centre
            radius = round_up(
                middle.abs()[:, :, None] * radius
                + half[:, :, None] * (centre.abs() + radius)
                + 2 * UNIT_ROUNDOFF * scaled.abs(),
                4.0,
            )
            centre = scaled
        result.append((centre, radius))
    return result


def nonnegative_norm_upper(matrix: torch.Tensor, iterations: int = 4) -> torch.Tensor:
    """Collatz-Wielandt upper bound on ||A||_2 for batched A >= 0 entrywise."""
    rows, columns = matrix.shape[-2:]
    vector = torch.ones(matrix.shape[0], columns, 1, dtype=torch.float64)
    ratio = torch.zeros(matrix.shape[0], dtype=torch.float64)
    transpose = matrix.transpose(1, 2)
    for _ in range(iterations):
        image = transpose @ (matrix @ vector)
        ratio = (image / vector).amax(dim=(1, 2))
        peak = image.amax(dim=(1, 2), keepdim=True)
        safe_peak = torch.where(peak > 0, peak, torch.ones_like(peak))
        vector = torch.clamp(image / safe_peak, min=1e-30)
    ratio = ratio * (1.0 + 4 * gamma(max(rows, columns) + 2))
    return round_up(torch.sqrt(round_up(ratio)), 4.0)


def centred_bounds(
    centre: torch.Tensor, radius: torch.Tensor, n_inputs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper bound on ||J||_2 and lower bound on sigma_n(J) per segment.

    The lower bound is 0 where the layer has fewer outputs than inputs
    (sigma_n = 0) or where the interval matrix may contain singular matrices.
    """
    rows, columns = centre.shape[-2:]
    values = torch.linalg.svdvals(centre)
    margin = svd_margin(rows, columns) * values[:, 0]
    spread = nonnegative_norm_upper(radius)
    upper = round_up(values[:, 0] + margin + spread, 4.0)
    if rows < n_inputs:
        return upper, torch.zeros_like(upper)
    lower = round_down(values[:, n_inputs - 1] - margin - spread, 4.0)
    return upper, torch.clamp(lower, min=0.0)
