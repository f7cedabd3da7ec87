"""Adaptive Gauss-Kronrod quadrature of batched, vector-valued integrands.

The 7-point Gauss and 15-point Kronrod rules are the pair used by QUADPACK's
QK15 (Piessens, de Doncker-Kapenga, Ueberhuber and Kahaner, "QUADPACK",
Springer 1983). On each interval the Kronrod value is the estimate and
``abs(Kronrod - Gauss)`` its error estimate, which is pessimistic for smooth
integrands (the Kronrod rule is exact for polynomials of degree 22, the
Gauss rule for degree 13).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from expressivity.errors import ConfigurationError, NumericalWarning

logger = logging.getLogger(__name__)

# Nodes of the 15-point Kronrod rule on [-1, 1]; odd indices are the Gauss nodes.
_KRONROD_NODES = (
    0.991455371120812639206854697526329,
    0.949107912342758524526189684047851,
    0.864864423359769072789712788640926,
    0.741531185599394439863864773280788,
    0.586087235467691130294144845693013,
    0.405845151377397166906606412076961,
    0.207784955007898467600689403773245,
    0.000000000000000000000000000000000,
)
_KRONROD_WEIGHTS = (
    0.022935322010529224963732008058970,
    0.063092092629978553290700663189204,
    0.104790010322250183839876322541518,
    0.140653259715525918745189590510238,
    0.169004726639267902826583426598550,
    0.190350578064785409913256402421014,
    0.204432940075298892414161999234649,
    0.209482141084727828012999174891714,
)
# Weights of the 7-point Gauss rule at the Kronrod nodes 1, 3, 5, 7 above.
_GAUSS_WEIGHTS = (
    0.129484966168869693270611432679082,
    0.279705391489276667901467771423780,
    0.381830050505118944950369775488975,
    0.417959183673469387755102040816327,
)


def _rule() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the 15 nodes, Kronrod weights and Gauss weights on [-1, 1]."""
    half = torch.tensor(_KRONROD_NODES[:7], dtype=torch.float64)
    nodes = torch.cat([-half, torch.zeros(1, dtype=torch.float64), half.flip(0)])
    kronrod_half = torch.tensor(_KRONROD_WEIGHTS[:7], dtype=torch.float64)
    kronrod = torch.cat(
        [
            kronrod_half,
            torch.tensor([_KRONROD_WEIGHTS[7]], dtype=torch.float64),
            kronrod_half.flip(0),
        ]
    )
    gauss = torch.zeros(15, dtype=torch.float64)
    for position, weight in zip((1, 3, 5), _GAUSS_WEIGHTS[:3], strict=True):
        gauss[position] = weight
        gauss[14 - position] = weight
    gauss[7] = _GAUSS_WEIGHTS[3]
    return nodes, kronrod, gauss


NODES, KRONROD_WEIGHTS, GAUSS_WEIGHTS = _rule()


@dataclass
class QuadratureResult:
    """Integrals of K components with their error estimates.

    Attributes
    ----------
    values
        Integral of each component, shape (K,).
    errors
        Estimated absolute error of each component, shape (K,).
    n_evaluations
        Number of points at which the integrand was evaluated.
    n_intervals
        Number of intervals in the final partition.
    converged
        Whether every component met ``max(rtol * abs(value), atol)``.
    """

    values: torch.Tensor
    errors: torch.Tensor
    n_evaluations: int
    n_intervals: int
    converged: bool


