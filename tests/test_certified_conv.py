"""Certified enclosures through convolutions, batch norm, pooling and residual blocks.

References, all in float64 and independent of the interval code:

* single steps: the module applied to points sampled from the input box,
  its corners included;
* lengths and energies of smooth models: the core adaptive quadrature at
  rtol 1e-10 (forward-mode autodiff through the model's own modules);
* models with relu, hard tanh or max pooling, whose speed has kinks: the
  chord sums of a polyline through 2^16 + 1 points. These bound the length
  and the energy from below and converge to them as the points get denser,
  so the lower bounds are checked against them with a relative slack of 1e-5.
"""

import json
import math
import textwrap

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from expressivity.certified import certified_extremes, certified_lengths
from expressivity.certified.interval import Interval
from expressivity.certified.operator_jets import OperatorJetChain
from expressivity.certified.path_enclosure import derivative_boxes
from expressivity.cli.main import app
from expressivity.errors import ConfigurationError
from expressivity.length import trajectory_lengths
from expressivity.models import LayeredModel, discover_chain, make_activation
from expressivity.models.network import ActivationModule
from expressivity.models.zoo import small_resnet
from expressivity.paths import EllipseArc, LineSegment, circle_through

runner = CliRunner()

REFERENCE_RTOL = 1e-10
POLYLINE_POINTS = 2**16 + 1
POLYLINE_RTOL = 1e-5
ACTIVATIONS = [
    ("quadratic", None),
    ("polynomial", (0.2, 1.0, 0.4, -0.1)),
    ("tanh", None),
    ("relu", None),
    ("hardtanh", None),
    ("linear", None),
]
KINKED = {"relu", "hardtanh"}


class _Residual(nn.Module):
    """x -> x + BN(conv(phi(x))), shape preserving."""

    def __init__(self, channels: int, activation: nn.Module) -> None:
        super().__init__()
        self.act = activation
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn(self.conv(self.act(x)))


def _activation(name, coefficients):
    return ActivationModule(make_activation(name, coefficients))


def _randomise_batch_norms(model: nn.Module, generator: torch.Generator) -> None:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            size = module.num_features
            with torch.no_grad():
                module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(size, generator=generator) - 0.5)


def _cnn(
    activation,
    coefficients=None,
    *,
    size=6,
    channels=3,
    kernel=3,
    stride=1,
    padding=1,
    batch_norm=True,
    pool="max",
    residual=True,
    seed=0,
):
    """Unflatten, conv, [BN], phi, [pool], [residual block], flatten, Linear."""
    torch.manual_seed(seed)
    layers = [
        nn.Unflatten(1, (1, size, size)),
        nn.Conv2d(1, channels, kernel, stride=stride, padding=padding),
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(channels))
    layers.append(_activation(activation, coefficients))
    if pool == "max":
        layers.append(nn.MaxPool2d(2))
    elif pool == "avg":
        layers.append(nn.AvgPool2d(2))
    if residual:
        layers.append(_Residual(channels, _activation(activation, coefficients)))
    layers.append(nn.Flatten())
    body = nn.Sequential(*layers).double().eval()
    with torch.no_grad():
        n_features = body(torch.zeros(1, size * size, dtype=torch.float64)).shape[1]
    model = nn.Sequential(*layers, nn.Linear(n_features, 3)).double()
    _randomise_batch_norms(model, torch.Generator().manual_seed(seed))
    return model.eval()


