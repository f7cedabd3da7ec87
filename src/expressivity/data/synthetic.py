"""Synthetic sets in the plane: nested circles, moons and spirals.

The generators of :mod:`expressivity.topology.synthetic` are used when that
module is installed, so the sets carry their known Betti numbers; otherwise
scikit-learn's ``make_circles`` and ``make_moons`` and the spiral formula
below generate them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from expressivity.data._common import limit, make_dataset
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

DEFAULT_POINTS_PER_CLASS = 500
_TOPOLOGY_NAMES = {"circles": "nested_circles", "moons": "moons", "spirals": "spirals"}


def load_synthetic(
    folder: Path | None,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    n_points: int = DEFAULT_POINTS_PER_CLASS,
    seed: int = 0,
) -> Dataset:
    """Generate ``n_points`` points per class of the set ``info.name``.

    Points are listed class by class; a ``max_examples`` subset is drawn
    evenly over the classes, as the first examples of each.
    """
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 9:
        raise ConfigurationError(
            f"n_points={n_points!r} is invalid; give an integer >= 9 per class"
        )
    if importlib.util.find_spec("expressivity.topology.synthetic") is not None:
        from expressivity.topology.synthetic import make_synthetic

        generated = make_synthetic(
            _TOPOLOGY_NAMES[info.name], n_points=n_points, seed=seed
        )
        features = generated.features.numpy()
        labels = generated.labels.numpy()
        class_names = generated.class_names
        provenance = dict(generated.provenance)
    else:
        features, labels = _fallback(info.name, n_points, seed)
        class_names = ["0", "1"]
        provenance = {"source": "scikit-learn and a spiral formula", "seed": seed}

    per_class = limit(n_points, None if max_examples is None else -(-max_examples // 2))
    keep = np.concatenate(
        [np.flatnonzero(labels == label)[:per_class] for label in np.unique(labels)]
    )[: limit(len(labels), max_examples)]
    provenance["n_points_per_class"] = n_points
    return make_dataset(
        info.name, info.modality, features[keep], labels[keep], class_names, provenance
    )


def _fallback(name: str, n_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_circles, make_moons

    if name == "circles":
        return make_circles(2 * n_points, factor=0.5, noise=0.02, random_state=seed)
    if name == "moons":
        return make_moons(2 * n_points, noise=0.05, random_state=seed)

    # Two Archimedean spirals r = 0.5 + theta / pi of 1.5 turns, the second
    # rotated by pi.
    generator = np.random.default_rng(seed)
    clouds, labels = [], []
    for label, phase in enumerate((0.0, np.pi)):
        angle = np.sqrt(generator.uniform(0.0, 1.0, n_points)) * 3.0 * np.pi
        radius = 0.5 + angle / np.pi
        clouds.append(
            np.stack(
                [radius * np.cos(angle + phase), radius * np.sin(angle + phase)], axis=1
            )
            + 0.02 * generator.standard_normal((n_points, 2))
        )
        labels.append(np.full(n_points, label))
    return np.vstack(clouds), np.concatenate(labels)
