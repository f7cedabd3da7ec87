import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.autograd.functional import jacobian

from expressivity.bounds import evaluate_bounds, layerwise_profile, singular_profile
from expressivity.length import trajectory_lengths
from expressivity.models import LayeredModel, NetworkSpec, build_network, extract_chain
from expressivity.paths import LineSegment, random_circle, random_line

# Slack for "exact" bounds: U1 and L1 are integrals computed to rtol 1e-4.
EXACT_SLACK = 2e-4


def _reference_jacobians(network, points):
    """Per-point Jacobians of every layer output with torch.autograd."""
    layers = []
    for k in range(network.depth):
        per_point = [
            jacobian(lambda x, k=k: network.layer_outputs(x[None])[k][0], point)
            for point in points
        ]
        layers.append(torch.stack(per_point))
    return layers


def test_singular_profile_matches_autograd(generator):
    network = build_network(NetworkSpec((5, 7, 4, 6), activation="quadratic"))
    circle = random_circle(5, generator=generator)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    profile = singular_profile(LayeredModel(network), circle, t)
    references = _reference_jacobians(network, circle.position(t))
    for k, reference in enumerate(references):
        values = torch.linalg.svdvals(reference)
        assert torch.allclose(profile.s[k], values[:, 0], rtol=1e-12)
        expected_r = values[:, 4] if reference.shape[1] >= 5 else torch.zeros(9)
        assert torch.allclose(profile.r[k], expected_r.double(), rtol=1e-10, atol=1e-14)
    assert all(profile.exact)


def test_power_iteration_matches_exact(generator):
    network = build_network(NetworkSpec((6, 9, 8), activation="tanh", sigma_w=1.5))
    circle = random_circle(6, generator=generator)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    layered = LayeredModel(network)
    exact = singular_profile(layered, circle, t)
    power = singular_profile(
        layered, circle, t, exact_max_dim=0, power_iterations=5000, power_rtol=1e-14
    )
    assert not any(power.exact)
    assert "power iteration" in power.methods[0]
    assert torch.allclose(power.s, exact.s, rtol=1e-6)
    assert torch.allclose(power.r, exact.r, rtol=1e-3, atol=1e-6)


def test_quadratic_derivative_norm_is_twice_max_preactivation(generator):
    network = build_network(NetworkSpec((3, 5, 4, 2), activation="quadratic"))
    line = random_line(3, generator=generator)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    profile = layerwise_profile(extract_chain(network), line, t)
    x = line.position(t)
    u1 = network.linears[0](x)
    u2 = network.linears[1](u1**2)
    for k, u in enumerate((u1, u2)):
        expected = torch.log(2 * u.detach().abs().max(dim=1).values)
        assert torch.allclose(profile.log_derivative_max[k], expected, rtol=1e-12)
    norms = [
        torch.linalg.matrix_norm(lin.weight.detach(), ord=2) for lin in network.linears
    ]
    assert torch.allclose(profile.log_weight_norms, torch.log(torch.stack(norms)))


def _check_bounds_hold(network, path, reference):
    result = evaluate_bounds(network, path, reference, n_samples=129)
    for bound in result.bounds:
        layer = reference.layers[bound.layer]
        measured = layer.length if bound.quantity == "length" else layer.energy
        if bound.kind == "not_applicable":
            assert bound.value is None
            continue
        assert bound.value is not None or bound.log10_value is not None
        value = bound.value if bound.value is not None else math.inf
        violated = (
            value < measured * (1 - EXACT_SLACK) - 1e-12
            if bound.direction == "upper"
            else value > measured * (1 + EXACT_SLACK) + 1e-12
        )
        if bound.kind in ("exact", "certified"):
            assert not violated, bound
        elif violated:
            assert "not a valid bound here" in bound.reason, bound
    return result


@settings(max_examples=60)
@given(
    hidden=st.lists(st.integers(1, 7), min_size=0, max_size=3),
    n_inputs=st.integers(1, 5),
    n_outputs=st.integers(1, 5),
    activation=st.sampled_from(["quadratic", "relu", "tanh", "hardtanh", "linear"]),
    path_kind=st.sampled_from(["circle", "line"]),
    seed=st.integers(0, 100_000),
)
def test_labelled_bounds_hold(hidden, n_inputs, n_outputs, activation, path_kind, seed):
    if path_kind == "circle" and n_inputs < 2:
        path_kind = "line"
    widths = (n_inputs, *hidden, n_outputs)
    network = build_network(
        NetworkSpec(widths, activation=activation, seed=seed, sigma_b=0.5)
    )
    generator = torch.Generator().manual_seed(seed)
    path = (
        random_circle(n_inputs, generator=generator)
        if path_kind == "circle"
        else random_line(n_inputs, 2.0, generator=generator)
    )
    reference = trajectory_lengths(network, path, rtol=1e-10)
    result = _check_bounds_hold(network, path, reference)

    for k in range(1, len(widths)):
        for quantity in ("length", "energy"):
            u3 = result.get("U3", k, quantity)
            u4 = result.get("U4", k, quantity)
            # Same samples: the sup of a product never exceeds the product of sups.
            assert u3.value <= u4.value * (1 + 1e-12)
            l3 = result.get("L3", k, quantity)
            if any(widths[j] < widths[j - 1] for j in range(1, k + 1)):
                assert l3.kind == "not_applicable"
                assert "maps R^" in l3.reason
            if widths[k] < widths[0]:
                assert result.get("L1", k, quantity).value == 0.0
                assert "vacuous: m < n" in result.get("L1", k, quantity).reason


