"""Chains read off convolutional and residual models, and their product bounds."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bounds import _check_bounds_hold
from torch import nn
from torch.autograd.functional import jacobian

from expressivity.bounds import evaluate_bounds, singular_profile
from expressivity.bounds.operator_profile import operator_profile
from expressivity.length import polyline_parameters, trajectory_lengths
from expressivity.models import ActivationModule, LayeredModel, make_activation
from expressivity.models.chain import ChainUnavailable
from expressivity.models.discovery import (
    ActivationStep,
    LinearStep,
    MaxPoolStep,
    ResidualStep,
    discover_chain,
)
from expressivity.paths import LineSegment, random_circle


class Block(nn.Module):
    """x -> act(shortcut(x) + conv2(act(bn1(conv1(x)))))."""

    def __init__(self, c_in, c_out, stride=1, activation="tanh", scale=1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.act = ActivationModule(make_activation(activation))
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride), nn.BatchNorm2d(c_out)
            )
        with torch.no_grad():
            self.conv2.weight.mul_(scale)

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.act(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        out += identity
        return self.act(out)


def _randomise_batchnorm(model, generator):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


def _small_resnet(seed=0, activation="tanh", scale=0.3):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Unflatten(1, (1, 6, 6)),
        nn.Conv2d(1, 3, 3, padding=1),
        ActivationModule(make_activation(activation)),
        Block(3, 3, activation=activation, scale=scale),
        Block(3, 4, stride=2, activation=activation, scale=scale),
        nn.AvgPool2d(2, stride=1),
        nn.Flatten(),
        nn.Linear(16, 3),
    ).double()
    return _randomise_batchnorm(model, torch.Generator().manual_seed(seed))


def test_discover_sequential_cnn_names_and_widths():
    model = nn.Sequential(
        nn.Unflatten(1, (2, 8)),
        nn.Conv1d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(3, 4, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(8, 2),
    ).double()
    chain = discover_chain(model)
    assert chain.input_shape == (16,)
    assert chain.names == ["1", "4", "7"]
    assert chain.widths == [16, 24, 8, 2]
    kinds = [type(step) for step in chain.stages[1].steps]
    assert kinds == [MaxPoolStep, LinearStep, ActivationStep]
    x = torch.randn(5, 16, dtype=torch.float64)
    assert torch.allclose(chain.forward_all(x)[0][-1], model(x))


def test_discover_residual_blocks():
    model = _small_resnet()
    layered = LayeredModel(model)
    chain = layered.operator_chain
    assert chain is not None
    assert layered.names == ["1", "3", "4", "7"]
    assert layered.widths == [36, 108, 108, 36, 3]
    block = chain.stages[2].steps[0]
    assert isinstance(block, ResidualStep)
    assert block.name == "4"
    # The downsampling shortcut is the 1x1 convolution and its batch norm.
    shortcut_names = {step.name for step in block.branches[1]}
    assert shortcut_names == {"4.shortcut.0", "4.shortcut.1"}
    x = torch.randn(4, 36, dtype=torch.float64)
    assert torch.allclose(layered.outputs(x)[-1], model(x), rtol=1e-12)


def test_discover_needs_input_shape_for_conv_first():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten()).double()
    with pytest.raises(ChainUnavailable, match="input_shape"):
        discover_chain(model)
    chain = discover_chain(model, (1, 5, 5))
    assert chain.widths == [25, 18]
    layered = LayeredModel(model, input_shape=(1, 5, 5))
    x = torch.randn(3, 25, dtype=torch.float64)
    assert torch.allclose(layered.outputs(x)[-1], model(x.reshape(3, 1, 5, 5)))


def test_quadratic_written_as_product_is_an_activation():
    class Square(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(3, 4)
            self.last = nn.Linear(4, 2)

        def forward(self, x):
            u = self.first(x)
            return self.last(u * u)

    chain = discover_chain(Square().double())
    activation = chain.stages[0].steps[-1]
    assert isinstance(activation, ActivationStep)
    assert activation.activation.name == "quadratic"


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        tokens = self.embed(x).unsqueeze(1)
        mixed, _ = self.attention(tokens, tokens, tokens)
        return self.head(mixed.squeeze(1))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.linear(x)
        return -x


@pytest.mark.parametrize(
    "model, fragment",
    [
        (Attention(), "attention"),
        (DataDependent(), "could not trace"),
        (nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)), "GELU"),
        (
            nn.Sequential(nn.Unflatten(1, (1, 4)), nn.BatchNorm1d(1), nn.Flatten()),
            "model.eval()",
        ),
    ],
)
def test_unsupported_module_named(model, fragment):
    layered = LayeredModel(model.double())
    assert layered.operator_chain is None
    assert layered.chain is None
    assert fragment in layered.chain_reason


def test_unsupported_module_falls_back_to_jacobian_figures(generator):
    # Train mode (no dropout here) avoids the fused attention kernel, which has
    # no forward-mode derivative in torch 2.13.
    model = Attention().double()
    circle = random_circle(4, generator=generator)
    reference = trajectory_lengths(model, circle, rtol=1e-10)
    result = evaluate_bounds(model, circle, reference, n_samples=33)
    for name in ("U3", "U4", "L3"):
        bound = result.get(name, 1)
        assert bound.kind == "not_applicable"
        assert bound.value is None
        assert "'attention' (MultiheadAttention)" in bound.reason
    assert result.get("U1", 1).kind == "exact"
    assert result.get("U1", 1).value >= reference.output_length * (1 - 2e-4)
    assert result.get("L1", 1).value <= reference.output_length * (1 + 2e-4)


def _stage_jacobians(chain, x):
    """Dense Jacobian of every stage map at every row of x (flat inputs)."""
    outputs, _ = chain.forward_all(x)
    inputs = [x, *outputs[:-1]]
    shapes = [chain.input_shape] + [stage.output_shape for stage in chain.stages]
    per_stage = []
    for k, stage in enumerate(chain.stages):

        def stage_map(z, stage=stage, shape=shapes[k]):
            return stage.forward(z.reshape(1, *shape)).reshape(-1)

        per_stage.append(
            torch.stack([jacobian(stage_map, row.detach()) for row in inputs[k]])
        )
    return per_stage


def _check_stage_factors(chain, path, n_points, dense_max_entries):
    t = polyline_parameters(path, n_points)
    profile = operator_profile(chain, path, t, dense_max_entries=dense_max_entries)
    jacobians = _stage_jacobians(chain, path.position(t))
    for k, stage_jacobians in enumerate(jacobians):
        values = torch.linalg.svdvals(stage_jacobians)
        upper = torch.exp(profile.log_upper[k])
        assert torch.all(values[:, 0] <= upper * (1 + 1e-9)), chain.names[k]
        if profile.lower_problems[k] is None:
            n_in = stage_jacobians.shape[2]
            lower = torch.exp(profile.log_lower[k])
            assert torch.all(values[:, n_in - 1] >= lower * (1 - 1e-9)), chain.names[k]
    return profile


@settings(max_examples=25)
@given(
    channels=st.integers(1, 3),
    activation=st.sampled_from(["tanh", "relu", "quadratic", "linear"]),
    scale=st.floats(0.05, 2.0),
    stride=st.sampled_from([1, 2]),
    dense=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_residual_and_batchnorm_factors_hold(
    channels, activation, scale, stride, dense, seed
):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Unflatten(1, (channels, 4, 4)),
        nn.BatchNorm2d(channels),
        Block(channels, channels + stride - 1, stride, activation, scale),
    ).double()
    model = _randomise_batchnorm(model, torch.Generator().manual_seed(seed))
    chain = discover_chain(model)
    generator = torch.Generator().manual_seed(seed)
    n_in = channels * 16
    path = LineSegment(
        torch.randn(n_in, generator=generator, dtype=torch.float64),
        torch.randn(n_in, generator=generator, dtype=torch.float64),
    )
    _check_stage_factors(chain, path, 5, dense_max_entries=2**22 if dense else 0)


@settings(max_examples=20)
@given(scale=st.floats(0.01, 0.2), seed=st.integers(0, 10_000))
def test_residual_lower_bound_positive_for_small_branch(scale, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Unflatten(1, (2, 3, 3)), Block(2, 2, activation="tanh", scale=scale)
    ).double()
    model = _randomise_batchnorm(model, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        model[1].conv1.weight.mul_(0.3)
    chain = discover_chain(model)
    generator = torch.Generator().manual_seed(seed)
    path = LineSegment(
        torch.randn(18, generator=generator, dtype=torch.float64),
        torch.randn(18, generator=generator, dtype=torch.float64),
    )
    # The lower factor is applicable only when ||J_g|| < 1 and tanh' > 0.
    profile = _check_stage_factors(chain, path, 5, dense_max_entries=2**22)
    if profile.lower_problems[0] is None:
        assert bool(torch.all(torch.isfinite(profile.log_lower[0])))


@pytest.mark.parametrize("activation", ["tanh", "quadratic", "relu"])
def test_cnn_product_bounds_hold(activation):
    model = _small_resnet(seed=3, activation=activation)
    chain = discover_chain(model)
    path = random_circle(36, generator=torch.Generator().manual_seed(2))
    _check_stage_factors(chain, path, 7, dense_max_entries=0)

    # The products dominate the exact Jacobian norms of the core profile.
    t = polyline_parameters(path, 33)
    profile = operator_profile(chain, path, t, dense_max_entries=0)
    exact = singular_profile(LayeredModel(model), path, t)
    for k in range(len(chain.stages)):
        product = torch.exp(profile.log_upper[: k + 1].sum(dim=0))
        assert torch.all(exact.s[k] <= product * (1 + 1e-9))


@pytest.mark.parametrize("activation", ["tanh", "quadratic"])
def test_cnn_labelled_bounds_hold(activation):
    model = _small_resnet(seed=5, activation=activation)
    circle = random_circle(36, generator=torch.Generator().manual_seed(4))
    reference = trajectory_lengths(model, circle, rtol=1e-9)
    # Every exact or certified figure holds; a violated estimate is flagged.
    result = _check_bounds_hold(model, circle, reference)
    for k in range(1, 5):
        u3, u4 = result.get("U3", k), result.get("U4", k)
        assert u3.kind == "estimate"
        assert u3.value <= u4.value * (1 + 1e-12)
        # U3 integrates nothing but dominates s(t) at every sample, so it is
        # at least the sampled sup U2.
        assert u3.value >= result.get("U2", k).value * (1 - 1e-9)
    assert "operator norms" in result.get("U3", 4).reason
    l3 = result.get("L3", 4)
    assert l3.kind == "not_applicable"
    assert l3.reason.startswith("not applicable")


def test_stage_widths_flatten_channels():
    model = _small_resnet()
    chain = discover_chain(model)
    assert [stage.output_shape for stage in chain.stages] == [
        (3, 6, 6),
        (3, 6, 6),
        (4, 3, 3),
        (3,),
    ]
    assert math.prod(chain.input_shape) == 36


def test_discovery_failure_keeps_jacobian_figures(monkeypatch):
    import expressivity.models.discovery as discovery

    def broken(model, input_shape=None):
        raise RuntimeError("unexpected graph")

    monkeypatch.setattr(discovery, "discover_chain", broken)
    model = nn.Sequential(nn.Unflatten(1, (1, 3)), nn.Conv1d(1, 1, 2)).double()
    layered = LayeredModel(model)
    assert layered.operator_chain is None
    assert "RuntimeError: unexpected graph" in layered.chain_reason
    x = torch.randn(2, 3, dtype=torch.float64)
    assert torch.allclose(layered.outputs(x)[0], model(x).reshape(2, -1))