def _circle(dim: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    first = torch.rand(dim, generator=generator, dtype=torch.float64)
    second = torch.rand(dim, generator=generator, dtype=torch.float64)
    return circle_through(first, second, generator=generator)


def _polyline_reference(layered: LayeredModel, path):
    """Chord sums of length and energy per layer (lower bounds of both)."""
    t = torch.linspace(0, 1, POLYLINE_POINTS, dtype=torch.float64)
    with torch.no_grad():
        outputs = layered.outputs(path.position(t))
    step = float(t[1] - t[0])
    lengths, energies = [], []
    for z in outputs:
        chords = torch.linalg.vector_norm(z[1:] - z[:-1], dim=1)
        lengths.append(float(chords.sum()))
        energies.append(float((chords**2).sum() / step))
    return lengths, energies


def _check_contains(result, layered, path, kinked: bool) -> None:
    polyline_lengths, polyline_energies = _polyline_reference(layered, path)
    for enclosure, length, energy in zip(
        result.enclosures, polyline_lengths, polyline_energies, strict=True
    ):
        # A chord sum never exceeds the length, nor the energy.
        assert enclosure.upper >= length * (1 - 1e-12), enclosure
        assert enclosure.energy_upper >= energy * (1 - 1e-12), enclosure
        assert enclosure.lower <= length * (1 + POLYLINE_RTOL), enclosure
        assert enclosure.energy_lower <= energy * (1 + POLYLINE_RTOL), enclosure
    if kinked:
        return
    reference = trajectory_lengths(layered, path, rtol=REFERENCE_RTOL)
    for enclosure in result.enclosures:
        layer = reference.layers[enclosure.layer]
        assert enclosure.contains(layer.length, rtol=1e-8), (enclosure, layer)
        assert (
            enclosure.energy_lower * (1 - 1e-8)
            <= layer.energy
            <= enclosure.energy_upper * (1 + 1e-8)
        ), (enclosure, layer)


# Single steps -------------------------------------------------------------------


def _propagate_box(model: nn.Module, input_shape, centre, radius, derivatives):
    """Stage-1 enclosures of a box of inputs and boxes of their derivatives."""
    chain = OperatorJetChain.from_operator_chain(discover_chain(model, input_shape))
    boxes = [Interval(centre - radius, centre + radius)] + [
        Interval(d - radius, d + radius) for d in derivatives
    ]
    rows = centre.shape[0]
    return chain.propagate(boxes, torch.zeros(rows, dtype=torch.float64))[0].jet


def _box_samples(centre, radius, generator, n_samples=400):
    """Corners (random signs) and interior points of each row's box."""
    rows, dim = centre.shape
    signs = torch.randint(0, 2, (n_samples, rows, dim), generator=generator) * 2 - 1
    corners = centre + radius * signs.to(torch.float64)
    inside = centre + radius * (
        2 * torch.rand(n_samples, rows, dim, generator=generator, dtype=torch.float64)
        - 1
    )
    return torch.cat([corners, inside])


CONV_CASES = [
    nn.Conv2d(2, 3, 3),
    nn.Conv2d(2, 3, 3, stride=2, padding=1),
    nn.Conv2d(2, 4, 3, padding=2, dilation=2, bias=False),
    nn.Conv2d(2, 4, (3, 1), padding=1, groups=2),
    nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),
    nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
    nn.Conv1d(2, 3, 3, stride=2, padding=1),
]


@pytest.mark.parametrize("conv", CONV_CASES, ids=repr)
def test_conv_enclosure_contains_samples(conv):
    generator = torch.Generator().manual_seed(0)
    conv = conv.double()
    input_shape = (2, 5) if isinstance(conv, nn.Conv1d) else (2, 5, 5)
    model = nn.Sequential(conv).eval()
    n = math.prod(input_shape)
    centre = torch.randn(3, n, generator=generator, dtype=torch.float64)
    radius = 0.1 * torch.rand(3, n, generator=generator, dtype=torch.float64)
    derivative = torch.randn(3, n, generator=generator, dtype=torch.float64)
    jet = _propagate_box(model, input_shape, centre, radius, [derivative] * 3)

    samples = _box_samples(centre, radius, generator)
    with torch.no_grad():
        values = model(samples.reshape(-1, *input_shape)).reshape(len(samples), 3, -1)
        slopes = conv._conv_forward(
            (samples - centre + derivative).reshape(-1, *input_shape), conv.weight, None
        ).reshape(len(samples), 3, -1)
    assert (values >= jet[0].lower).all()
    assert (values <= jet[0].upper).all()
    assert (slopes >= jet[1].lower).all()
    assert (slopes <= jet[1].upper).all()
    # Not loose: the exact range of x -> A x + b over the box has half-width
    # abs(A) r.
    with torch.no_grad():
        half_width = conv._conv_forward(
            radius.reshape(-1, *input_shape), conv.weight.abs(), None
        ).reshape(3, -1)
    width = jet[0].upper - jet[0].lower
    assert (width <= 2 * half_width * (1 + 1e-12) + 1e-12).all()


