"""Profiles of the extreme singular values of the Jacobian along a path.

For the map from the input to a layer's output, s(t) = ||J(x(t))||_2 is the
largest singular value and r(t) = sigma_n(J(x(t))) the n-th, n the input
dimension, which is 0 whenever the layer has fewer than n outputs.

Small Jacobians (min(n_k, n) <= ``exact_max_dim``) are formed densely with
``torch.func`` and reduced with ``torch.linalg.svdvals``: exact to rounding.
Larger ones use power iteration on J^T J through Jacobian-vector and
vector-Jacobian products, vmapped over t; its result approaches s(t) from
below and is labelled an estimate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch.func import jacfwd, jacrev, jvp, vjp, vmap

from expressivity.length.speed import check_finite
from expressivity.models import LayeredModel
from expressivity.paths import Path

logger = logging.getLogger(__name__)

EXACT_MAX_DIM = 256
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
    """

    t: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor
    widths: list[int]
    n_inputs: int
    exact: list[bool]
    methods: list[str]


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

    if any(small):
        jacobians = _dense_jacobians(outputs, x, widths, layered.names, small)
        for k, jacobian in enumerate(jacobians):
            if jacobian is None:
                continue
            if widths[k] < n_inputs:
                # r is 0 because the rank is at most m < n, and only s is
                # needed: s^2 is the largest eigenvalue of the m x m matrix
                # J J^T, computed to an absolute error of about eps s^2, so s
                # keeps a relative error of about eps at half the SVD's cost.
                gram = jacobian @ jacobian.mT
                largest = torch.linalg.eigvalsh(gram)[:, -1]
                s_rows[k] = largest.clamp_min(0.0).sqrt()
                r_rows[k] = torch.zeros(largest.shape[0], dtype=largest.dtype)
                methods[k] = (
                    "exact: dense jacobian (torch.func) and torch.linalg.eigvalsh "
                    "of J J^T"
                )
                continue
            values = torch.linalg.svdvals(jacobian)
            s_rows[k] = values[:, 0]
            r_rows[k] = _nth_singular(values, n_inputs, widths[k])
            methods[k] = "exact: dense jacobian (torch.func) and torch.linalg.svdvals"

    for k, width in enumerate(widths):
        if small[k]:
            continue
        s_rows[k], r_rows[k], methods[k] = _power_profile(
            lambda z, k=k: outputs(z)[k],
            x,
            n_inputs,
            width,
            power_iterations,
            power_rtol,
        )

    return SingularProfile(
        t=t.to(torch.float64),
        s=torch.stack([row.to(torch.float64) for row in s_rows]),
        r=torch.stack([row.to(torch.float64) for row in r_rows]),
        widths=widths,
        n_inputs=n_inputs,
        exact=small,
        methods=methods,
    )


def _reported_outputs(layered: LayeredModel, layers: str):
    if layers == "all":
        return layered.outputs
    if layers == "output":
        return lambda x: (layered.outputs(x)[-1],)
    raise ValueError(f"layers must be 'all' or 'output', got {layers!r}")


def _nth_singular(values: torch.Tensor, n_inputs: int, width: int) -> torch.Tensor:
    # sigma_n of an (m, n) matrix is 0 when m < n: its rank is at most m.
    if width < n_inputs:
        return torch.zeros(values.shape[0], dtype=values.dtype)
    return values[:, n_inputs - 1]


def _dense_jacobians(outputs, x, widths, names, keep) -> list[torch.Tensor | None]:
    """Jacobians of the outputs flagged in ``keep`` at every row of x, else None.

    Only the flagged outputs are differentiated, because a wide layer's
    Jacobian at every point can exceed the memory (for example 257 points
    of a 784 -> 6272 convolution take 10 GB).
    """
    n_inputs = x.shape[1]
    kept = [k for k, flag in enumerate(keep) if flag]
    kept_width = sum(widths[k] for k in kept)

    # Forward mode costs n JVPs and reverse mode one VJP per output row, so
    # reverse mode wins when the flagged outputs are narrower than the input.
    use_reverse = kept_width < n_inputs
    directions = kept_width if use_reverse else n_inputs
    # Every direction carries a tangent (or cotangent) through every layer,
    # the unflagged ones included, so all widths count towards the memory.
    bytes_per_point = sum(widths) * directions * x.element_size()
    chunk = max(1, JACOBIAN_MEMORY_BYTES // max(bytes_per_point, 1))

    def single(point: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = outputs(point[None])
        return tuple(values[k][0] for k in kept)

    transform = jacrev(single) if use_reverse else jacfwd(single)
    pieces: list[tuple[torch.Tensor, ...]] = []
    with torch.no_grad():
        for block in torch.split(x, chunk):
            jacobians = vmap(transform)(block)
            # Empty stand-ins keep the layer numbers of the error message.
            by_layer = [torch.empty(0)] * len(widths)
            for k, jacobian in zip(kept, jacobians, strict=True):
                by_layer[k] = jacobian
            check_finite(by_layer, names, "jacobian")
            pieces.append(jacobians)
    result: list[torch.Tensor | None] = [None] * len(widths)
    for k, parts in zip(kept, zip(*pieces, strict=True), strict=True):
        result[k] = torch.cat(parts)
    return result


def _power_profile(output, x, n_inputs, width, iterations, rtol):
    """Largest singular value by power iteration, smallest by a shifted one.

    The rows of x are independent examples, so one jvp and one vjp of the
    batched map give J_i v_i and J_i^T w_i for every row i. The vjp's
    linearisation at x is built once and reused by every iteration.
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
        if width < n_inputs:
            r = torch.zeros_like(s_squared)
            r_method = "r = 0 since n_k < n"
        else:
            shift = s_squared[:, None]
            top, used_r = _power_iterate(
                lambda v: shift * v - batched_gram(x, v), x, generator, iterations, rtol
            )
            r = torch.sqrt(torch.clamp(s_squared - top, min=0.0))
            r_method = f"shifted power iteration ({used_r} iterations)"
    method = (
        f"estimate: power iteration on J^T J via jvp/vjp ({used_s} iterations); "
        + r_method
    )
    logger.info("power iteration used for a jacobian of width %d", width)
    return torch.sqrt(torch.clamp(s_squared, min=0.0)), r, method


def _power_iterate(apply, x, generator, iterations, rtol):
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
