"""Spectral norms and smallest singular values of linear operators, convolutions first.

A convolution layer acting on inputs of one fixed shape is a linear map
A: R^(c_in x H x W) -> R^(c_out x H' x W'); its operator norm depends on the
input size, stride, padding and dilation, not on the kernel alone. The norm of
the kernel reshaped into a (c_out, c_in k^2) matrix is not the operator norm
and is never used here as a bound.

Methods, each for the operator on the actual input shape:

* dense: apply A to the basis vectors, then ``torch.linalg.svdvals``; exact to
  rounding, affordable for small operators only.
* power iteration on A^T A, with the adjoint through ``torch.func.vjp``:
  ||A v|| for a unit vector v never exceeds ||A||, so the result approaches the
  norm from below and is an estimate.
* Fourier symbol: write the strided, dilated convolution in polyphase form, a
  stride-1 convolution from c_in prod(s) input phases. With zero padding it is
  a restriction of a circular convolution on a grid of N points per axis, large
  enough that nothing wraps around, so ||A|| <= max_omega ||K(omega)||_2 over
  that grid. With circular padding and 2p = d(k - 1), H divisible by s, A is
  the circular convolution itself and its singular values are exactly those of
  the matrices K(omega) (Sedghi, Gupta and Long, "The singular values of
  convolutional layers", ICLR 2019, Theorem 6).
* Gram iteration on the symbol matrices: sigma_1(M) <= ||G_t||_F^(1 / 2^t) with
  G_0 = M, G_(t+1) = G_t^H G_t, a certified upper bound that converges to
  sigma_1 (Delattre, Barthelemy, Araujo and Allauzen, "Efficient bound of
  Lipschitz constant for convolutional layers by Gram iteration", ICML 2023).
* Schur test: ||A|| <= sqrt(||B||_1 ||B||_inf) for any entrywise B >= |A|, here
  the same layer with |w|; valid for every padding mode, looser.

Certified bounds are computed in float64 and widened by the relative margin
``CERTIFIED_MARGIN`` to cover rounding.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import vjp

# Rounding in an FFT of N points and t Gram steps on p x p matrices is of
# order (log N + t p) * 1e-16 relative; 1e-9 covers it with a wide margin.
CERTIFIED_MARGIN = 1e-9
DENSE_MAX_ENTRIES = 2**22
GRAM_ITERATIONS = 12

LinearMap = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PowerIteration:
    """Result of power iteration on A^T A.

    Attributes
    ----------
    value
        ||A v|| for the final unit vector v: at most ||A||, an estimate.
    iterations
        Products A^T A v evaluated.
    converged
        Whether ``residual`` fell to the tolerance.
    residual
        ||A^T A v - value^2 v|| / value^2 at the final v.
    """

    value: float
    iterations: int
    converged: bool
    residual: float


@dataclass
class OperatorNorms:
    """Extreme singular values of one linear operator on a fixed input shape.

    Attributes
    ----------
    upper
        An upper bound on ||A||_2: exact to rounding when ``exact``, else
        certified.
    sigma_min
        The n-th singular value (n the input dimension), exact to rounding,
        or None where it was not computed; 0 when A is not injective.
    exact
        Whether ``upper`` is the norm itself rather than a bound.
    method
        How the figures were computed.
    """

    upper: float
    sigma_min: float | None
    exact: bool
    method: str


# Generic linear maps -------------------------------------------------------


def dense_matrix(
    apply: LinearMap, input_shape: Sequence[int], dtype=torch.float64
) -> torch.Tensor:
    """Return the matrix of a linear map by applying it to every basis vector.

    ``apply`` takes a batch of shape (batch, *input_shape); the result has
    shape (n_out, n_in) with columns A e_i, in row-major order of the shapes.
    """
    n_in = math.prod(input_shape)
    columns = []
    with torch.no_grad():
        for block in torch.split(torch.eye(n_in, dtype=dtype), 1024):
            images = apply(block.reshape(-1, *input_shape))
            columns.append(images.reshape(block.shape[0], -1))
    return torch.cat(columns).T


def power_iteration(
    apply: LinearMap,
    input_shape: Sequence[int],
    *,
    dtype=torch.float64,
    max_iterations: int = 1000,
    rtol: float = 1e-6,
    seed: int = 0,
) -> PowerIteration:
    """Estimate ||A||_2 by power iteration on A^T A, the adjoint through vjp.

    Stops when the residual ||A^T A v - sigma^2 v|| / sigma^2 is at most
    ``rtol``: then sigma^2 is within that relative distance of an eigenvalue
    of A^T A (the largest one unless v started orthogonal to its
    eigenvector). Each step costs one application of A and one of its adjoint.
    """
    generator = torch.Generator().manual_seed(seed)
    vector = torch.randn((1, *input_shape), generator=generator, dtype=dtype)
    vector = vector / torch.linalg.vector_norm(vector)
    value, residual = 0.0, math.inf

    # torch.func.vjp differentiates with respect to its inputs even under
    # no_grad, which only stops a graph being built for the layer's weights.
    with torch.no_grad():
        for step in range(1, max_iterations + 1):
            image, pullback = vjp(apply, vector)
            value = float(torch.linalg.vector_norm(image))
            if value == 0.0:
                return PowerIteration(0.0, step, True, 0.0)
            gram_image = pullback(image)[0]
            residual = float(
                torch.linalg.vector_norm(gram_image - value**2 * vector) / value**2
            )
            if residual <= rtol:
                return PowerIteration(value, step, True, residual)
            vector = gram_image / torch.linalg.vector_norm(gram_image)
    return PowerIteration(value, max_iterations, False, residual)


def schur_bound(
    absolute_apply: LinearMap, input_shape: Sequence[int], dtype=torch.float64
) -> float:
    """Return sqrt(||B||_1 ||B||_inf) for a linear map B with non-negative entries.

    With B >= |A| entrywise this bounds ||A||_2 (Schur test). Row sums are
    B 1 and column sums B^T 1, the latter through vjp.
    """
    ones = torch.ones((1, *input_shape), dtype=dtype)
    with torch.no_grad():
        row_sums, pullback = vjp(absolute_apply, ones)
        column_sums = pullback(torch.ones_like(row_sums))[0]
    bound = math.sqrt(float(row_sums.max()) * float(column_sums.max()))
    return bound * (1 + CERTIFIED_MARGIN)


def gram_iteration_bound(
    matrices: torch.Tensor, iterations: int = GRAM_ITERATIONS
) -> torch.Tensor:
    """Return an upper bound on sigma_1 of every matrix in a batch (..., m, n).

    sigma_1(M)^(2^t) = sigma_1(G_t) <= ||G_t||_F with G_0 = M and
    G_(t+1) = G_t^H G_t. Each G_t is rescaled to unit Frobenius norm and the
    scale kept in log space, so the powers stay within the float range. The
    bound exceeds sigma_1 by at most a factor rank^(1 / 2^(t+1)). It is not
    widened for rounding.
    """
    gram = matrices
    log_scale = torch.zeros(matrices.shape[:-2], dtype=torch.float64)
    tiny = torch.finfo(matrices.real.dtype).tiny
    for _ in range(iterations):
        norm = torch.linalg.matrix_norm(gram).to(torch.float64).clamp(min=tiny)
        gram = gram / norm[..., None, None].to(gram.dtype)
        log_scale = 2 * (log_scale + torch.log(norm))
        gram = gram.mH @ gram
    log_bound = (log_scale + torch.log(torch.linalg.matrix_norm(gram))) / 2**iterations
    return torch.exp(log_bound)


def norms_from_dense(matrix: torch.Tensor, method: str = "") -> OperatorNorms:
    """Exact extreme singular values of a dense (n_out, n_in) matrix."""
    values = torch.linalg.svdvals(matrix.to(torch.float64))
    n_out, n_in = matrix.shape
    sigma_min = float(values[n_in - 1]) if n_out >= n_in else 0.0
    return OperatorNorms(
        upper=float(values[0]) if len(values) else 0.0,
        sigma_min=sigma_min,
        exact=True,
        method=method or f"exact: dense {n_out}x{n_in} matrix and svdvals",
    )


# Convolutions --------------------------------------------------------------


@dataclass
class ConvGeometry:
    """Per-axis geometry of a convolution on one input shape.

    Attributes
    ----------
    size, kernel, stride, dilation
        Input length, kernel size, stride and dilation along each axis.
    pad_before, pad_after
        Padding on each side of each axis.
    output
        Output length along each axis.
    """

    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad_before: tuple[int, ...]
    pad_after: tuple[int, ...]
    output: tuple[int, ...]

    @property
    def circular_exact(self) -> bool:
        """Whether circular padding makes A a circular convolution in polyphase form."""
        return all(
            before + after == d * (k - 1) and n % s == 0
            for before, after, d, k, n, s in zip(
                self.pad_before,
                self.pad_after,
                self.dilation,
                self.kernel,
                self.size,
                self.stride,
                strict=True,
            )
        )


def conv_geometry(conv: nn.modules.conv._ConvNd, input_shape: Sequence[int]):
    """Geometry of ``conv`` on inputs of shape (c_in, *spatial)."""
    spatial = tuple(int(n) for n in input_shape[1:])
    kernel, stride, dilation = conv.kernel_size, conv.stride, conv.dilation
    if isinstance(conv.padding, str):
        # torch pads 'same' by d (k - 1) in total, the odd unit after.
        totals = [
            0 if conv.padding == "valid" else d * (k - 1)
            for d, k in zip(dilation, kernel, strict=True)
        ]
        before = tuple(total // 2 for total in totals)
        after = tuple(total - total // 2 for total in totals)
    else:
        before = after = tuple(conv.padding)
    output = tuple(
        (n + b + a - d * (k - 1) - 1) // s + 1
        for n, b, a, d, k, s in zip(
            spatial, before, after, dilation, kernel, stride, strict=True
        )
    )
    return ConvGeometry(spatial, kernel, stride, dilation, before, after, output)


def conv_full_weight(conv: nn.modules.conv._ConvNd) -> torch.Tensor:
    """Weight of shape (c_out, c_in, *kernel), block diagonal over groups."""
    weight = conv.weight.detach().to(torch.float64)
    if conv.groups == 1:
        return weight
    c_out, c_in_group = weight.shape[:2]
    out_group = c_out // conv.groups
    full = weight.new_zeros((c_out, c_in_group * conv.groups, *weight.shape[2:]))
    for group in range(conv.groups):
        rows = slice(group * out_group, (group + 1) * out_group)
        columns = slice(group * c_in_group, (group + 1) * c_in_group)
        full[rows, columns] = weight[rows]
    return full


def conv_symbol(
    weight: torch.Tensor, geometry: ConvGeometry, circular: bool
) -> torch.Tensor:
    """Fourier symbol of the polyphase form, shape (n_frequencies, c_out, c_in prod(s)).

    Tap j of axis i sits at offset e = j d - p_before = s q + r with
    0 <= r < s: it reads phase r of the input, x_r[m] = x[s m + r], at shift q.
    With ``circular`` the grid is the circular one of H / s points. Otherwise
    it is large enough that the circular convolution restricted to the input
    and output supports equals the zero-padded one.
    """
    c_out, c_in = weight.shape[:2]
    phases, shifts = [], []
    for k, d, s, before in zip(
        geometry.kernel,
        geometry.dilation,
        geometry.stride,
        geometry.pad_before,
        strict=True,
    ):
        offsets = [j * d - before for j in range(k)]
        phases.append([e % s for e in offsets])
        shifts.append([e // s for e in offsets])

    grid = []
    for axis, (n, s, out) in enumerate(
        zip(geometry.size, geometry.stride, geometry.output, strict=True)
    ):
        if circular:
            grid.append(n // s)
            continue
        n_phase = -(-n // s)
        q_min, q_max = min(shifts[axis]), max(shifts[axis])
        grid.append(max(n_phase - q_min, out + q_max, n_phase, out, 1))

    # Scatter every tap into a (c_out, c_in, *stride, *grid) array.
    stride = geometry.stride
    spread = weight.new_zeros((c_out, c_in, *stride, *grid))
    for taps in itertools.product(*(range(k) for k in geometry.kernel)):
        phase = tuple(phases[a][j] for a, j in enumerate(taps))
        shift = tuple(shifts[a][j] % grid[a] for a, j in enumerate(taps))
        spread[(slice(None), slice(None), *phase, *shift)] += weight[
            (slice(None), slice(None), *taps)
        ]

    n_axes = len(grid)
    symbol = torch.fft.fftn(spread, dim=tuple(range(-n_axes, 0)))
    # (c_out, c_in, *stride, *grid) -> (*grid, c_out, c_in, *stride)
    order = (*range(2 + n_axes, 2 + 2 * n_axes), 0, 1, *range(2, 2 + n_axes))
    symbol = symbol.permute(order)
    return symbol.reshape(math.prod(grid), c_out, c_in * math.prod(stride))


def conv_linear_map(conv: nn.modules.conv._ConvNd, weight: torch.Tensor | None = None):
    """Return the linear part of ``conv`` (no bias) as a batched map.

    ``weight`` replaces the layer's weight, for example a reweighted one.
    """
    weight = conv.weight if weight is None else weight

    def apply(x: torch.Tensor) -> torch.Tensor:
        return conv._conv_forward(x, weight.to(x.dtype), None)

    return apply


def conv_norms(
    conv: nn.modules.conv._ConvNd,
    input_shape: Sequence[int],
    *,
    output_scale: torch.Tensor | None = None,
    dense_max_entries: int = DENSE_MAX_ENTRIES,
) -> OperatorNorms:
    """Extreme singular values of a Conv1d/Conv2d/Conv3d on inputs of one shape.

    Parameters
    ----------
    conv
        The layer; its bias does not enter the Jacobian.
    input_shape
        Shape of one input, (c_in, *spatial).
    output_scale
        Per output channel factors applied after the convolution (a batch
        norm in eval mode folded in), or None.
    dense_max_entries
        Largest n_out n_in for which the dense matrix is formed and decomposed.
    """
    weight = conv_full_weight(conv)
    if output_scale is not None:
        shape = (-1,) + (1,) * (weight.ndim - 1)
        weight = weight * output_scale.to(torch.float64).reshape(shape)
    geometry = conv_geometry(conv, input_shape)
    n_in = math.prod(input_shape)
    n_out = weight.shape[0] * math.prod(geometry.output)
    grouped_weight = _grouped(weight, conv)

    if n_in * n_out <= dense_max_entries:
        matrix = dense_matrix(conv_linear_map(conv, grouped_weight), input_shape)
        return norms_from_dense(matrix)

    if conv.padding_mode == "circular" and geometry.circular_exact:
        values = torch.linalg.svdvals(conv_symbol(weight, geometry, circular=True))
        # Each symbol matrix is c_out x c_in prod(s); A is injective when all are.
        injective = weight.shape[0] >= weight.shape[1] * math.prod(geometry.stride)
        return OperatorNorms(
            upper=float(values.max()),
            sigma_min=float(values[:, -1].min()) if injective else 0.0,
            exact=True,
            method="exact: singular values of the circular convolution's "
            "Fourier symbol (polyphase form)",
        )

    absolute = conv_linear_map(conv, grouped_weight.abs())
    schur = schur_bound(absolute, input_shape)
    sigma_min = 0.0 if n_out < n_in else None
    if conv.padding_mode != "zeros":
        return OperatorNorms(
            upper=schur,
            sigma_min=sigma_min,
            exact=False,
            method=f"certified: Schur test on |w| ({conv.padding_mode} padding)",
        )
    symbol = conv_symbol(weight, geometry, circular=False)
    gram = float(gram_iteration_bound(symbol).max()) * (1 + CERTIFIED_MARGIN)
    if schur < gram:
        return OperatorNorms(schur, sigma_min, False, "certified: Schur test on |w|")
    return OperatorNorms(
        upper=gram,
        sigma_min=sigma_min,
        exact=False,
        method="certified: Gram iteration on the Fourier symbol of the "
        f"zero-padded convolution ({GRAM_ITERATIONS} steps)",
    )


def circular_conv_singular_values(
    conv: nn.modules.conv._ConvNd, input_shape: Sequence[int]
) -> torch.Tensor:
    """Compute every singular value of a circular-padded convolution from its symbol.

    Needs 2p = d (k - 1) along every axis and input sizes divisible by the
    stride, so that the layer is exactly a circular convolution of the input
    phases. Returns the nonzero-rank singular values, sorted descending;
    ``min(n_out, n_in)`` of them.
    """
    geometry = conv_geometry(conv, input_shape)
    if conv.padding_mode != "circular" or not geometry.circular_exact:
        raise ValueError(
            "circular_conv_singular_values needs padding_mode='circular' with "
            "total padding d (k - 1) per axis and input sizes divisible by the "
            f"stride; got padding_mode={conv.padding_mode!r}, geometry {geometry}"
        )
    symbol = conv_symbol(conv_full_weight(conv), geometry, circular=True)
    values = torch.linalg.svdvals(symbol).flatten()
    return torch.sort(values, descending=True).values


def _grouped(weight: torch.Tensor, conv: nn.modules.conv._ConvNd) -> torch.Tensor:
    """Undo ``conv_full_weight``: the (c_out, c_in / groups, *k) weight."""
    if conv.groups == 1:
        return weight
    c_out = weight.shape[0]
    c_in_group = weight.shape[1] // conv.groups
    out_group = c_out // conv.groups
    blocks = [
        weight[
            group * out_group : (group + 1) * out_group,
            group * c_in_group : (group + 1) * c_in_group,
        ]
        for group in range(conv.groups)
    ]
    return torch.cat(blocks)


def batchnorm_scale(norm: nn.modules.batchnorm._BatchNorm) -> torch.Tensor:
    """Per-channel factor gamma / sqrt(running_var + eps) of an eval-mode batch norm."""
    variance = norm.running_var.detach().to(torch.float64)
    scale = 1.0 / torch.sqrt(variance + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.detach().to(torch.float64)
    return scale


def linear_norms(
    linear: nn.Linear, output_scale: torch.Tensor | None = None
) -> OperatorNorms:
    """Exact extreme singular values of a Linear weight, rows optionally scaled."""
    weight = linear.weight.detach().to(torch.float64)
    if output_scale is not None:
        weight = weight * output_scale.to(torch.float64)[:, None]
    return norms_from_dense(weight, "exact: svdvals of the weight")


def linear_map_norms(
    apply: LinearMap,
    input_shape: Sequence[int],
    *,
    nonnegative: bool,
    dense_max_entries: int = DENSE_MAX_ENTRIES,
) -> OperatorNorms:
    """Extreme singular values of a generic linear map (pooling, for example).

    Dense when small; otherwise, for a map with non-negative entries, the
    Schur test. A map with entries of both signs and no dense form gets no
    bound (``upper`` is inf).
    """
    with torch.no_grad():
        n_out = apply(torch.zeros((1, *input_shape), dtype=torch.float64)).numel()
    n_in = math.prod(input_shape)
    if n_in * n_out <= dense_max_entries:
        return norms_from_dense(dense_matrix(apply, input_shape))
    sigma_min = 0.0 if n_out < n_in else None
    if nonnegative:
        bound = schur_bound(apply, input_shape)
        return OperatorNorms(bound, sigma_min, False, "certified: Schur test")
    return OperatorNorms(math.inf, sigma_min, False, "no bound for this map")
