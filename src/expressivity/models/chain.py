"""Sequential structure of a model: the chain of linear maps and activations.

The per-layer product bounds need the network as a chain
``f = L_h o phi o L_{h-1} o ... o phi o L_1`` of linear (affine) maps L_k and
elementwise activations phi. ``LayeredModel`` wraps any ``torch.nn.Module``:
when a chain can be read off the model it also exposes every hidden layer's
output; otherwise it exposes the output alone and states why no chain exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from expressivity.models.activations import Activation, make_activation
from expressivity.models.network import ActivationModule, FullyConnected


@dataclass
class ChainLayer:
    """One affine map of a chain and the activation applied after it.

    Attributes
    ----------
    name
        The layer's name as the model names it (``linears.0``, ``3``, ...).
    linear
        The affine map, a ``torch.nn.Linear``.
    activation
        The activation applied to its output, or None for the last layer.
    """

    name: str
    linear: nn.Linear
    activation: Activation | None

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight.detach()

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features


@dataclass
class LayerChain:
    """A network as the chain W_h phi(W_{h-1} ... phi(W_1 x + b_1) ...) + b_h."""

    layers: list[ChainLayer]

    @property
    def widths(self) -> list[int]:
        return [self.layers[0].in_features] + [
            layer.out_features for layer in self.layers
        ]

    def forward_all(
        self, x: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Return the pre-activations u(k) and outputs z(k) of every layer.

        The output of the last layer is f(x); for a last layer without an
        activation it equals that layer's pre-activation.
        """
        preactivations, outputs = [], []
        z = x
        for layer in self.layers:
            u = layer.linear(z)
            z = u if layer.activation is None else layer.activation(u)
            preactivations.append(u)
            outputs.append(z)
        return preactivations, outputs


class ChainUnavailable(Exception):
    """Raised when no chain of linear maps and activations can be read off."""


_ACTIVATION_MODULES: dict[type, Callable[[nn.Module], Activation]] = {
    nn.ReLU: lambda m: make_activation("relu"),
    nn.Tanh: lambda m: make_activation("tanh"),
    nn.Identity: lambda m: make_activation("linear"),
    ActivationModule: lambda m: m.activation,
}


def _activation_of(module: nn.Module) -> Activation | None:
    if isinstance(module, nn.Hardtanh):
        if module.min_val == -1.0 and module.max_val == 1.0:
            return make_activation("hardtanh")
        return None
    for kind, convert in _ACTIVATION_MODULES.items():
        if type(module) is kind:
            return convert(module)
    return None


def activation_of_module(module: nn.Module) -> Activation | None:
    """Return the elementwise activation a module applies, or None."""
    return _activation_of(module)


def extract_chain(model: nn.Module) -> LayerChain:
    """Read the chain of affine maps and activations off ``model``.

    Supports ``FullyConnected`` and (nested) ``torch.nn.Sequential`` models of
    ``torch.nn.Linear`` layers, each followed by at most one known activation
    (relu, tanh, hard tanh on [-1, 1], identity, or an ``ActivationModule``),
    with a linear last layer.

    Raises
    ------
    ChainUnavailable
        With the name of the first module that does not fit.
    """
    if isinstance(model, FullyConnected):
        activation = model.activation.activation
        layers = [
            ChainLayer(
                f"linears.{index}",
                linear,
                None if index == model.depth - 1 else activation,
            )
            for index, linear in enumerate(model.linears)
        ]
        return LayerChain(layers)

    if not isinstance(model, nn.Sequential):
        raise ChainUnavailable(
            f"model of type {type(model).__name__} is not a FullyConnected "
            "network or an nn.Sequential of Linear layers and activations"
        )

    layers: list[ChainLayer] = []
    for name, module in _flatten_sequential(model):
        if isinstance(module, nn.Linear):
            layers.append(ChainLayer(name, module, None))
            continue
        activation = _activation_of(module)
        if activation is None:
            raise ChainUnavailable(
                f"module {name!r} ({type(module).__name__}) is not a Linear layer "
                "or a supported elementwise activation"
            )
        if not layers or layers[-1].activation is not None:
            raise ChainUnavailable(
                f"activation {name!r} does not follow a Linear layer"
            )
        layers[-1].activation = activation

    if not layers:
        raise ChainUnavailable("the Sequential model has no Linear layer")
    if layers[-1].activation is not None:
        raise ChainUnavailable(
            "the last module is an activation; the product bounds assume a "
            "linear last layer"
        )
    for previous, current in zip(layers[:-1], layers[1:], strict=True):
        if previous.activation is None:
            raise ChainUnavailable(
                f"layers {previous.name!r} and {current.name!r} are consecutive "
                "Linear layers with no activation between them"
            )
    return LayerChain(layers)


