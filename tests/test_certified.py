"""Certified enclosures of length and energy, certified extremes and U5.

The random-pair tests run EXAMPLES Hypothesis examples per activation, about
a minute for the whole file on two cores. For the full check of at least
1000 (network, path) pairs per activation run

    EXPRESSIVITY_CERTIFIED_EXAMPLES=1000 python -m pytest tests/test_certified.py

References: the core adaptive quadrature at rtol 1e-10 in float64. For relu
and hard tanh the quadrature is split at the kinks (located by dense
sampling and bisection), because Gauss-Kronrod error estimates are not
reliable across a kink of the integrand.
"""

import math
import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from expressivity.bounds import singular_profile
from expressivity.certified import (
    Ball,
    Box,
    certified_extremes,
    certified_lengths,
    global_bounds,
)
from expressivity.errors import ConfigurationError
from expressivity.length import integrate, layer_speeds, trajectory_lengths
from expressivity.models import LayeredModel, NetworkSpec, build_network
from expressivity.paths import (
    CallablePath,
    EllipseArc,
    LineSegment,
    circle_through,
    polyline_through,
)

EXAMPLES = int(os.environ.get("EXPRESSIVITY_CERTIFIED_EXAMPLES", "15"))
REFERENCE_RTOL = 1e-10
KINKS = {"relu": (0.0,), "hardtanh": (-1.0, 1.0)}
ACTIVATIONS = [
    ("quadratic", ()),
    ("polynomial", (0.2, 1.0, 0.4, -0.1)),
    ("relu", ()),
    ("tanh", ()),
    ("hardtanh", ()),
    ("linear", ()),
]


def _kink_parameters(network, path, kinks, n_samples: int = 20_001) -> list[float]:
    """Parameters where some hidden pre-activation crosses a kink."""
    t = torch.linspace(0, 1, n_samples, dtype=torch.float64)

    def offsets(s: torch.Tensor) -> torch.Tensor:
        x = path.position(s)
        columns = []
        for k, linear in enumerate(network.linears[:-1]):
            u = linear(x)
            columns.extend(u - kink for kink in kinks)
            x = network.activation(u)
            del k
        return torch.cat(columns, dim=1)

    with torch.no_grad():
        values = offsets(t)
        rows, columns = torch.nonzero(values[:-1] * values[1:] < 0, as_tuple=True)
        low, high = t[rows], t[rows + 1]
        sign_low = torch.sign(values[rows, columns])
        for _ in range(60):
            middle = (low + high) / 2
            at_middle = offsets(middle)[torch.arange(len(middle)), columns]
            same = torch.sign(at_middle) == sign_low
            low = torch.where(same, middle, low)
            high = torch.where(same, high, middle)
    return sorted({float(v) for v in (low + high) / 2})


def _reference(network, path):
    """Length and energy of every layer (input first) at rtol 1e-10."""
    if network.activation.activation.name not in KINKS:
        result = trajectory_lengths(network, path, rtol=REFERENCE_RTOL)
        return (
            [layer.length for layer in result.layers],
            [layer.energy for layer in result.layers],
        )
    layered = LayeredModel(network)
    kinks = _kink_parameters(network, path, KINKS[network.activation.activation.name])
    breakpoints = sorted(set(path.breakpoints) | set(kinks))

    def integrand(t):
        speeds = layer_speeds(layered, path, t)
        return torch.cat([speeds, speeds**2])

    result = integrate(integrand, breakpoints, rtol=REFERENCE_RTOL)
    assert result.converged
    rows = len(result.values) // 2
    return result.values[:rows].tolist(), result.values[rows:].tolist()


def _random_path(kind: str, dim: int, generator: torch.Generator):
    points = torch.randn(3, dim, generator=generator, dtype=torch.float64)
    if kind == "line":
        return LineSegment(points[0], points[1])
    if kind == "polyline":
        return polyline_through(points, closed=True)
    return EllipseArc(points[0], points[1], points[2], 0.5, 0.5 + 2 * math.pi)


