"""s(t) and r(t) of wide layers against the SVD of independently built Jacobians."""

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from expressivity.bounds import evaluate_bounds, singular, singular_profile
from expressivity.length import trajectory_lengths
from expressivity.models import LayeredModel
from expressivity.paths import random_circle


def _conv_model() -> nn.Sequential:
    """Conv 3x3 and tanh on 1x6x6 images: 36 inputs, 108 outputs, then 5."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Unflatten(1, (1, 6, 6)),
        nn.Conv2d(1, 3, 3, padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(108, 5),
    ).double()


def _clustered_linear(n_inputs: int = 40, n_outputs: int = 60) -> nn.Sequential:
    """One linear layer with s = 1 and 39 singular values spread over [0.01, 0.1].

    Relative to the shift s^2 = 1 the small values cluster, so the shifted
    power iteration for r gains a factor of only about 1 - 5e-5 per step.
    """
    generator = torch.Generator().manual_seed(1)
    left, _ = torch.linalg.qr(
        torch.randn(n_outputs, n_inputs, generator=generator, dtype=torch.float64)
    )
    right, _ = torch.linalg.qr(
        torch.randn(n_inputs, n_inputs, generator=generator, dtype=torch.float64)
    )
    values = torch.linspace(1e-2, 1e-1, n_inputs, dtype=torch.float64)
    values[-1] = 1.0
    model = nn.Sequential(nn.Linear(n_inputs, n_outputs)).double()
    with torch.no_grad():
        model[0].weight.copy_(left @ torch.diag(values) @ right.mT)
    return model


def _reference_extremes(layered: LayeredModel, points: torch.Tensor, layer: int):
    """s and r of one layer's Jacobian from torch.autograd and a dense SVD."""
    s, r = [], []
    for point in points:
        matrix = jacobian(lambda x: layered.outputs(x[None])[layer][0], point)
        values = torch.linalg.svdvals(matrix)
        s.append(values[0])
        injective = matrix.shape[0] >= matrix.shape[1]
        r.append(values[points.shape[1] - 1] if injective else 0)
    return torch.stack(s), torch.tensor(r, dtype=torch.float64)


def test_dense_conv_matches_autograd_svd(generator):
    layered = LayeredModel(_conv_model())
    circle = random_circle(36, generator=generator)
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    profile = singular_profile(layered, circle, t, exact_max_dim=36)
    assert all(profile.exact)
    for layer in range(len(profile.widths)):
        s, r = _reference_extremes(layered, circle.position(t), layer)
        assert torch.allclose(profile.s[layer], s, rtol=1e-12)
        assert torch.allclose(profile.r[layer], r, rtol=1e-10, atol=1e-14)
    assert profile.r[0].min() > 0


def test_dense_blocks_match_one_block(generator, monkeypatch):
    layered = LayeredModel(_conv_model())
    circle = random_circle(36, generator=generator)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    whole = singular_profile(layered, circle, t, exact_max_dim=36)
    # One point per block: every block is smaller than one point's tangents.
    monkeypatch.setattr(singular, "JACOBIAN_MEMORY_BYTES", 1)
    blocked = singular_profile(layered, circle, t, exact_max_dim=36)
    # Batched LAPACK calls may round differently from one-point calls.
    assert torch.allclose(blocked.s, whole.s, rtol=1e-13)
    assert torch.allclose(blocked.r, whole.r, rtol=1e-12)


def test_dense_clustered_values_are_exact(generator):
    layered = LayeredModel(_clustered_linear())
    circle = random_circle(40, generator=generator)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    profile = singular_profile(layered, circle, t, exact_max_dim=40)
    s, r = _reference_extremes(layered, circle.position(t), 0)
    assert torch.allclose(profile.s[0], s, rtol=1e-12)
    assert torch.allclose(profile.r[0], r, rtol=1e-10)
    assert torch.allclose(profile.r[0], torch.full_like(r, 1e-2), rtol=1e-12)


def test_power_clustered_r_not_converged(generator):
    layered = LayeredModel(_clustered_linear())
    circle = random_circle(40, generator=generator)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    power = singular_profile(layered, circle, t, exact_max_dim=0, power_iterations=200)
    assert power.s_converged == [True]
    assert power.r_converged == [False]
    assert "not converged in 200 iterations" in power.methods[0]
    assert torch.allclose(power.s[0], torch.ones(5, dtype=torch.float64), rtol=1e-8)
    # The unconverged shifted iteration stops above the true r = 1e-2.
    assert bool((power.r[0] > 2e-2).all())


def test_power_converged_conv_matches_svd(generator):
    layered = LayeredModel(_conv_model())
    circle = random_circle(36, generator=generator)
    t = torch.linspace(0, 1, 4, dtype=torch.float64)
    power = singular_profile(
        layered, circle, t, exact_max_dim=0, power_iterations=20_000, power_rtol=1e-14
    )
    s, r = _reference_extremes(layered, circle.position(t), 0)
    assert power.s_converged[0]
    assert power.r_converged[0]
    assert torch.allclose(power.s[0], s, rtol=1e-6)
    assert torch.allclose(power.r[0], r, rtol=1e-3)


@pytest.mark.parametrize("name", ["L1", "L2"])
def test_unconverged_r_gives_no_lower_bound(generator, name):
    model = _clustered_linear()
    circle = random_circle(40, generator=generator)
    reference = trajectory_lengths(model, circle)
    result = evaluate_bounds(model, circle, reference, n_samples=9, exact_max_dim=0)
    bound = result.get(name, 1)
    assert bound.kind == "not_applicable"
    assert bound.value is None
    assert "did not converge" in bound.reason
    upper = result.get("U2", 1)
    assert upper.kind == "estimate"
    assert upper.value == pytest.approx(reference.layers[0].length, rel=1e-6)


def test_exact_route_bounds_clustered_layer(generator):
    model = _clustered_linear()
    circle = random_circle(40, generator=generator)
    reference = trajectory_lengths(model, circle)
    result = evaluate_bounds(model, circle, reference, n_samples=9, exact_max_dim=40)
    length = reference.layers[1].length
    input_length = reference.layers[0].length
    assert result.get("L1", 1).kind == "exact"
    assert result.get("L1", 1).value == pytest.approx(1e-2 * input_length, rel=1e-6)
    assert result.get("L1", 1).value <= length
    assert result.get("U1", 1).value == pytest.approx(input_length, rel=1e-6)
