import math

import numpy as np
import pytest
import torch
from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.models import (
    ACTIVATION_NAMES,
    ActivationModule,
    ChainUnavailable,
    FullyConnected,
    LayeredModel,
    NetworkSpec,
    build_network,
    extract_chain,
    load_network,
    make_activation,
    save_network,
)


@pytest.mark.parametrize(
    "name, coefficients",
    [
        ("quadratic", ()),
        ("polynomial", (0.5, -1.0, 0.25, 0.1)),
        ("relu", ()),
        ("tanh", ()),
        ("hardtanh", ()),
        ("linear", ()),
    ],
)
def test_activation_derivative_matches_autograd(name, coefficients):
    activation = make_activation(name, coefficients)
    # Avoid the kinks of relu (0) and hard tanh (+-1), where autograd picks a side.
    u = torch.tensor([-2.3, -0.7, -0.2, 0.3, 0.8, 1.9], dtype=torch.float64)
    u.requires_grad_(True)
    (gradient,) = torch.autograd.grad(activation(u).sum(), u)
    assert torch.allclose(activation.derivative(u.detach()), gradient, atol=1e-14)


def test_activation_facts():
    assert make_activation("quadratic").degree == 2
    assert make_activation("quadratic").derivative_sup is None
    assert make_activation("relu").derivative_sup == 1.0
    assert make_activation("polynomial", (1.0, 0.0, 0.0, 2.0)).degree == 3
    assert make_activation("hard-tanh").name == "hardtanh"
    assert set(ACTIVATION_NAMES) >= {"quadratic", "relu", "tanh"}


def test_unknown_activation_names_choices():
    with pytest.raises(ConfigurationError, match="unknown activation 'swish'"):
        make_activation("swish")


def test_coefficients_only_for_polynomial():
    with pytest.raises(ConfigurationError, match="only to 'polynomial'"):
        make_activation("relu", (1.0, 2.0))


def test_build_network_shapes_dtype_and_seed():
    spec = NetworkSpec((5, 7, 3), activation="tanh", seed=3, dtype="float32")
    network = build_network(spec)
    assert network.widths == [5, 7, 3]
    assert network.linears[0].weight.dtype == torch.float32
    again = build_network(spec)
    assert torch.equal(network.linears[1].weight, again.linears[1].weight)
    other = build_network(NetworkSpec((5, 7, 3), activation="tanh", seed=4))
    assert not torch.allclose(
        network.linears[0].weight.double(), other.linears[0].weight
    )


@pytest.mark.parametrize(
    "init, sigma_w, expected",
    [
        ("normal", 2.0, lambda fan_in, fan_out: 4.0 / fan_in),
        ("he", 1.0, lambda fan_in, fan_out: 2.0 / fan_in),
        ("lecun", 1.0, lambda fan_in, fan_out: 1.0 / fan_in),
        ("glorot", 1.0, lambda fan_in, fan_out: 2.0 / (fan_in + fan_out)),
    ],
)
def test_initialisation_variance(init, sigma_w, expected):
    network = build_network(
        NetworkSpec((400, 300, 2), init=init, sigma_w=sigma_w, sigma_b=0.5)
    )
    weight = network.linears[0].weight.detach()
    variance = float(weight.var())
    # 120000 draws: the sample variance is within 2 % with overwhelming odds.
    assert variance == pytest.approx(expected(400, 300), rel=0.02)
    assert float(network.linears[0].bias.detach().std()) == pytest.approx(0.5, rel=0.15)


def test_no_bias_network():
    network = build_network(NetworkSpec((3, 4, 2), bias=False))
    assert all(linear.bias is None for linear in network.linears)


@pytest.mark.parametrize("widths", [(3,), (3, 0, 2), (3, -4, 2)])
def test_invalid_widths_rejected(widths):
    with pytest.raises(ConfigurationError, match="width"):
        NetworkSpec(widths)


def test_invalid_sigma_and_dtype_rejected():
    with pytest.raises(ConfigurationError, match="sigma_w"):
        NetworkSpec((2, 2), sigma_w=-1.0)
    with pytest.raises(ConfigurationError, match="dtype 'float16'"):
        NetworkSpec((2, 2), dtype="float16")
    with pytest.raises(ConfigurationError, match="initialisation 'xavier'"):
        NetworkSpec((2, 2), init="xavier")


