"""Models a user defines: an importable ``module:factory`` and a safetensors state dict.

Weights are read from safetensors files only, which hold tensors and nothing
executable. The factory itself is code the user chose to import, like any
module on their ``PYTHONPATH``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.models.chain import LayeredModel
from expressivity.models.network import resolve_dtype

logger = logging.getLogger(__name__)


def load_factory_model(
    spec: str,
    state_dict: str | Path | None = None,
    *,
    dtype: str | torch.dtype | None = None,
) -> nn.Module:
    """Build ``factory()`` from ``package.module:factory`` and load its weights.

    Parameters
    ----------
    spec
        ``module:attribute``, the attribute possibly dotted
        (``pkg.models:Zoo.small``); it must be callable with no argument and
        return an ``nn.Module``.
    state_dict
        A ``.safetensors`` file with the model's state dict, or None to keep
        the factory's initialisation.
    dtype
        ``float32`` or ``float64`` to convert the model to, or None.

    Returns
    -------
    The model in eval mode, so that batch norm and dropout are fixed maps.
    """
    module_name, separator, attribute = spec.partition(":")
    if not separator or not module_name or not attribute:
        raise ConfigurationError(
            f"--model {spec!r} is invalid; give module:factory, for example "
            "expressivity.models.zoo:mnist_cnn"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigurationError(
            f"could not import module {module_name!r} of --model {spec!r} "
            f"({error}); put its folder on PYTHONPATH"
        ) from error
    try:
        factory = functools.reduce(getattr, attribute.split("."), module)
    except AttributeError as error:
        raise ConfigurationError(
            f"module {module_name!r} has no attribute {attribute!r} (--model {spec!r})"
        ) from error
    if not callable(factory):
        raise ConfigurationError(f"{spec!r} is not callable; name a factory function")

    try:
        model = factory()
    except Exception as error:  # user code may raise any type
        raise ConfigurationError(
            f"--model {spec!r} raised {type(error).__name__}: {error}; fix the "
            "factory or check that it needs no arguments"
        ) from error
    if not isinstance(model, nn.Module):
        raise ConfigurationError(
            f"{spec!r} returned {type(model).__name__}, not a torch.nn.Module"
        )
    if state_dict is not None:
        load_state_dict(model, state_dict)
    if dtype is not None:
        model = model.to(resolve_dtype(dtype))
    logger.info("built %s from %s", type(model).__name__, spec)
    return model.eval()


def load_state_dict(model: nn.Module, path: str | Path) -> None:
    """Load a safetensors state dict into ``model``, every key required to match."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ConfigurationError(
            f"state dict {str(path)!r} has suffix {path.suffix!r}; only .safetensors "
            "files are read (convert with safetensors.torch.save_file)"
        )
    if not path.is_file():
        raise ConfigurationError(f"state dict file {str(path)!r} not found")
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as error:
        raise ConfigurationError(
            f"could not read state dict {str(path)!r}: {error}"
        ) from error
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ConfigurationError(
            f"state dict {str(path)!r} does not fit the model: {error}"
        ) from error


def user_network(
    spec: str,
    state_dict: str | Path | None,
    *,
    input_shape: Sequence[int] | None,
    dtype: str | torch.dtype | None,
    n_inputs: int,
) -> LayeredModel:
    """Build the model of ``spec`` and wrap it for flat inputs of ``n_inputs``.

    Raises ConfigurationError when the model's input dimension, as its first
    layer or ``input_shape`` fixes it, differs from ``n_inputs``.
    """
    model = load_factory_model(spec, state_dict, dtype=dtype)
    if input_shape is not None and math.prod(input_shape) != n_inputs:
        raise ConfigurationError(
            f"--input-shape {tuple(input_shape)} has {math.prod(input_shape)} entries "
            f"but the path has dimension {n_inputs}"
        )
    layered = LayeredModel(model, input_shape=input_shape)
    shape = tuple(input_shape) if input_shape is not None else (n_inputs,)
    try:
        with torch.no_grad():
            model(torch.zeros((1, *shape), dtype=layered.dtype))
    except Exception as error:  # a model raises any type on a wrong shape
        raise ConfigurationError(
            f"model {spec!r} does not run on inputs of shape {shape} "
            f"({type(error).__name__}: {error}); give --input-shape as the model "
            "takes one example, or omit it for a model that takes flat inputs"
        ) from error
    expected = layered.widths[0]
    if expected is not None and expected != n_inputs:
        raise ConfigurationError(
            f"model {spec!r} takes {expected} inputs but the path has dimension "
            f"{n_inputs}; choose a matching dataset or give --input-shape"
        )
    return layered
