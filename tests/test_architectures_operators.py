"""Operator norms of convolutions against the dense matrix of the same operator."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.autograd.functional import jacobian

from expressivity.bounds.operators import (
    batchnorm_scale,
    circular_conv_singular_values,
    conv_linear_map,
    conv_norms,
    gram_iteration_bound,
    linear_map_norms,
    power_iteration,
    schur_bound,
)


def _dense_reference(conv, input_shape):
    """The operator's matrix from autograd, independent of dense_matrix."""
    zero = torch.zeros(input_shape, dtype=torch.float64)
    apply = conv_linear_map(conv)
    matrix = jacobian(lambda x: apply(x[None])[0], zero)
    return matrix.reshape(-1, math.prod(input_shape))


def _conv(n_axes, c_in, c_out, seed, **options):
    torch.manual_seed(seed)
    layer = (nn.Conv1d if n_axes == 1 else nn.Conv2d)(c_in, c_out, **options)
    return layer.double()


GEOMETRIES = [
    (1, {"kernel_size": 3, "padding": 1}, (2, 11)),
    (1, {"kernel_size": 5, "padding": 0, "stride": 2}, (3, 17)),
    (1, {"kernel_size": 3, "padding": 3, "dilation": 3, "stride": 2}, (2, 13)),
    (2, {"kernel_size": 3, "padding": 1}, (3, 8, 8)),
    (2, {"kernel_size": 3, "padding": 0}, (2, 7, 9)),
    (2, {"kernel_size": 3, "padding": 2, "dilation": 2, "stride": 2}, (3, 9, 7)),
    (2, {"kernel_size": (3, 1), "padding": (1, 0), "stride": (1, 2)}, (2, 6, 8)),
    (2, {"kernel_size": 3, "padding": 1, "groups": 2}, (4, 6, 6)),
    (2, {"kernel_size": 5, "padding": "same"}, (2, 7, 7)),
    (2, {"kernel_size": 3, "padding": 1, "padding_mode": "reflect"}, (2, 6, 6)),
    (2, {"kernel_size": 3, "padding": 1, "padding_mode": "replicate"}, (2, 6, 6)),
]


@pytest.mark.parametrize("n_axes, options, input_shape", GEOMETRIES)
def test_conv_norms_match_dense_svd(n_axes, options, input_shape):
    conv = _conv(n_axes, input_shape[0], 4, seed=3, **options)
    values = torch.linalg.svdvals(_dense_reference(conv, input_shape))
    norms = conv_norms(conv, input_shape)
    assert norms.exact
    assert norms.upper == pytest.approx(float(values[0]), rel=1e-12)
    n_in = math.prod(input_shape)
    expected_min = float(values[n_in - 1]) if len(values) >= n_in else 0.0
    assert norms.sigma_min == pytest.approx(expected_min, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n_axes, options, input_shape", GEOMETRIES)
def test_conv_certified_bound_above_norm(n_axes, options, input_shape):
    conv = _conv(n_axes, input_shape[0], 4, seed=5, **options)
    norm = float(torch.linalg.svdvals(_dense_reference(conv, input_shape))[0])
    certified = conv_norms(conv, input_shape, dense_max_entries=0)
    assert not certified.exact
    assert certified.upper >= norm
    assert "certified" in certified.method
    if options.get("padding_mode", "zeros") == "zeros":
        # The Fourier bound is the norm on an infinite grid: close for
        # inputs a few kernels wide.
        assert certified.upper <= 1.5 * norm


@settings(max_examples=40)
@given(
    n_axes=st.sampled_from([1, 2]),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 4),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 3),
    padding=st.integers(0, 4),
    size=st.integers(1, 9),
    seed=st.integers(0, 10_000),
)
def test_zero_padded_bound_holds_random_geometry(
    n_axes, c_in, c_out, kernel, stride, dilation, padding, size, seed
):
    if size + 2 * padding < dilation * (kernel - 1) + 1:
        return  # the layer rejects inputs smaller than its receptive field
    conv = _conv(
        n_axes,
        c_in,
        c_out,
        seed,
        kernel_size=kernel,
        stride=stride,
        dilation=dilation,
        padding=padding,
    )
    input_shape = (c_in, *([size] * n_axes))
    norm = float(torch.linalg.svdvals(_dense_reference(conv, input_shape))[0])
    certified = conv_norms(conv, input_shape, dense_max_entries=0)
    assert certified.upper >= norm * (1 - 1e-12)


@pytest.mark.parametrize(
    "n_axes, options, input_shape",
    [
        (1, {"kernel_size": 3, "padding": 1}, (3, 10)),
        (1, {"kernel_size": 5, "padding": 4, "dilation": 2, "stride": 2}, (2, 12)),
        (2, {"kernel_size": 3, "padding": 1}, (2, 6, 6)),
        (2, {"kernel_size": 3, "padding": 1, "stride": 2}, (2, 8, 6)),
        (2, {"kernel_size": (3, 5), "padding": (1, 2)}, (3, 5, 7)),
    ],
)
def test_circular_padding_matches_fft_formula(n_axes, options, input_shape):
    conv = _conv(n_axes, input_shape[0], 3, seed=11, padding_mode="circular", **options)
    dense = torch.linalg.svdvals(_dense_reference(conv, input_shape))
    from_symbol = circular_conv_singular_values(conv, input_shape)
    assert from_symbol.shape == dense.shape
    assert torch.allclose(from_symbol, dense, rtol=1e-10, atol=1e-12)
    exact = conv_norms(conv, input_shape, dense_max_entries=0)
    assert exact.exact
    assert exact.upper == pytest.approx(float(dense[0]), rel=1e-12)


