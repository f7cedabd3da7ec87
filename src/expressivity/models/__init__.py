"""Networks: activations, fully connected models, weights files, chains."""

from expressivity.models.activations import (
    ACTIVATION_NAMES,
    Activation,
    make_activation,
)
from expressivity.models.chain import (
    ChainLayer,
    ChainUnavailable,
    LayerChain,
    LayeredModel,
    extract_chain,
)
from expressivity.models.discovery import OperatorChain, discover_chain
from expressivity.models.network import (
    INIT_SCHEMES,
    ActivationModule,
    FullyConnected,
    NetworkSpec,
    build_network,
    resolve_dtype,
)
from expressivity.models.weights import load_network, save_network

__all__ = [
    "ACTIVATION_NAMES",
    "INIT_SCHEMES",
    "Activation",
    "ActivationModule",
    "ChainLayer",
    "ChainUnavailable",
    "FullyConnected",
    "LayerChain",
    "LayeredModel",
    "NetworkSpec",
    "OperatorChain",
    "build_network",
    "discover_chain",
    "extract_chain",
    "load_network",
    "make_activation",
    "resolve_dtype",
    "save_network",
]
