import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import ellipe
from torch import nn

from expressivity.errors import ConfigurationError, NumericalError
from expressivity.length import polyline_lengths, trajectory_lengths
from expressivity.models import NetworkSpec, build_network
from expressivity.paths import LineSegment, circle_through, random_circle


def _sqrt_quadratic_integral(a: torch.Tensor, b: torch.Tensor) -> float:
    """Closed form of integral_0^1 ||a + b t|| dt.

    With Q(t) = A t^2 + B t + C, A = ||b||^2, B = 2 a.b, C = ||a||^2:
    integral sqrt(Q) = (2At + B) sqrt(Q) / (4A)
                       + (4AC - B^2) / (8 A^1.5) log(2 sqrt(A Q) + 2At + B).
    """
    big_a = float(b @ b)
    big_b = 2 * float(a @ b)
    big_c = float(a @ a)

    def antiderivative(t: float) -> float:
        q = big_a * t * t + big_b * t + big_c
        first = (2 * big_a * t + big_b) * math.sqrt(q) / (4 * big_a)
        log_term = math.log(2 * math.sqrt(big_a * q) + 2 * big_a * t + big_b)
        return first + (4 * big_a * big_c - big_b**2) / (8 * big_a**1.5) * log_term

    return antiderivative(1.0) - antiderivative(0.0)


def _ellipse_perimeter(first: torch.Tensor, second: torch.Tensor) -> float:
    """Perimeter of theta -> first cos theta + second sin theta, theta in [0, 2 pi]."""
    singular = torch.linalg.svdvals(torch.stack([first, second], dim=1))
    major, minor = float(singular[0]), float(singular[1])
    return 4 * major * float(ellipe(1 - (minor / major) ** 2))


def test_linear_network_maps_circle_to_ellipse(generator):
    network = build_network(NetworkSpec((5, 6, 4, 3), activation="linear", seed=2))
    circle = random_circle(5, radius=1.5, generator=generator)
    result = trajectory_lengths(network, circle, rtol=1e-10)

    product = torch.eye(5, dtype=torch.float64)
    for linear, layer in zip(network.linears, result.layers[1:], strict=True):
        product = linear.weight.detach() @ product
        expected = _ellipse_perimeter(product @ circle.a, product @ circle.b)
        assert layer.length == pytest.approx(expected, rel=1e-9)
        # Energy of theta -> A cos + B sin over t in [0, 1], theta = 2 pi t.
        energy = (
            (2 * math.pi) ** 2
            * float(
                (product @ circle.a).square().sum()
                + (product @ circle.b).square().sum()
            )
            / 2
        )
        assert layer.energy == pytest.approx(energy, rel=1e-9)
    assert result.converged


def test_quadratic_one_hidden_layer_line_closed_form(generator):
    network = build_network(
        NetworkSpec((4, 6, 3), activation="quadratic", sigma_b=0.5, seed=5)
    )
    start = torch.randn(4, generator=generator, dtype=torch.float64)
    end = torch.randn(4, generator=generator, dtype=torch.float64)
    line = LineSegment(start, end)
    result = trajectory_lengths(network, line, rtol=1e-11)

    w1, w2 = (linear.weight.detach() for linear in network.linears)
    b1 = network.linears[0].bias.detach()
    alpha = w1 @ start + b1
    beta = w1 @ (end - start)
    # z(1)(t) = (alpha + beta t)^2, so z' = 2 alpha beta + 2 beta^2 t; f' = W2 z'.
    hidden_a, hidden_b = 2 * alpha * beta, 2 * beta * beta
    hidden = _sqrt_quadratic_integral(hidden_a, hidden_b)
    output = _sqrt_quadratic_integral(w2 @ hidden_a, w2 @ hidden_b)

    assert result.layers[0].length == pytest.approx(line.exact_length(), rel=1e-12)
    assert result.layers[1].length == pytest.approx(hidden, rel=1e-10)
    assert result.layers[2].length == pytest.approx(output, rel=1e-10)
    assert result.layers[2].growth == pytest.approx(output / line.exact_length())
    assert result.layers[2].layer_ratio == pytest.approx(output / hidden)