def test_circular_smallest_singular_value_when_injective():
    # 2 -> 5 channels: every symbol matrix is 5 x 2, so the layer is injective.
    conv = _conv(2, 2, 5, seed=2, kernel_size=3, padding=1, padding_mode="circular")
    input_shape = (2, 6, 6)
    dense = torch.linalg.svdvals(_dense_reference(conv, input_shape))
    norms = conv_norms(conv, input_shape, dense_max_entries=0)
    assert norms.sigma_min == pytest.approx(float(dense[-1]), rel=1e-10)
    assert norms.sigma_min > 0


def test_circular_formula_rejects_other_padding():
    conv = _conv(2, 2, 2, seed=0, kernel_size=3, padding=0, padding_mode="circular")
    with pytest.raises(ValueError, match="circular"):
        circular_conv_singular_values(conv, (2, 6, 6))


def test_power_iteration_converges_from_below():
    conv = _conv(2, 3, 4, seed=7, kernel_size=3, padding=1, stride=2)
    input_shape = (3, 8, 8)
    norm = float(torch.linalg.svdvals(_dense_reference(conv, input_shape))[0])
    result = power_iteration(conv_linear_map(conv), input_shape, rtol=1e-12)
    assert result.converged
    assert result.value <= norm * (1 + 1e-12)
    assert result.value == pytest.approx(norm, rel=1e-8)


def test_power_iteration_reports_no_convergence():
    conv = _conv(2, 3, 4, seed=7, kernel_size=3, padding=1)
    result = power_iteration(conv_linear_map(conv), (3, 8, 8), max_iterations=2)
    assert not result.converged
    assert result.iterations == 2
    assert result.residual > 1e-6


@settings(max_examples=30)
@given(
    rows=st.integers(1, 7),
    columns=st.integers(1, 7),
    batch=st.integers(1, 4),
    iterations=st.integers(1, 14),
    complex_entries=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_gram_iteration_bounds_norm(
    rows, columns, batch, iterations, complex_entries, seed
):
    generator = torch.Generator().manual_seed(seed)
    dtype = torch.complex128 if complex_entries else torch.float64
    matrices = torch.randn(batch, rows, columns, generator=generator, dtype=dtype)
    norms = torch.linalg.matrix_norm(matrices, ord=2)
    bounds = gram_iteration_bound(matrices, iterations)
    assert torch.all(bounds >= norms * (1 - 1e-12))
    rank = min(rows, columns)
    assert torch.all(bounds <= norms * rank ** (1 / 2 ** (iterations + 1)) * 1.0001)


def test_gram_iteration_zero_matrix():
    assert float(gram_iteration_bound(torch.zeros(1, 3, 2))[0]) == 0.0


def test_schur_bound_on_average_pool():
    pool = nn.AvgPool2d(3, stride=1, padding=1)
    input_shape = (1, 6, 6)
    matrix = _dense_reference_map(pool, input_shape)
    norm = float(torch.linalg.matrix_norm(matrix, ord=2))
    bound = schur_bound(pool, input_shape)
    assert bound >= norm
    # Rows sum to 1 and columns to at most 1 (count_include_pad), so <= 1.
    assert bound <= 1 + 1e-8
    dense = linear_map_norms(pool, input_shape, nonnegative=True)
    assert dense.upper == pytest.approx(norm, rel=1e-12)
    certified = linear_map_norms(
        pool, input_shape, nonnegative=True, dense_max_entries=0
    )
    assert certified.upper >= norm


def _dense_reference_map(apply, input_shape):
    zero = torch.zeros(input_shape, dtype=torch.float64)
    matrix = jacobian(lambda x: apply(x[None])[0], zero)
    return matrix.reshape(-1, math.prod(input_shape))


def test_batchnorm_folded_into_conv():
    conv = _conv(2, 2, 3, seed=4, kernel_size=3, padding=1)
    norm = nn.BatchNorm2d(3).double().eval()
    with torch.no_grad():
        norm.running_var.uniform_(0.5, 2.0)
        norm.running_mean.normal_()
        norm.weight.normal_()
    input_shape = (2, 5, 5)
    scale = batchnorm_scale(norm)

    def composite(x):
        return norm(conv(x)) - norm(conv(torch.zeros_like(x)))

    matrix = _dense_reference_map(composite, input_shape)
    values = torch.linalg.svdvals(matrix)
    folded = conv_norms(conv, input_shape, output_scale=scale)
    assert folded.upper == pytest.approx(float(values[0]), rel=1e-10)
    certified = conv_norms(conv, input_shape, output_scale=scale, dense_max_entries=0)
    assert certified.upper >= float(values[0])