def test_layer_outputs_follow_definition():
    network = build_network(NetworkSpec((4, 6, 5, 3), activation="quadratic"))
    x = torch.randn(10, 4, dtype=torch.float64)
    outputs = network.layer_outputs(x)
    w1, w2, w3 = (linear.weight for linear in network.linears)
    b1, b2, b3 = (linear.bias for linear in network.linears)
    z1 = (x @ w1.T + b1) ** 2
    z2 = (z1 @ w2.T + b2) ** 2
    f = z2 @ w3.T + b3
    assert torch.allclose(outputs[0], z1)
    assert torch.allclose(outputs[1], z2)
    assert torch.allclose(outputs[2], f)
    assert torch.allclose(network(x), f)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_weights_round_trip(tmp_path, suffix):
    network = build_network(NetworkSpec((4, 6, 3), activation="relu", seed=9))
    path = tmp_path / f"net{suffix}"
    save_network(network, path)
    loaded = load_network(path, make_activation("relu"))
    x = torch.randn(5, 4, dtype=torch.float64)
    assert torch.allclose(loaded(x), network(x))


def test_weights_missing_file(tmp_path):
    with pytest.raises(ConfigurationError, match="not found"):
        load_network(tmp_path / "absent.npz", make_activation("relu"))


def test_weights_mismatched_shapes(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, W1=np.ones((6, 4)), W2=np.ones((3, 5)))
    with pytest.raises(ConfigurationError, match=r"W2 .* needs 6 columns"):
        load_network(path, make_activation("relu"))


def test_weights_bias_shape_and_keys(tmp_path):
    path = tmp_path / "bias.npz"
    np.savez(path, W1=np.ones((6, 4)), b1=np.ones(5))
    with pytest.raises(ConfigurationError, match="b1"):
        load_network(path, make_activation("relu"))
    path = tmp_path / "keys.npz"
    np.savez(path, W1=np.ones((6, 4)), weights=np.ones(2))
    with pytest.raises(ConfigurationError, match="unexpected key 'weights'"):
        load_network(path, make_activation("relu"))


def test_weights_object_arrays_not_unpickled(tmp_path):
    path = tmp_path / "object.npz"
    np.savez(path, W1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ConfigurationError, match="could not read"):
        load_network(path, make_activation("relu"))


def test_weights_unknown_suffix(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(b"not a tensor file")
    with pytest.raises(ConfigurationError, match="suffix"):
        load_network(path, make_activation("relu"))


def test_chain_from_sequential():
    model = nn.Sequential(
        nn.Linear(3, 5),
        nn.Tanh(),
        nn.Sequential(nn.Linear(5, 4), nn.ReLU()),
        nn.Linear(4, 2),
    ).double()
    chain = extract_chain(model)
    assert chain.widths == [3, 5, 4, 2]
    assert [layer.name for layer in chain.layers] == ["0", "2.0", "3"]
    assert [layer.activation.name for layer in chain.layers[:2]] == ["tanh", "relu"]
    x = torch.randn(7, 3, dtype=torch.float64)
    assert torch.allclose(chain.forward_all(x)[1][-1], model(x))


@pytest.mark.parametrize(
    "model, message",
    [
        (nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2)), "GELU"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU()), "last module"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)), "consecutive"),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), "does not follow"),
        (
            nn.Sequential(nn.Linear(3, 4), nn.Hardtanh(0, 2), nn.Linear(4, 2)),
            "Hardtanh",
        ),
    ],
)
def test_chain_unavailable_names_module(model, message):
    with pytest.raises(ChainUnavailable, match=message):
        extract_chain(model)


def test_layered_model_without_chain():
    class Custom(nn.Module):
        def forward(self, x):
            return torch.sin(x).sum(dim=1, keepdim=True)

    layered = LayeredModel(Custom())
    assert layered.chain is None
    assert layered.names == ["output"]
    assert "Custom" in layered.chain_reason


def test_fully_connected_rejects_empty():
    with pytest.raises(ConfigurationError):
        FullyConnected([], make_activation("relu"))


def test_activation_module_repr():
    assert "quadratic" in repr(ActivationModule(make_activation("quadratic")))
    assert math.isclose(make_activation("polynomial", (0, 3.0)).derivative_sup, 3.0)