def integrate(
    integrand: Callable[[torch.Tensor], torch.Tensor],
    breakpoints: Sequence[float] = (0.0, 1.0),
    *,
    rtol: float = 1e-6,
    atol: float | torch.Tensor = 0.0,
    initial_pieces: int = 4,
    max_evaluations: int = 1_000_000,
    warn: bool = True,
) -> QuadratureResult:
    """Integrate a batched vector-valued integrand between the outer breakpoints.

    Parameters
    ----------
    integrand
        Maps t of shape (n_points,) (float64) to values of shape
        (K, n_points).
    breakpoints
        Sorted points where the integrand may be non-smooth; no interval
        straddles one.
    rtol, atol
        Stop when every component's total error estimate is at most
        ``max(rtol * abs(value), atol)``; ``atol`` is a scalar or a tensor of
        shape (K,) with one absolute tolerance per component.
    initial_pieces
        Each piece between breakpoints starts split into this many intervals.
    max_evaluations
        Budget of integrand evaluations. When it runs out, the result has
        ``converged=False`` and, with ``warn``, a ``NumericalWarning`` is
        issued.
    warn
        Whether to warn when the tolerance is not met. A non-finite total
        stops the integration at once, with ``converged=False`` and no
        warning, so that the caller can name the component that overflowed.

    Notes
    -----
    Every round evaluates all intervals still open in one batch, accepts the
    partition when the summed error estimates meet the tolerance, and
    otherwise bisects each interval whose error exceeds its share of the
    tolerance (proportional to its width). Accepted intervals are never
    evaluated again.
    """
    atol = torch.as_tensor(atol, dtype=torch.float64)
    if not rtol > 0 and not bool(torch.all(atol > 0)):
        raise ConfigurationError(
            f"tolerance rtol={rtol}, atol={atol.tolist()}: rtol or every atol "
            "must be > 0"
        )
    if initial_pieces < 1:
        raise ConfigurationError(f"initial_pieces must be >= 1, got {initial_pieces}")

    edges = torch.tensor(list(breakpoints), dtype=torch.float64)
    fractions = torch.linspace(0.0, 1.0, initial_pieces + 1, dtype=torch.float64)
    starts = edges[:-1, None] + fractions[:-1] * (edges[1:] - edges[:-1])[:, None]
    ends = edges[:-1, None] + fractions[1:] * (edges[1:] - edges[:-1])[:, None]
    open_lo, open_hi = starts.reshape(-1), ends.reshape(-1)
    total_width = float(edges[-1] - edges[0])

    done_values: torch.Tensor | None = None
    done_errors: torch.Tensor | None = None
    n_evaluations = 0
    n_done = 0

    while True:
        values, errors = _evaluate_intervals(integrand, open_lo, open_hi)
        n_evaluations += 15 * open_lo.numel()

        # Totals over accepted and open intervals, shape (K,).
        total = values.sum(dim=1)
        total_error = errors.sum(dim=1)
        if done_values is not None:
            total = total + done_values
            total_error = total_error + done_errors
        target = torch.maximum(rtol * total.abs(), atol)

        # Refinement cannot repair an overflow, so stop and let the caller
        # report the non-finite component.
        if not bool(torch.isfinite(total).all()):
            converged = False
            warn = False
            break
        if bool(torch.all(total_error <= target)):
            converged = True
            break
        if n_evaluations + 30 * open_lo.numel() > max_evaluations:
            converged = False
            break

        # An interval is split when, for some component, its error exceeds
        # the tolerance scaled by its share of the total width.
        width = open_hi - open_lo
        share = target[:, None] * (width / total_width)[None, :]
        split = torch.any(errors > share, dim=0)
        if not bool(split.any()):
            split = torch.any(errors >= errors.max(dim=1, keepdim=True).values, dim=0)
        too_narrow = width <= 1e-13 * total_width
        split &= ~too_narrow
        if not bool(split.any()):
            converged = False
            break

        keep = ~split
        kept_values = values[:, keep].sum(dim=1)
        kept_errors = errors[:, keep].sum(dim=1)
        done_values = kept_values if done_values is None else done_values + kept_values
        done_errors = kept_errors if done_errors is None else done_errors + kept_errors
        n_done += int(keep.sum())

        lo, hi = open_lo[split], open_hi[split]
        middle = (lo + hi) / 2
        open_lo = torch.cat([lo, middle])
        open_hi = torch.cat([middle, hi])
        logger.debug(
            "quadrature: %d open intervals, %d evaluations",
            open_lo.numel(),
            n_evaluations,
        )

    if not converged and warn:
        relative = total_error / torch.clamp(
            total.abs(), min=torch.finfo(total.dtype).tiny
        )
        warnings.warn(
            f"quadrature stopped after {n_evaluations} evaluations with relative "
            f"error estimate {float(relative.max()):.3g} above "
            f"rtol={rtol}; raise max_evaluations or the tolerance",
            NumericalWarning,
            stacklevel=2,
        )
    return QuadratureResult(
        values=total,
        errors=total_error,
        n_evaluations=n_evaluations,
        n_intervals=n_done + open_lo.numel(),
        converged=converged,
    )


def _evaluate_intervals(
    integrand: Callable[[torch.Tensor], torch.Tensor],
    lo: torch.Tensor,
    hi: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return Kronrod values and error estimates of shape (K, n_intervals)."""
    centre = (lo + hi) / 2
    half = (hi - lo) / 2
    points = centre[:, None] + half[:, None] * NODES[None, :]
    samples = integrand(points.reshape(-1)).to(torch.float64)
    samples = samples.reshape(samples.shape[0], lo.numel(), 15)
    kronrod = (samples * KRONROD_WEIGHTS).sum(dim=2) * half
    gauss = (samples * GAUSS_WEIGHTS).sum(dim=2) * half
    return kronrod, (kronrod - gauss).abs()
