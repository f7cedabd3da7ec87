"""Interval arithmetic and interval Taylor propagation of path segments.

Every enclosure is checked against dense samples of the exact quantity:
values and t-derivatives of each layer output along the path, computed by
nested forward-mode autodiff.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import jvp

from expressivity.certified.interval import Interval, affine, norm_down, norm_up
from expressivity.certified.path_enclosure import cos_range, derivative_boxes
from expressivity.certified.taylor import ChainWeights, propagate
from expressivity.models import NetworkSpec, build_network, extract_chain
from expressivity.paths import EllipseArc, LineSegment, polyline_through

ACTIVATIONS = [
    ("quadratic", ()),
    ("polynomial", (0.1, 1.0, 0.5, -0.2)),
    ("relu", ()),
    ("tanh", ()),
    ("hardtanh", ()),
    ("linear", ()),
]


def _path(kind: str, dim: int, generator: torch.Generator):
    points = torch.randn(3, dim, generator=generator, dtype=torch.float64)
    if kind == "line":
        return LineSegment(points[0], points[1])
    if kind == "polyline":
        return polyline_through(points, closed=True)
    return EllipseArc(points[0], points[1], points[2], 0.3, 0.3 + 2 * math.pi)


def _sampled_jets(network, path, t: torch.Tensor):
    """Values, first and second t-derivatives of every layer output at t."""

    def outputs(s):
        return tuple(network.layer_outputs(path.position(s)))

    ones = torch.ones_like(t)
    values = outputs(t)
    first = jvp(outputs, (t,), (ones,))[1]
    second = jvp(lambda s: jvp(outputs, (s,), (torch.ones_like(s),))[1], (t,), (ones,))[
        1
    ]
    return values, first, second


def test_square_of_interval_containing_zero_starts_at_zero():
    interval = Interval(torch.tensor([-2.0, 1.0, -3.0]), torch.tensor([3.0, 2.0, -1.0]))
    square = interval.square()
    assert square.lower[0] == 0.0
    assert square.upper[0] >= 9.0
    assert 1.0 - 1e-15 <= square.lower[1] <= 1.0
    assert 1.0 - 1e-15 <= square.lower[2] <= 1.0
    assert square.upper[2] >= 9.0


def test_affine_encloses_every_vertex(generator):
    weight = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    bias = torch.randn(5, generator=generator, dtype=torch.float64)
    lower = torch.randn(1, 4, generator=generator, dtype=torch.float64)
    upper = lower + torch.rand(1, 4, generator=generator, dtype=torch.float64)
    image = affine(Interval(lower, upper), weight, bias)
    corners = torch.cartesian_prod(
        *[torch.stack([lower[0, i], upper[0, i]]) for i in range(4)]
    )
    values = corners @ weight.T + bias
    assert torch.all(values >= image.lower)
    assert torch.all(values <= image.upper)
    # The box image is exact up to rounding: its extremes are attained at corners.
    assert torch.allclose(values.min(dim=0).values, image.lower[0], rtol=1e-13)
    assert torch.allclose(values.max(dim=0).values, image.upper[0], rtol=1e-13)


def test_norm_bounds_bracket_norm(generator):
    x = torch.randn(7, 300, generator=generator, dtype=torch.float64)
    exact = torch.linalg.vector_norm(x, dim=1)
    assert torch.all(norm_down(x) <= exact)
    assert torch.all(norm_up(x) >= exact)


@pytest.mark.parametrize(
    ("start", "end", "low", "high"),
    [
        (-0.5, 0.5, math.cos(0.5), 1.0),
        (3.0, 3.5, -1.0, math.cos(3.5)),
        (0.2, 0.4, math.cos(0.4), math.cos(0.2)),
        (-7.0, 0.0, -1.0, 1.0),
    ],
)
def test_cos_range_exact(start, end, low, high):
    interval = cos_range(
        torch.tensor([start], dtype=torch.float64),
        torch.tensor([end], dtype=torch.float64),
    )
    assert float(interval.lower) == pytest.approx(low, abs=1e-14)
    assert float(interval.upper) == pytest.approx(high, abs=1e-14)
    assert float(interval.lower) <= low
    assert float(interval.upper) >= high


@pytest.mark.parametrize("kind", ["line", "ellipse", "polyline"])
def test_path_boxes_contain_samples(kind, generator):
    path = _path(kind, 3, generator)
    t0 = torch.tensor([0.05, 0.4, 0.7], dtype=torch.float64)
    t1 = torch.tensor([0.2, 0.45, 0.9], dtype=torch.float64)
    if kind == "polyline":
        # Segments must stay inside one piece of the three-piece polyline.
        t0 = torch.tensor([0.0, 0.4, 0.7], dtype=torch.float64)
        t1 = torch.tensor([1 / 3, 0.6, 0.95], dtype=torch.float64)
    boxes = derivative_boxes(path, t0, t1)
    fractions = torch.linspace(0, 1, 201, dtype=torch.float64)
    for row in range(3):
        t = t0[row] + (t1[row] - t0[row]) * fractions
        # The velocity at a breakpoint is the next piece's, so the end is left out.
        samples = [path.position(t), path.velocity(t[:-1])]
        for order, sample in enumerate(samples):
            assert torch.all(sample >= boxes[order].lower[row] - 1e-14), (row, order)
            assert torch.all(sample <= boxes[order].upper[row] + 1e-14), (row, order)


@pytest.mark.parametrize(("activation", "coefficients"), ACTIVATIONS)
@settings(max_examples=8)
@given(
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    n_inputs=st.integers(2, 4),
    kind=st.sampled_from(["line", "ellipse", "polyline"]),
    width=st.floats(1e-3, 0.2),
    seed=st.integers(0, 10_000),
)
def test_propagation_contains_sampled_jets(
    activation, coefficients, hidden, n_inputs, kind, width, seed
):
    generator = torch.Generator().manual_seed(seed)
    network = build_network(
        NetworkSpec(
            (n_inputs, *hidden, 2),
            activation=activation,
            coefficients=coefficients,
            sigma_b=0.5,
            seed=seed,
        )
    )
    chain = ChainWeights.from_chain(extract_chain(network))
    path = _path(kind, n_inputs, generator)
    start = float(torch.rand(1, generator=generator)) * (1 / 3 - width)
    t0 = torch.tensor([start], dtype=torch.float64)
    t1 = t0 + width
    centre_t = (t0 + t1) / 2
    half = torch.maximum(t1 - centre_t, centre_t - t0)
    centre = propagate(chain, derivative_boxes(path, centre_t, centre_t), half * 0)
    segment = propagate(chain, derivative_boxes(path, t0, t1), half, centre)

    t = t0 + (t1 - t0) * torch.linspace(0, 1, 257, dtype=torch.float64)
    values, first, second = _sampled_jets(network, path, t)
    for k, layer in enumerate(segment):
        samples = [values[k], first[k]]
        if bool(layer.smooth[0]):
            samples.append(second[k])
        for order, sample in enumerate(samples):
            enclosure = layer.jet[order]
            slack = 1e-9 * (1 + sample.abs())
            assert torch.all(sample >= enclosure.lower[0] - slack), (k, order)
            assert torch.all(sample <= enclosure.upper[0] + slack), (k, order)
