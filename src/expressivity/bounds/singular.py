"""Profiles of the extreme singular values of the Jacobian along a path.

For the map from the input to a layer's output, s(t) = ||J(x(t))||_2 is the
largest singular value and r(t) = sigma_n(J(x(t))) the n-th, n the input
dimension, which is 0 whenever the layer has fewer than n outputs.

Jacobians with min(n_k, n) <= ``exact_max_dim`` are formed densely with
``torch.func``, a few points at a time, and reduced with
``torch.linalg.svdvals``: exact to rounding. Larger ones use power iteration
on J^T J through Jacobian-vector and vector-Jacobian products, vmapped over t.
Its s(t) approaches the true value from below and its r(t) from above, so
both are estimates, and a layer whose iteration stops at the iteration cap is
flagged as not converged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch.func import jacfwd, jacrev, jvp, vjp, vmap

from expressivity.length.speed import check_finite
from expressivity.models import LayeredModel
from expressivity.paths import Path

logger = logging.getLogger(__name__)

# A dense 6272 x 784 Jacobian (the first convolution of an MNIST CNN) takes
# about 0.35 s to decompose on one CPU thread, while power iteration for r(t)
# stalls at a few hundred iterations when the small singular values cluster.
EXACT_MAX_DIM = 1024
JACOBIAN_MEMORY_BYTES = 256 * 2**20


@dataclass
class SingularProfile:
    """s(t) and r(t) of every reported layer at the sample parameters t.

    Attributes
    ----------
    t
        Parameters, shape (n_points,).
    s, r
        Largest and n-th singular values, shape (n_layers, n_points); row k
        belongs to the map from the input to the (k+1)-th reported output.
    widths
        Output dimension n_k of each layer.
    n_inputs
        Input dimension n.
    exact
        Per layer, whether s and r come from an exact decomposition of the
        dense jacobian (SVD, or eigenvalues of J J^T where the layer narrows).
    methods
        Per layer, how s and r were computed.
    s_converged, r_converged
        Per layer, whether the power iteration for s (for r) met its
        tolerance at every point; True for exact layers.
    """

    t: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor
    widths: list[int]
    n_inputs: int
    exact: list[bool]
    methods: list[str]
    s_converged: list[bool] = field(default_factory=list)
    r_converged: list[bool] = field(default_factory=list)


def singular_profile(
    layered: LayeredModel,
    path: Path,
    t: torch.Tensor,
    *,
    layers: str = "all",
    exact_max_dim: int = EXACT_MAX_DIM,
    power_iterations: int = 200,
    power_rtol: float = 1e-10,
) -> SingularProfile:
    """Compute s(t) and r(t) for every reported layer, or the output only.

    Parameters
    ----------
    layered
        The model with its reported layers.
    path
        The input curve.
    t
        Parameters at which to evaluate, shape (n_points,).
    layers
        ``all`` for every reported layer, ``output`` for the network output.
    exact_max_dim
        Largest min(n_k, n) for which the Jacobian is formed and decomposed.
    power_iterations, power_rtol
        Iteration budget and relative stopping tolerance of the power method.
    """
    x = path.position(t).to(layered.dtype)
    n_inputs = x.shape[1]
    outputs = _reported_outputs(layered, layers)
    with torch.no_grad():
        widths = [int(o.shape[-1]) for o in outputs(x[:1])]

    small = [min(width, n_inputs) <= exact_max_dim for width in widths]
    s_rows: list[torch.Tensor | None] = [None] * len(widths)
    r_rows: list[torch.Tensor | None] = [None] * len(widths)
    methods = [""] * len(widths)
    s_converged = [True] * len(widths)
    r_converged = [True] * len(widths)

    if any(small):
        dense_layers = [k for k, flag in enumerate(small) if flag]
        s_parts: dict[int, list[torch.Tensor]] = {k: [] for k in dense_layers}
        r_parts: dict[int, list[torch.Tensor]] = {k: [] for k in dense_layers}
        # Each block is decomposed as soon as it is formed, because the
        # Jacobians of a wide layer at every point can exceed the memory (257
        # points of a 784 -> 6272 convolution take 10 GB).
        for block in _dense_jacobian_blocks(outputs, x, widths, layered.names, small):
            for k, jacobian in zip(dense_layers, block, strict=True):
                s_block, r_block, methods[k] = _dense_extremes(
                    jacobian, n_inputs, widths[k]
                )
                s_parts[k].append(s_block)
                r_parts[k].append(r_block)
        for k in dense_layers:
            s_rows[k] = torch.cat(s_parts[k])
            r_rows[k] = torch.cat(r_parts[k])

    for k, width in enumerate(widths):
        if small[k]:
            continue
        power = _power_profile(
            lambda z, k=k: outputs(z)[k],
            x,
            n_inputs,
            width,
            power_iterations,
            power_rtol,
        )
        s_rows[k], r_rows[k], methods[k], s_converged[k], r_converged[k] = power

    return SingularProfile(
        t=t.to(torch.float64),
        s=torch.stack([row.to(torch.float64) for row in s_rows]),
        r=torch.stack([row.to(torch.float64) for row in r_rows]),
        widths=widths,
        n_inputs=n_inputs,
        exact=small,
        methods=methods,
        s_converged=s_converged,
        r_converged=r_converged,
    )


def _reported_outputs(layered: LayeredModel, layers: str):
    if layers == "all":
        return layered.outputs
    if layers == "output":
        return lambda x: (layered.outputs(x)[-1],)
    raise ValueError(f"layers must be 'all' or 'output', got {layers!r}")


def _dense_extremes(
    jacobian: torch.Tensor, n_inputs: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Return s, r and the method for a block of dense (m, n) Jacobians."""
    if width < n_inputs:
        # r is 0 because the rank is at most m < n, and only s is needed:
        # s^2 is the largest eigenvalue of the m x m matrix J J^T, computed to
        # an absolute error of about eps s^2, so s keeps a relative error of
        # about eps at half the SVD's cost.
        gram = jacobian @ jacobian.mT
        largest = torch.linalg.eigvalsh(gram)[:, -1]
        method = "exact: dense jacobian (torch.func) and torch.linalg.eigvalsh of J J^T"
        return (
            largest.clamp_min(0.0).sqrt(),
            torch.zeros(largest.shape[0], dtype=largest.dtype),
            method,
        )
    values = torch.linalg.svdvals(jacobian)
    method = "exact: dense jacobian (torch.func) and torch.linalg.svdvals"
    return values[:, 0], values[:, n_inputs - 1], method


