"""Helpers shared by the loaders: subsets, label encoding, tensors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from expressivity.data.dataset import Dataset
from expressivity.errors import ConfigurationError


def check_max_examples(max_examples: int | None) -> None:
    """Reject a ``max_examples`` that is not a positive integer or None."""
    if max_examples is not None and (
        not isinstance(max_examples, int) or max_examples < 1
    ):
        raise ConfigurationError(
            f"max_examples={max_examples!r} is invalid; give a positive integer, "
            "or None for every example"
        )


def limit(count: int, max_examples: int | None) -> int:
    """Return how many of ``count`` examples to keep: the first ``max_examples``."""
    return count if max_examples is None else min(count, max_examples)


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise an error that names it."""
    if not path.is_file():
        raise ConfigurationError(
            f"{what} file {str(path)!r} not found; place the file there or "
            "choose another data directory with data_dir or EXPRESSIVITY_DATA"
        )
    return path


def encode_labels(
    values: Sequence[str], class_names: Sequence[str], what: str
) -> np.ndarray:
    """Map label strings to their index in ``class_names``.

    Raises
    ------
    ConfigurationError
        If a value is not one of ``class_names``.
    """
    index = {name: position for position, name in enumerate(class_names)}
    codes = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        try:
            codes[row] = index[value]
        except KeyError:
            raise ConfigurationError(
                f"{what}: label {value!r} in row {row} is not one of "
                f"{list(class_names)}; the file may be corrupt"
            ) from None
    return codes


def make_dataset(
    name: str,
    modality: str,
    features: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor | None,
    class_names: Sequence[str],
    provenance: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> Dataset:
    """Build a :class:`Dataset` with float64 features and int64 labels."""
    feature_tensor = torch.as_tensor(np.array(features, dtype=np.float64))
    if feature_tensor.ndim != 2:
        raise ValueError(f"features of {name} have shape {feature_tensor.shape}")
    label_tensor = None
    if labels is not None:
        label_tensor = torch.as_tensor(np.array(labels, dtype=np.int64))
    return Dataset(
        name=name,
        modality=modality,
        features=feature_tensor,
        labels=label_tensor,
        class_names=list(class_names),
        provenance=provenance,
        metadata=metadata or {},
    )