@pytest.mark.parametrize(("activation", "coefficients"), ACTIVATIONS)
@settings(max_examples=EXAMPLES)
@given(
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    n_inputs=st.integers(2, 4),
    n_outputs=st.integers(1, 4),
    kind=st.sampled_from(["line", "ellipse", "polyline"]),
    seed=st.integers(0, 100_000),
)
def test_enclosures_contain_reference(
    activation, coefficients, hidden, n_inputs, n_outputs, kind, seed
):
    network = build_network(
        NetworkSpec(
            (n_inputs, *hidden, n_outputs),
            activation=activation,
            coefficients=coefficients,
            sigma_b=0.5,
            seed=seed,
        )
    )
    path = _random_path(kind, n_inputs, torch.Generator().manual_seed(seed))
    lengths, energies = _reference(network, path)
    result = certified_lengths(network, path, gap=1e-2, max_evaluations=4000)

    for enclosure in result.enclosures:
        k = enclosure.layer
        assert enclosure.lower <= lengths[k] * (1 + REFERENCE_RTOL), enclosure
        assert enclosure.upper >= lengths[k] * (1 - REFERENCE_RTOL), enclosure
        assert enclosure.energy_lower <= energies[k] * (1 + REFERENCE_RTOL), enclosure
        assert enclosure.energy_upper >= energies[k] * (1 - REFERENCE_RTOL), enclosure

    extremes = certified_extremes(network, path, segments=32)
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    dense = singular_profile(LayeredModel(network), path, t)
    for bound in extremes.layers:
        row = bound.layer - 1
        assert bound.sup_certified >= float(dense.s[row].max()), bound
        assert bound.sup_sampled <= bound.sup_certified, bound
        if bound.inf_lower is not None:
            assert bound.inf_lower <= float(dense.r[row].min()), bound


def _default_example():
    """The network and path of ``expressivity run`` with no options."""
    from expressivity.data import load_dataset

    data = load_dataset("digits")
    labels = data.labels.tolist()
    second = next(i for i, label in enumerate(labels) if label != labels[0])
    network = build_network(NetworkSpec((64, 64, 64, 64, 10), seed=0))
    path = circle_through(
        data.features[0],
        data.features[second],
        generator=torch.Generator().manual_seed(0),
    )
    return network, path


def test_default_example_reaches_target_gap():
    network, path = _default_example()
    result = certified_lengths(network, path)
    assert result.converged
    assert result.gap <= 1e-3
    assert result.n_evaluations <= result.max_evaluations
    reference = trajectory_lengths(network, path, rtol=1e-10)
    for enclosure in result.enclosures:
        assert enclosure.contains(reference.layers[enclosure.layer].length)
        assert enclosure.gap <= 1e-3


def test_gap_shrinks_with_refinement(generator):
    network = build_network(
        NetworkSpec((3, 8, 8, 2), activation="tanh", sigma_w=2.0, sigma_b=0.3, seed=7)
    )
    path = EllipseArc(
        torch.zeros(3, dtype=torch.float64),
        torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64),
    )
    result = certified_lengths(network, path, gap=1e-6, initial_segments=2)
    worst = [max(step.gaps) for step in result.history]
    segments = [step.n_segments for step in result.history]
    assert len(worst) >= 5
    assert all(b <= a for a, b in zip(worst, worst[1:], strict=False))
    assert all(b > a for a, b in zip(segments, segments[1:], strict=False))
    # Second-order bounds: doubling the segments cuts the gap about fourfold.
    assert worst[-1] <= worst[2] / 100


def test_linear_network_tight_to_rounding(generator):
    network = build_network(NetworkSpec((4, 6, 5, 3), activation="linear", seed=3))
    start = torch.randn(4, generator=generator, dtype=torch.float64)
    end = torch.randn(4, generator=generator, dtype=torch.float64)
    line = LineSegment(start, end)
    result = certified_lengths(network, line, initial_segments=1)
    product = torch.eye(4, dtype=torch.float64)
    for enclosure, linear in zip(result.enclosures, network.linears, strict=True):
        product = linear.weight.detach() @ product
        exact = float(torch.linalg.vector_norm(product @ (end - start)))
        assert enclosure.contains(exact)
        assert enclosure.gap <= 1e-13
        assert enclosure.energy_gap <= 1e-13
    assert result.n_segments == 1

    circle = EllipseArc(torch.zeros(4), start, end)
    extremes = certified_extremes(network, circle, segments=4)
    for bound in extremes.layers:
        # s(t) is the constant spectral norm of the product of the weights.
        assert bound.sup_certified <= bound.sup_sampled * (1 + 1e-12)