def _flatten_sequential(
    model: nn.Sequential, prefix: str = ""
) -> list[tuple[str, nn.Module]]:
    flat = []
    for name, module in model.named_children():
        full_name = f"{prefix}{name}"
        if isinstance(module, nn.Sequential):
            flat.extend(_flatten_sequential(module, full_name + "."))
        else:
            flat.append((full_name, module))
    return flat


class LayeredModel:
    """Any model, with its per-layer outputs where it has a chain structure.

    Attributes
    ----------
    model
        The wrapped module.
    chain
        The chain of Linear layers and activations, or None.
    operator_chain
        For other models, the stages of linear operators (convolutions,
        batch norm, pooling), activations and residual blocks read off by
        ``discover_chain``, or None.
    chain_reason
        Why neither chain exists (empty when one does).
    input_shape
        Shape of one example as the model takes it, or None for flat inputs.
    names
        One name per reported output: hidden layers then ``output``.
    widths
        Input dimension followed by the width of each reported output, or
        None for the input dimension when the model does not state it.
    """

    def __init__(
        self, model: nn.Module, input_shape: tuple[int, ...] | None = None
    ) -> None:
        from expressivity.models.discovery import discover_chain

        self.model = model
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.operator_chain = None
        self.chain_reason = ""
        try:
            self.chain: LayerChain | None = extract_chain(model)
        except ChainUnavailable as error:
            self.chain = None
            self.chain_reason = str(error)
            try:
                self.operator_chain = discover_chain(model, input_shape)
                self.chain_reason = ""
            except ChainUnavailable as discovery_error:
                self.chain_reason = str(discovery_error)
            except Exception as discovery_error:  # noqa: BLE001
                # Lengths and Jacobian bounds need only the forward pass, so
                # a module that breaks tracing still gets those figures.
                self.chain_reason = (
                    f"reading a chain off {type(model).__name__} failed "
                    f"({type(discovery_error).__name__}: {discovery_error})"
                )

        if self.chain is not None:
            self.names = [layer.name for layer in self.chain.layers]
            self.widths: list[int | None] = list(self.chain.widths)
        elif self.operator_chain is not None:
            self.names = self.operator_chain.names
            self.widths = list(self.operator_chain.widths)
        else:
            self.names = ["output"]
            n_inputs = math.prod(self.input_shape) if self.input_shape else None
            self.widths = [n_inputs, None]

    @property
    def dtype(self) -> torch.dtype:
        for parameter in self.model.parameters():
            return parameter.dtype
        return torch.get_default_dtype()

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return every reported output for inputs x of shape (..., n_0), flattened."""
        if self.chain is not None:
            return tuple(self.chain.forward_all(x)[1])
        if self.operator_chain is not None:
            return tuple(self.operator_chain.forward_all(x)[0])
        if self.input_shape is None:
            output = self.model(x)
            if output.ndim > x.ndim:
                # Channels or spatial axes of a convolutional output.
                output = output.reshape(*x.shape[:-1], -1)
            return (output,)
        batch_shape = x.shape[:-1]
        output = self.model(x.reshape(-1, *self.input_shape))
        return (output.reshape(*batch_shape, -1),)
