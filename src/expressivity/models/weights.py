"""Load and save fully connected networks as W1, b1, W2, ... tensor files.

Supported formats are safetensors and NumPy ``.npz``. Both are read without
executing code: safetensors stores raw tensors only, and ``numpy.load`` is
called with ``allow_pickle=False``.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.models.activations import Activation
from expressivity.models.network import FullyConnected, resolve_dtype

_KEY = re.compile(r"^([Wb])(\d+)$")


def load_network(
    path: str | Path, activation: Activation, dtype: str = "float64"
) -> FullyConnected:
    """Load a network from a safetensors or ``.npz`` file of W1, b1, W2, ...

    Wk has shape (n_k, n_{k-1}) as in ``torch.nn.Linear``; bk has shape
    (n_k,) and is optional (all present or all absent).

    Raises
    ------
    ConfigurationError
        When the file is missing, unreadable, or its shapes do not chain.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(
            f"weights file {str(path)!r} not found; give the path of a "
            ".safetensors or .npz file with keys W1, b1, W2, ..."
        )
    arrays = _read_arrays(path)
    weights, biases = _collect_layers(arrays, path)
    torch_dtype = resolve_dtype(dtype)

    linears = []
    for index, weight in enumerate(weights):
        bias = biases[index]
        linear = nn.Linear(
            weight.shape[1], weight.shape[0], bias=bias is not None, dtype=torch_dtype
        )
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(weight, dtype=torch_dtype))
            if bias is not None:
                linear.bias.copy_(torch.as_tensor(bias, dtype=torch_dtype))
        linears.append(linear)
    return FullyConnected(linears, activation)


def save_network(network: FullyConnected, path: str | Path) -> None:
    """Write ``network`` as W1, b1, ... to ``path`` (.safetensors or .npz)."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for index, linear in enumerate(network.linears, start=1):
        tensors[f"W{index}"] = linear.weight.detach().contiguous()
        if linear.bias is not None:
            tensors[f"b{index}"] = linear.bias.detach().contiguous()
    if path.suffix == ".npz":
        np.savez(path, **{key: value.numpy() for key, value in tensors.items()})
    else:
        from safetensors.torch import save_file

        save_file(tensors, str(path))


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {key: np.asarray(data[key]) for key in data.files}
        if suffix == ".safetensors":
            from safetensors.numpy import load_file

            return load_file(str(path))
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ConfigurationError(
            f"could not read weights file {str(path)!r}: {error}"
        ) from error
    except Exception as error:  # safetensors raises its own SafetensorError
        if type(error).__name__ == "SafetensorError":
            raise ConfigurationError(
                f"could not read weights file {str(path)!r}: {error}"
            ) from error
        raise
    raise ConfigurationError(
        f"weights file {str(path)!r} has suffix {suffix!r}; use .safetensors or .npz"
    )


def _collect_layers(
    arrays: dict[str, np.ndarray], path: Path
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    weights: dict[int, np.ndarray] = {}
    biases: dict[int, np.ndarray] = {}
    for key, value in arrays.items():
        match = _KEY.match(key)
        if match is None:
            raise ConfigurationError(
                f"unexpected key {key!r} in {str(path)!r}; "
                "expected only W1, b1, W2, b2, ..."
            )
        target = weights if match.group(1) == "W" else biases
        target[int(match.group(2))] = value

    depth = len(weights)
    if depth == 0 or sorted(weights) != list(range(1, depth + 1)):
        raise ConfigurationError(
            f"weights in {str(path)!r} must be W1 .. Wh with no gap, "
            f"found {sorted(f'W{k}' for k in weights)}"
        )
    if biases and sorted(biases) != list(range(1, depth + 1)):
        raise ConfigurationError(
            f"{str(path)!r} has biases {sorted(f'b{k}' for k in biases)}; "
            f"give all of b1 .. b{depth} or none"
        )

    ordered = [weights[k] for k in range(1, depth + 1)]
    for k, weight in enumerate(ordered, start=1):
        if weight.ndim != 2:
            raise ConfigurationError(
                f"W{k} in {str(path)!r} has shape {weight.shape}; "
                "expected a matrix (n_k, n_{k-1})"
            )
        if k > 1 and weight.shape[1] != ordered[k - 2].shape[0]:
            raise ConfigurationError(
                f"W{k} in {str(path)!r} has shape {weight.shape} but "
                f"W{k - 1} has shape {ordered[k - 2].shape}: W{k} needs "
                f"{ordered[k - 2].shape[0]} columns"
            )
        if biases and biases[k].shape != (weight.shape[0],):
            raise ConfigurationError(
                f"b{k} in {str(path)!r} has shape {biases[k].shape}; "
                f"expected ({weight.shape[0]},) to match W{k}"
            )
        if not np.all(np.isfinite(weight)):
            raise ConfigurationError(f"W{k} in {str(path)!r} has non-finite entries")

    ordered_biases = [biases.get(k) for k in range(1, depth + 1)]
    return ordered, ordered_biases