def _sqrt_quadratic_integral(a: torch.Tensor, b: torch.Tensor) -> float:
    """Closed form of integral_0^1 ||a + b t|| dt (see tests/test_length.py)."""
    big_a, big_b, big_c = float(b @ b), 2 * float(a @ b), float(a @ a)

    def antiderivative(t: float) -> float:
        q = big_a * t * t + big_b * t + big_c
        first = (2 * big_a * t + big_b) * math.sqrt(q) / (4 * big_a)
        log_term = math.log(2 * math.sqrt(big_a * q) + 2 * big_a * t + big_b)
        return first + (4 * big_a * big_c - big_b**2) / (8 * big_a**1.5) * log_term

    return antiderivative(1.0) - antiderivative(0.0)


def test_quadratic_one_hidden_layer_closed_form(generator):
    network = build_network(
        NetworkSpec((4, 6, 3), activation="quadratic", sigma_b=0.5, seed=5)
    )
    start = torch.randn(4, generator=generator, dtype=torch.float64)
    end = torch.randn(4, generator=generator, dtype=torch.float64)
    result = certified_lengths(network, LineSegment(start, end), gap=1e-6)

    w1, w2 = (linear.weight.detach() for linear in network.linears)
    alpha = w1 @ start + network.linears[0].bias.detach()
    beta = w1 @ (end - start)
    # z(1)(t) = (alpha + beta t)^2, so z' = 2 alpha beta + 2 beta^2 t; f' = W2 z'.
    hidden_a, hidden_b = 2 * alpha * beta, 2 * beta * beta
    hidden = _sqrt_quadratic_integral(hidden_a, hidden_b)
    output = _sqrt_quadratic_integral(w2 @ hidden_a, w2 @ hidden_b)
    # Energy: integral ||a + b t||^2 = ||a||^2 + a.b + ||b||^2 / 3.
    output_a, output_b = w2 @ hidden_a, w2 @ hidden_b
    energy = float(output_a @ output_a + output_a @ output_b + output_b @ output_b / 3)

    assert result.converged
    assert result.get(1).contains(hidden, rtol=1e-12)
    assert result.get(2).contains(output, rtol=1e-12)
    assert result.get(2).energy_lower <= energy * (1 + 1e-12)
    assert result.get(2).energy_upper >= energy * (1 - 1e-12)
    assert result.get(2).upper <= output * (1 + 2e-6)


def test_u5_quadratic_ball_above_sampled_jacobians(generator):
    network = build_network(NetworkSpec((3, 5, 4, 2), sigma_b=0.3, seed=2))
    centre = torch.tensor([0.5, -0.2, 0.1], dtype=torch.float64)
    bounds = global_bounds(network, Ball(centre, 2.0))
    box = global_bounds(network, Box(centre - 2.0, centre + 2.0))

    direction = torch.randn(4000, 3, generator=generator, dtype=torch.float64)
    direction = direction / torch.linalg.vector_norm(direction, dim=1, keepdim=True)
    radius = 2.0 * torch.rand(4000, 1, generator=generator, dtype=torch.float64)
    points = centre + radius * direction
    for k in range(3):
        jacobian = torch.func.vmap(
            torch.func.jacrev(lambda x, k=k: network.layer_outputs(x[None])[k][0])
        )(points)
        sampled = float(torch.linalg.matrix_norm(jacobian.detach(), ord=2).max())
        # The box contains the ball, so both bounds hold on the ball.
        assert bounds[k].log10_sup_jacobian >= math.log10(sampled)
        assert box[k].log10_sup_jacobian >= math.log10(sampled)