@pytest.mark.parametrize(
    "module",
    [
        nn.BatchNorm2d(2),
        nn.AvgPool2d(2),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        nn.AdaptiveAvgPool2d(1),
        nn.MaxPool2d(2),
        nn.MaxPool2d(3, stride=2, padding=1, dilation=1),
        nn.MaxPool2d(2, stride=1, dilation=2),
    ],
    ids=repr,
)
def test_step_enclosure_contains_samples(module):
    generator = torch.Generator().manual_seed(1)
    module = module.double()
    _randomise_batch_norms(module, generator)
    model = nn.Sequential(module).eval()
    input_shape = (2, 5, 5)
    centre = torch.randn(3, 50, generator=generator, dtype=torch.float64)
    radius = 0.3 * torch.rand(3, 50, generator=generator, dtype=torch.float64)
    zero = torch.zeros_like(centre)
    jet = _propagate_box(model, input_shape, centre, radius, [zero] * 3)

    samples = _box_samples(centre, radius, generator)
    with torch.no_grad():
        values = model(samples.reshape(-1, *input_shape)).reshape(len(samples), 3, -1)
        # Each output is monotone in every input with one sign per channel,
        # so the exact range comes from the box's lowest and highest corners.
        corners = [
            model((centre + sign * radius).reshape(-1, *input_shape))
            for sign in (-1, 1)
        ]
    low = torch.minimum(*corners).reshape(3, -1)
    high = torch.maximum(*corners).reshape(3, -1)
    assert (values >= jet[0].lower).all()
    assert (values <= jet[0].upper).all()
    assert (low >= jet[0].lower).all()
    assert (high <= jet[0].upper).all()
    width = jet[0].upper - jet[0].lower
    assert (width <= (high - low) * (1 + 1e-12) + 1e-12).all()


def test_max_pool_derivative_is_hull_of_candidates():
    # The two inputs of the window, x_1 = t and x_2 = 1 - t, cross at t = 1/2.
    # On a segment around the crossing the derivative lies in [-1, 1] and the
    # output is not smooth. On [0, 0.2] the maximum is x_2, of derivative -1.
    model = nn.Sequential(nn.MaxPool1d(2)).double().eval()
    chain = OperatorJetChain.from_operator_chain(discover_chain(model, (1, 2)))
    path = LineSegment(
        torch.tensor([0.0, 1.0], dtype=torch.float64),
        torch.tensor([1.0, 0.0], dtype=torch.float64),
    )
    t0 = torch.tensor([0.4, 0.0], dtype=torch.float64)
    t1 = torch.tensor([0.6, 0.2], dtype=torch.float64)
    jets = chain.propagate(derivative_boxes(path, t0, t1), (t1 - t0) / 2)
    derivative = jets[0].jet[1]
    assert derivative.lower[0, 0] <= -1.0
    assert derivative.upper[0, 0] >= 1.0
    assert not bool(jets[0].smooth[0])
    assert derivative.lower[1, 0] == pytest.approx(-1.0, abs=1e-12)
    assert derivative.upper[1, 0] == pytest.approx(-1.0, abs=1e-12)
    assert bool(jets[0].smooth[1])


# Whole models -------------------------------------------------------------------


@pytest.mark.parametrize(("activation", "coefficients"), ACTIVATIONS)
def test_cnn_enclosures_contain_reference(activation, coefficients):
    pool = "max" if activation in KINKED else "avg"
    model = _cnn(activation, coefficients, pool=pool, seed=3)
    layered = LayeredModel(model)
    path = _circle(36, seed=3)
    result = certified_lengths(layered, path, gap=1e-3, max_evaluations=20_000)
    assert [e.name for e in result.enclosures] == layered.names
    _check_contains(result, layered, path, kinked=activation in KINKED)
    assert result.gap < 0.05


def test_max_pool_smooth_activation_contains_reference():
    model = _cnn("tanh", pool="max", seed=5)
    layered = LayeredModel(model)
    path = _circle(36, seed=5)
    result = certified_lengths(layered, path, gap=1e-3, max_evaluations=20_000)
    _check_contains(result, layered, path, kinked=True)


def test_resnet_enclosures_contain_reference():
    model = small_resnet((1, 6, 6), 3, activation="quadratic", widths=(2, 3))
    _randomise_batch_norms(model, torch.Generator().manual_seed(0))
    model.eval()
    layered = LayeredModel(model)
    path = _circle(36, seed=11)
    result = certified_lengths(layered, path, gap=1e-3, max_evaluations=20_000)
    assert result.converged
    _check_contains(result, layered, path, kinked=False)