def _dense_jacobian_blocks(outputs, x, widths, names, keep):
    """Yield the Jacobians of the flagged outputs for consecutive blocks of rows of x.

    Only the flagged outputs are differentiated, and the tangents of one
    block take about ``JACOBIAN_MEMORY_BYTES``.
    """
    n_inputs = x.shape[1]
    dense_layers = [k for k, flag in enumerate(keep) if flag]
    dense_width = sum(widths[k] for k in dense_layers)

    # Forward mode costs n JVPs and reverse mode one VJP per output row, so
    # reverse mode wins when the flagged outputs are narrower than the input.
    use_reverse = dense_width < n_inputs
    directions = dense_width if use_reverse else n_inputs
    # Every direction carries a tangent (or cotangent) through every layer,
    # the unflagged ones included, so all widths count towards the memory.
    bytes_per_point = sum(widths) * directions * x.element_size()
    chunk = max(1, JACOBIAN_MEMORY_BYTES // max(bytes_per_point, 1))

    def single(point: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = outputs(point[None])
        return tuple(values[k][0] for k in dense_layers)

    transform = jacrev(single) if use_reverse else jacfwd(single)
    with torch.no_grad():
        for block in torch.split(x, chunk):
            jacobians = vmap(transform)(block)
            # Empty stand-ins keep the layer numbers of the error message.
            by_layer = [torch.empty(0)] * len(widths)
            for k, jacobian in zip(dense_layers, jacobians, strict=True):
                by_layer[k] = jacobian
            check_finite(by_layer, names, "jacobian")
            yield jacobians


def _power_profile(output, x, n_inputs, width, iterations, rtol):
    """Largest singular value by power iteration, smallest by a shifted one.

    Returns s, r, the method and whether the iterations for s and for r met
    ``rtol`` at every point within ``iterations`` steps. The rows of x are
    independent examples, so one jvp and one vjp of the batched map give
    J_i v_i and J_i^T w_i for every row i. The vjp's linearisation at x is
    built once and reused by every iteration.
    """
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        _, pullback = vjp(output, x)

        def batched_gram(points: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
            _, forward = jvp(output, (points,), (vectors,))
            return pullback(forward)[0]

        s_squared, used_s = _power_iterate(
            lambda v: batched_gram(x, v), x, generator, iterations, rtol
        )
        s_converged = used_s < iterations
        if width < n_inputs:
            r = torch.zeros_like(s_squared)
            r_converged = True
            r_method = "r = 0 since n_k < n"
        else:
            # The iteration converges at the rate
            # (s^2 - sigma_{n-1}^2) / (s^2 - sigma_n^2) per step, which is
            # close to 1 when the smallest singular values cluster.
            shift = s_squared[:, None]
            top, used_r = _power_iterate(
                lambda v: shift * v - batched_gram(x, v), x, generator, iterations, rtol
            )
            r = torch.sqrt(torch.clamp(s_squared - top, min=0.0))
            r_converged = used_r < iterations
            steps = _iterations_text(used_r, iterations)
            r_method = f"shifted power iteration ({steps})"
    method = (
        "estimate: power iteration on J^T J via jvp/vjp "
        f"({_iterations_text(used_s, iterations)}); {r_method}"
    )
    if not (s_converged and r_converged):
        logger.warning(
            "power iteration for a jacobian of width %d did not converge in %d "
            "iterations: %s",
            width,
            iterations,
            method,
        )
    s = torch.sqrt(torch.clamp(s_squared, min=0.0))
    return s, r, method, s_converged, r_converged


def _iterations_text(used: int, limit: int) -> str:
    if used < limit:
        return f"{used} iterations"
    return f"not converged in {limit} iterations"


def _power_iterate(apply, x, generator, iterations, rtol):
    """Return the top eigenvalue estimates and the steps used.

    The steps are ``iterations`` when the tolerance was not met.
    """
    # NOTE: the stopping test compares successive Rayleigh quotients, so it
    # also stops when the quotient stagnates inside a tight cluster of
    # eigenvalues. A converged shifted iteration can then still leave r(t)
    # above the true value by up to the width of the cluster.
    vector = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    vector = vector / torch.linalg.vector_norm(vector, dim=1, keepdim=True)
    eigenvalue = torch.zeros(x.shape[0], dtype=x.dtype)
    for step in range(1, iterations + 1):
        image = apply(vector)
        new_eigenvalue = (image * vector).sum(dim=1)
        norm = torch.linalg.vector_norm(image, dim=1, keepdim=True)
        vector = image / torch.clamp(norm, min=torch.finfo(x.dtype).tiny)
        change = (new_eigenvalue - eigenvalue).abs()
        eigenvalue = new_eigenvalue
        if bool(torch.all(change <= rtol * eigenvalue.abs())):
            return eigenvalue, step
    return eigenvalue, iterations
