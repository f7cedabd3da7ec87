"""The dataset object every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Dataset:
    """Examples as feature vectors, with labels and provenance.

    Attributes
    ----------
    name
        Registry name, for example ``digits``.
    modality
        ``image``, ``text``, ``audio``, ``tabular``, ``graph``,
        ``timeseries``, ``video``, ``multimodal`` or ``synthetic``.
    features
        Float tensor of shape (n_examples, n_features).
    labels
        Integer tensor of shape (n_examples,), or None for unlabelled data.
    class_names
        Name of each label value, in label order.
    provenance
        Where the data came from: files, split, feature pipeline.
    metadata
        Per-example extras (for example speaker ids), each of length n_examples.
    """

    name: str
    modality: str
    features: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str]
    provenance: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return int(self.features.shape[0])