def test_l3_applicable_on_expanding_tanh(generator):
    network = build_network(
        NetworkSpec((3, 5, 7, 9), activation="tanh", sigma_b=0.2, seed=4)
    )
    line = random_line(3, 1.0, generator=generator)
    reference = trajectory_lengths(network, line, rtol=1e-10)
    result = _check_bounds_hold(network, line, reference)
    for k in (1, 2, 3):
        l3 = result.get("L3", k)
        assert l3.kind == "estimate"
        assert l3.value > 0
        assert l3.value <= reference.layers[k].length
        assert l3.value <= result.get("L2", k).value * (1 + 1e-9)
        assert result.get("L1", k).value <= reference.layers[k].length * (
            1 + EXACT_SLACK
        )


def test_l3_rank_deficient_weight(generator):
    network = build_network(NetworkSpec((3, 5, 6), activation="tanh", seed=1))
    with torch.no_grad():
        network.linears[0].weight[:, 2] = network.linears[0].weight[:, 1]
    line = random_line(3, generator=generator)
    reference = trajectory_lengths(network, line)
    result = evaluate_bounds(network, line, reference)
    assert result.get("L3", 2).kind == "not_applicable"
    assert "W_1 is rank deficient" in result.get("L3", 2).reason


def test_l3_relu_dead_unit_not_applicable():
    network = build_network(NetworkSpec((2, 4, 5), activation="relu", seed=3))
    with torch.no_grad():
        network.linears[0].bias[0] = -100.0
    line = LineSegment(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0]))
    reference = trajectory_lengths(network, line)
    result = evaluate_bounds(network, line, reference)
    assert result.get("L3", 1).kind == "not_applicable"
    assert "vanishes on the path" in result.get("L3", 1).reason


def test_quadratic_sign_change_detected():
    network = build_network(NetworkSpec((1, 1, 1), activation="quadratic", bias=False))
    with torch.no_grad():
        network.linears[0].weight.fill_(1.0)
        network.linears[1].weight.fill_(1.0)
    # u(1) = x runs from -1 to 1 and crosses 0 between samples (odd count).
    line = LineSegment(torch.tensor([-1.0]), torch.tensor([1.0 + 1e-3]))
    reference = trajectory_lengths(network, line)
    result = evaluate_bounds(network, line, reference, n_samples=8)
    assert result.get("L3", 1).kind == "not_applicable"


def test_u1_matches_independent_integral(generator):
    network = build_network(NetworkSpec((4, 6, 3), activation="quadratic", seed=8))
    circle = random_circle(4, generator=generator)
    reference = trajectory_lengths(network, circle, rtol=1e-10)
    result = evaluate_bounds(network, circle, reference)
    t = torch.linspace(0, 1, 4001, dtype=torch.float64)
    jacobians = _reference_jacobians(network, circle.position(t))[-1]
    speed = torch.linalg.vector_norm(circle.velocity(t), dim=1)
    integrand = torch.linalg.svdvals(jacobians)[:, 0] * speed
    # Trapezoid rule on a periodic integrand converges fast.
    trapezoid = float(torch.trapezoid(integrand, t))
    assert result.get("U1", 2).value == pytest.approx(trapezoid, rel=1e-4)
    assert result.get("U1", 2).value >= reference.output_length


def test_generic_module_product_bounds_not_available(generator):
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 3).double()

        def forward(self, x):
            # sin is no supported activation, so no chain can be read off.
            return torch.sin(self.inner(x))

    model = Wrapped()
    circle = random_circle(3, generator=generator)
    reference = trajectory_lengths(model, circle, rtol=1e-10)
    result = _check_bounds_hold(model, circle, reference)
    for name in ("U3", "U4", "L3"):
        bound = result.get(name, 1)
        assert bound.kind == "not_applicable"
        assert bound.reason.startswith("not available for this model")
    assert result.get("U1", 1).kind == "exact"


def test_products_beyond_float64_reported_in_log_space():
    # Alternating diag(1e30, 1e-30) and diag(1e-30, 1e30): the network is the
    # identity, but the product of the 12 spectral norms is 1e360.
    network = build_network(NetworkSpec((2,) * 13, activation="linear", bias=False))
    with torch.no_grad():
        for index, linear in enumerate(network.linears):
            big, small = (1e30, 1e-30) if index % 2 == 0 else (1e-30, 1e30)
            linear.weight.copy_(torch.diag(torch.tensor([big, small])))
    line = LineSegment(torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0]))
    reference = trajectory_lengths(network, line)
    assert reference.output_length == pytest.approx(5.0)
    result = evaluate_bounds(network, line, reference)
    bound = result.get("U4", 12)
    assert bound.value is None
    assert bound.log10_value == pytest.approx(360 + math.log10(5.0))
    assert "float64 range" in bound.reason
    assert result.get("U1", 12).value == pytest.approx(5.0, rel=1e-6)
