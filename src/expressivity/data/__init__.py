"""Datasets as feature tensors with labels and provenance."""

from __future__ import annotations

from pathlib import Path

import torch

from expressivity.data.dataset import Dataset
from expressivity.errors import ConfigurationError


def load_dataset(
    name: str,
    *,
    split: str | None = None,
    data_dir: str | Path | None = None,
) -> Dataset:
    """Load the dataset registered as ``name``.

    Only scikit-learn's bundled 8x8 digits (``digits``) is available here;
    the features are pixel intensities scaled to [0, 1].
    """
    if name != "digits":
        raise ConfigurationError(f"unknown dataset {name!r}; use one of digits")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset(
        name="digits",
        modality="image",
        features=torch.as_tensor(bunch.data / 16.0, dtype=torch.float64),
        labels=torch.as_tensor(bunch.target, dtype=torch.long),
        class_names=[str(i) for i in range(10)],
        provenance={"source": "sklearn.datasets.load_digits", "scale": "x / 16"},
    )


__all__ = ["Dataset", "load_dataset"]