@settings(max_examples=12, deadline=None)
@given(
    activation=st.sampled_from(ACTIVATIONS),
    channels=st.integers(1, 3),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 1),
    batch_norm=st.booleans(),
    pool=st.sampled_from(["max", "avg", "none"]),
    residual=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_random_architectures_contain_reference(
    activation, channels, kernel, stride, padding, batch_norm, pool, residual, seed
):
    name, coefficients = activation
    model = _cnn(
        name,
        coefficients,
        size=5,
        channels=channels,
        kernel=kernel,
        stride=stride,
        padding=padding,
        batch_norm=batch_norm,
        pool=pool,
        residual=residual,
        seed=seed,
    )
    layered = LayeredModel(model)
    generator = torch.Generator().manual_seed(seed)
    points = torch.randn(3, 25, generator=generator, dtype=torch.float64)
    path = EllipseArc(points[0], points[1], points[2], 0.3, 2.0)
    result = certified_lengths(layered, path, gap=1e-2, max_evaluations=3000)
    _check_contains(result, layered, path, kinked=name in KINKED or pool == "max")


# Unsupported modules ------------------------------------------------------------


def test_unsupported_module_names_it():
    model = nn.Sequential(
        nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3), nn.GELU(), nn.Flatten()
    ).double()
    path = _circle(16, seed=0)
    with pytest.raises(ConfigurationError, match=r"'2' \(GELU\)"):
        certified_lengths(model, path)


def test_ceil_mode_max_pool_names_it():
    model = nn.Sequential(
        nn.Unflatten(1, (1, 5, 5)),
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Tanh(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(),
    ).double()
    with pytest.raises(ConfigurationError, match=r"max pooling '3'.*ceil_mode"):
        certified_lengths(model, _circle(25, seed=0))


def test_extremes_not_certified_for_cnn():
    model = _cnn("tanh", pool="avg")
    with pytest.raises(ConfigurationError, match="chains of Linear layers"):
        certified_extremes(model, _circle(36, seed=0))


USER_MODULE = textwrap.dedent(
    """
    from torch import nn

    from expressivity.models.zoo import image_cnn


    def digits_cnn():
        return image_cnn(
            (1, 8, 8), 10, activation="tanh", channels=(2,), hidden=4, batch_norm=True
        )


    def gelu_cnn():
        return nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.GELU(),
            nn.Flatten(), nn.Linear(72, 10),
        ).double()
    """
)


@pytest.fixture
def user_module(write_module):
    write_module("certified_conv_models", USER_MODULE)


FAST = ["--samples", "9", "--tolerance", "1e-8", "--examples", "0,1"]


def test_run_certified_cnn(tmp_path, user_module):
    out = tmp_path / "result.json"
    spec = "certified_conv_models:digits_cnn"
    result = runner.invoke(
        app,
        ["run", "--certified", "--no-bounds", "--model", spec, "--json", str(out)]
        + FAST,
    )
    assert result.exit_code == 0, result.output
    assert "not certified: sup s(t) and inf r(t)" in result.output
    payload = json.loads(out.read_text())
    assert payload["certified"]["converged"]
    assert payload["certified"]["extremes_segments"] is None
    for layer in payload["layers"][1:]:
        enclosure = layer["enclosure"]
        slack = 1e-7 * layer["length"]
        assert enclosure["lower"] - slack <= layer["length"]
        assert layer["length"] <= enclosure["upper"] + slack
        assert enclosure["sup_s"] is None
        assert "chains of Linear layers" in enclosure["inf_r_reason"]


def test_run_certified_unsupported_module(user_module):
    result = runner.invoke(
        app,
        [
            "run",
            "--certified",
            "--no-bounds",
            "--model",
            "certified_conv_models:gelu_cnn",
            *FAST,
        ],
    )
    assert result.exit_code == 2
    assert "certified bounds need a chain" in result.output
    assert "GELU" in result.output
    assert "] c" not in result.output


def test_run_input_shape_of_flat_model(user_module):
    # digits_cnn takes flat inputs (it starts with nn.Unflatten), so a shape
    # of (1, 8, 8) is not what it takes.
    result = runner.invoke(
        app,
        [
            "run",
            "--model",
            "certified_conv_models:digits_cnn",
            "--input-shape",
            "1,8,8",
            *FAST,
        ],
    )
    assert result.exit_code == 2
    assert "does not run on inputs of shape (1, 8, 8)" in result.output