def test_error_estimate_within_tolerance(generator):
    network = build_network(NetworkSpec((8, 16, 16, 4), activation="tanh", sigma_w=2))
    circle = random_circle(8, generator=generator)
    result = trajectory_lengths(network, circle, rtol=1e-7)
    reference = trajectory_lengths(network, circle, rtol=1e-12)
    for layer, exact in zip(result.layers, reference.layers, strict=True):
        assert layer.length_error <= 1e-7 * layer.length
        assert abs(layer.length - exact.length) <= 1e-7 * exact.length


def test_quadrature_agrees_with_dense_polyline(generator):
    network = build_network(NetworkSpec((6, 12, 12, 3), activation="quadratic"))
    circle = random_circle(6, radius=0.8, generator=generator)
    result = trajectory_lengths(network, circle, rtol=1e-10, n_polyline_points=200_001)
    for layer in result.layers:
        # The chord sum of a C^2 curve misses O(1 / N^2) of its length.
        assert layer.polyline <= layer.length * (1 + 1e-12)
        assert layer.polyline == pytest.approx(layer.length, rel=1e-7)
        assert layer.polyline_energy <= layer.energy * (1 + 1e-12)
        assert layer.chord <= layer.polyline * (1 + 1e-12)


@given(
    widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    activation=st.sampled_from(["quadratic", "relu", "tanh", "hardtanh", "linear"]),
    seed=st.integers(0, 10_000),
    n_points=st.integers(2, 40),
)
def test_polyline_never_above_length(widths, activation, seed, n_points):
    network = build_network(
        NetworkSpec((3, *widths), activation=activation, seed=seed, sigma_b=0.3)
    )
    generator = torch.Generator().manual_seed(seed)
    circle = random_circle(3, generator=generator)
    result = trajectory_lengths(network, circle, rtol=1e-8, n_polyline_points=n_points)
    for layer in result.layers:
        assert layer.polyline <= layer.length * (1 + 1e-7) + 1e-12
        assert layer.polyline_energy <= layer.energy * (1 + 1e-7) + 1e-12


def test_generic_module_reports_output_only(generator):
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)).double()
    circle = random_circle(3, generator=generator)
    result = trajectory_lengths(model, circle, rtol=1e-8)
    assert [layer.name for layer in result.layers] == ["input", "output"]
    t = torch.linspace(0, 1, 200_001, dtype=torch.float64)
    with torch.no_grad():
        image = model(circle.position(t))
    dense = float(torch.linalg.vector_norm(image[1:] - image[:-1], dim=1).sum())
    assert result.output_length == pytest.approx(dense, rel=1e-7)


def test_float32_overflow_names_layer(generator):
    network = build_network(
        NetworkSpec(
            (8, *[16] * 10, 2), activation="quadratic", sigma_w=3.0, dtype="float32"
        )
    )
    circle = random_circle(8, radius=2.0, generator=generator)
    with pytest.raises(NumericalError, match=r"layer \d+ \(linears\.\d+\)") as caught:
        trajectory_lengths(network, circle)
    assert 1 <= caught.value.layer <= 11
    assert "float64" in str(caught.value)


def test_dimension_mismatch_rejected(generator):
    network = build_network(NetworkSpec((4, 3)))
    with pytest.raises(ConfigurationError, match="dimension 5"):
        trajectory_lengths(network, random_circle(5, generator=generator))


def test_polyline_lengths_of_line_through_relu():
    network = build_network(NetworkSpec((2, 5, 2), activation="relu", seed=1))
    line = LineSegment(torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.5]))
    polyline, energy, chord = polyline_lengths(network, line, 3)
    assert polyline[0] == pytest.approx(line.exact_length())
    # With 3 points the input polyline has two chords of half the length each.
    assert energy[0] == pytest.approx(line.exact_length() ** 2)
    assert chord[0] == pytest.approx(line.exact_length())