def test_u5_deep_quadratic_beyond_float64_in_log_space():
    network = build_network(NetworkSpec((2,) + (8,) * 12 + (1,), seed=1))
    bounds = global_bounds(network, Ball(torch.zeros(2), 10.0))
    logs = [b.log10_sup_jacobian for b in bounds]
    assert all(math.isfinite(value) for value in logs)
    assert logs[-1] > 308
    # Magnitudes square at every quadratic layer, so once they are large the
    # log roughly doubles from one hidden layer to the next.
    for previous, current in zip(logs[4:-2], logs[5:-1], strict=True):
        assert current > 1.5 * previous
    # The linear last layer only multiplies by ||W_h||.
    last_norm = torch.linalg.matrix_norm(network.linears[-1].weight.detach(), ord=2)
    assert logs[-1] - logs[-2] == pytest.approx(math.log10(float(last_norm)), abs=1e-9)


def test_u5_relu_is_product_of_spectral_norms():
    network = build_network(NetworkSpec((5, 7, 6, 3), activation="relu", seed=4))
    bounds = global_bounds(network, Box(-torch.ones(5), torch.ones(5)))
    norms = [
        torch.linalg.matrix_norm(lin.weight.detach(), ord=2) for lin in network.linears
    ]
    expected = math.log10(float(torch.stack(norms).prod()))
    assert bounds[-1].log10_sup_jacobian == pytest.approx(expected, rel=1e-12)
    assert bounds[-1].log10_sup_jacobian >= expected


def test_u5_above_path_enclosure(generator):
    network = build_network(NetworkSpec((3, 6, 2), sigma_b=0.2, seed=6))
    circle = EllipseArc(
        torch.zeros(3, dtype=torch.float64),
        torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
    )
    result = certified_lengths(network, circle)
    bound = global_bounds(network, Ball(torch.zeros(3), 1.0))[-1]
    assert bound.log10_length_bound(2 * math.pi) >= math.log10(result.get(2).upper)


def test_callable_path_rejected():
    network = build_network(NetworkSpec((2, 3, 1), seed=0))
    path = CallablePath(
        lambda t: torch.stack([t, t], dim=1), lambda t: torch.ones(len(t), 2), 2
    )
    with pytest.raises(ConfigurationError, match="polyline_through"):
        certified_lengths(network, path)


@pytest.mark.parametrize("gap", [0.0, 1.0, -1e-3, math.nan])
def test_invalid_gap_rejected(gap):
    network = build_network(NetworkSpec((2, 3, 1), seed=0))
    line = LineSegment(torch.zeros(2), torch.ones(2))
    with pytest.raises(ConfigurationError, match="gap"):
        certified_lengths(network, line, gap=gap)


def test_model_without_chain_rejected():
    class Branching(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(2, 2).double()

        def forward(self, x):
            return self.inner(x) if x.sum() > 0 else x

    line = LineSegment(torch.zeros(2), torch.ones(2))
    with pytest.raises(ConfigurationError, match="chain of Linear layers"):
        certified_lengths(Branching(), line)


def test_chunked_evaluation_within_budget(monkeypatch):
    network = build_network(NetworkSpec((3, 6, 2), activation="tanh", seed=9))
    path = EllipseArc(torch.zeros(3), torch.ones(3), torch.tensor([1.0, -1.0, 0.0]))
    whole = certified_lengths(network, path, gap=1e-5)
    monkeypatch.setattr("expressivity.certified.segments._CHUNK_ENTRIES", 1)
    chunked = certified_lengths(network, path, gap=1e-5)
    # The same gaps lead to the same partition, whatever the chunk size.
    assert chunked.n_segments == whole.n_segments
    assert chunked.get(2).lower == pytest.approx(whole.get(2).lower, rel=1e-12)
    assert chunked.get(2).upper == pytest.approx(whole.get(2).upper, rel=1e-12)

    limited = certified_lengths(network, path, gap=1e-9, max_evaluations=500)
    assert limited.n_evaluations <= 500
    assert not limited.converged


def test_budget_exhausted_reports_gap_reached():
    network, path = _default_example()
    result = certified_lengths(network, path, gap=1e-8, max_evaluations=300)
    assert not result.converged
    assert result.n_evaluations <= 300
    assert result.gap > 1e-8
    assert result.gap == max(e.gap for e in result.enclosures)