def test_circle_through_digits_length(generator):
    a = torch.rand(64, generator=generator, dtype=torch.float64)
    b = torch.rand(64, generator=generator, dtype=torch.float64)
    circle = circle_through(a, b)
    network = build_network(NetworkSpec((64, 32, 10), activation="quadratic"))
    result = trajectory_lengths(network, circle)
    assert result.input_length == pytest.approx(circle.exact_length(), rel=1e-9)


def test_narrow_ramp_between_nodes_is_found():
    # hardtanh(k (x - c)) moves only for |x - c| < 1 / k, from -1 to 1. With
    # that window inside the gap between two neighbouring Kronrod nodes of the
    # first partition, every layer has zero speed at every node, both rules
    # agree on zero and the error estimate is zero. Only the polyline check
    # can reveal the missed length 2.
    from expressivity.length.quadrature import NODES

    first_piece = 0.25 * (NODES + 1) / 2
    gaps = first_piece[1:] - first_piece[:-1]
    widest = int(torch.argmax(gaps))
    centre = float(first_piece[widest] + gaps[widest] / 2)
    slope = 8.0 / float(gaps[widest])
    model = nn.Sequential(nn.Linear(1, 1), nn.Hardtanh(), nn.Linear(1, 1)).double()
    with torch.no_grad():
        model[0].weight.fill_(slope)
        model[0].bias.fill_(-slope * centre)
        model[2].weight.fill_(1.0)
        model[2].bias.zero_()
    path = LineSegment(
        torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    )

    result = trajectory_lengths(model, path, rtol=1e-8)

    assert result.output_length == pytest.approx(2.0, rel=1e-6)
    assert result.layers[-1].polyline <= result.output_length * (1 + 1e-8)


def test_integral_overflow_names_layer():
    # Entries of order 1e200 are finite in float64, but the sum of their
    # squares inside the speed ||v|| and the energy integrand are not.
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2, dtype=torch.float64))
        model[0].bias.zero_()
        model[2].weight.copy_(1e200 * torch.eye(2, dtype=torch.float64))
        model[2].bias.zero_()
    path = LineSegment(
        torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    )

    with pytest.raises(NumericalError, match="length at layer 2") as caught:
        trajectory_lengths(model, path)

    assert caught.value.layer == 2


def test_speed_jump_near_interval_end_is_integrated():
    # A 3-1-1 hard tanh network whose output swings -1 -> 1 -> -1 -> 1 along
    # the circle (length 4): one jump of the speed fell outside the outermost
    # Kronrod nodes, and the quadrature read 3.99998 with a zero error
    # estimate until finer polyline partitions were tried.
    network = build_network(
        NetworkSpec((3, 1, 1), activation="hardtanh", seed=4, sigma_b=0.3)
    )
    circle = random_circle(3, generator=torch.Generator().manual_seed(4))
    result = trajectory_lengths(network, circle, rtol=1e-8, n_polyline_points=12)
    saturated = result.layers[1]
    assert saturated.length == pytest.approx(4.0, rel=1e-8)
    assert saturated.polyline <= saturated.length * (1 + 1e-7)


def test_generic_module_output_width_is_read_off(generator):
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)).double()
    circle = random_circle(3, generator=generator)
    result = trajectory_lengths(model, circle, rtol=1e-6)
    assert [layer.width for layer in result.layers] == [3, 2]


def test_polyline_gap_widens_error_within_budget():
    # With a budget too small for any finer partition, the missed part of
    # the hard tanh length stays in the error estimate instead.
    network = build_network(
        NetworkSpec((3, 1, 1), activation="hardtanh", seed=4, sigma_b=0.3)
    )
    circle = random_circle(3, generator=torch.Generator().manual_seed(4))
    result = trajectory_lengths(
        network, circle, rtol=1e-8, n_polyline_points=12, max_evaluations=5000
    )
    saturated = result.layers[1]
    assert saturated.length < saturated.polyline
    assert saturated.length + saturated.length_error >= saturated.polyline
