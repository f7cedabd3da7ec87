"""Labelled point clouds with known Betti numbers per class.

Each generator returns a ``Dataset`` whose ``provenance["betti_numbers"]``
maps each class name to the Betti numbers (b0, b1[, b2]) of the shape its
points are sampled from. D-I, D-II and D-III follow the data sets of
Naitzat, Zhitnikov and Lim, "Topology of Deep Neural Networks", JMLR 21(184),
2020: nine disks in the plane, nine pairs of linked rings and nine
nested-sphere units in 3-D.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from expressivity.data import Dataset
from expressivity.errors import ConfigurationError

# Centres of the 3 x 3 arrangement used by the nine-unit sets.
_GRID = np.array([(x, y) for x in (-2.0, 0.0, 2.0) for y in (-2.0, 0.0, 2.0)])


def nine_disks(n_points: int = 2000, *, seed: int = 0) -> Dataset:
    """D-I: nine disks of radius 0.5 (class ``disks``) and their complement.

    The complement class fills the square [-3, 3]^2 minus the disks widened
    to radius 0.7, so a gap separates the classes. Betti numbers: disks
    (9, 0), complement (1, 9).
    """
    generator = _generator(n_points, seed)
    disks = _in_disks(generator, n_points, _GRID, 0.5)
    outside = _rejection(
        generator,
        n_points,
        lambda size: generator.uniform(-3.0, 3.0, (size, 2)),
        lambda points: _distance_to_centres(points, _GRID) > 0.7,
    )
    return _dataset(
        "nine_disks",
        [disks, outside],
        ["disks", "complement"],
        [(9, 0), (1, 9)],
        seed,
    )


def linked_ring_pairs(n_points: int = 4000, *, seed: int = 0) -> Dataset:
    """D-II: nine pairs of linked thick rings in 3-D, one ring of each pair per class.

    Ring radius 0.5, tube radius 0.1; the second ring of a pair lies in a
    perpendicular plane through a point of the first, so the two are linked.
    Betti numbers: each class (9, 9, 0).
    """
    generator = _generator(n_points, seed)
    first, second = [], []
    per_unit = _split(n_points, 9)
    for centre, count in zip(_GRID, per_unit, strict=True):
        offset = np.array([centre[0], centre[1], 0.0])
        first.append(_solid_torus(generator, count, 0.5, 0.1, "xy") + offset)
        shift = offset + np.array([0.5, 0.0, 0.0])
        second.append(_solid_torus(generator, count, 0.5, 0.1, "xz") + shift)
    return _dataset(
        "linked_ring_pairs",
        [np.vstack(first), np.vstack(second)],
        ["rings_a", "rings_b"],
        [(9, 9, 0), (9, 9, 0)],
        seed,
    )


def nested_sphere_units(n_points: int = 4000, *, seed: int = 0) -> Dataset:
    """D-III: nine units of a spherical shell (radii 0.6 to 0.8) around a ball.

    The shells form class ``shells`` with Betti numbers (9, 0, 9); the balls
    of radius 0.3 inside them form class ``balls`` with (9, 0, 0).
    """
    generator = _generator(n_points, seed)
    shells, balls = [], []
    for centre, count in zip(_GRID, _split(n_points, 9), strict=True):
        offset = np.array([centre[0], centre[1], 0.0])
        shells.append(_in_shell(generator, count, 3, 0.6, 0.8) + offset)
        balls.append(_in_shell(generator, count, 3, 0.0, 0.3) + offset)
    return _dataset(
        "nested_sphere_units",
        [np.vstack(shells), np.vstack(balls)],
        ["shells", "balls"],
        [(9, 0, 9), (9, 0, 0)],
        seed,
    )


def nested_circles(
    n_points: int = 500, *, noise: float = 0.02, seed: int = 0
) -> Dataset:
    """Two concentric circles of radii 1 and 2, each with Betti numbers (1, 1)."""
    clouds = _noisy_spheres(_generator(n_points, seed), n_points, 2, noise)
    return _dataset(
        "nested_circles", clouds, ["inner", "outer"], [(1, 1), (1, 1)], seed
    )


def concentric_spheres(
    n_points: int = 1500, *, noise: float = 0.02, seed: int = 0
) -> Dataset:
    """Two concentric spheres of radii 1 and 2 in 3-D, each (1, 0, 1)."""
    clouds = _noisy_spheres(_generator(n_points, seed), n_points, 3, noise)
    return _dataset(
        "concentric_spheres",
        clouds,
        ["inner", "outer"],
        [(1, 0, 1), (1, 0, 1)],
        seed,
    )


def linked_tori(n_points: int = 1500, *, seed: int = 0) -> Dataset:
    """Two linked solid tori (ring radius 1, tube 0.2), each (1, 1, 0)."""
    generator = _generator(n_points, seed)
    first = _solid_torus(generator, n_points, 1.0, 0.2, "xy")
    second = _solid_torus(generator, n_points, 1.0, 0.2, "xz") + [1.0, 0.0, 0.0]
    return _dataset(
        "linked_tori",
        [first, second],
        ["torus_a", "torus_b"],
        [(1, 1, 0), (1, 1, 0)],
        seed,
    )


def moons(n_points: int = 500, *, noise: float = 0.05, seed: int = 0) -> Dataset:
    """Two interleaved half circles (scikit-learn's ``make_moons``), each (1, 0)."""
    from sklearn.datasets import make_moons

    _generator(n_points, seed)
    points, labels = make_moons(2 * n_points, noise=noise, random_state=seed)
    clouds = [points[labels == 0], points[labels == 1]]
    return _dataset("moons", clouds, ["upper", "lower"], [(1, 0), (1, 0)], seed)


def spirals(n_points: int = 500, *, noise: float = 0.02, seed: int = 0) -> Dataset:
    """Two interleaved Archimedean spirals of 1.5 turns, each (1, 0)."""
    generator = _generator(n_points, seed)
    clouds = []
    for phase in (0.0, np.pi):
        angle = np.sqrt(generator.uniform(0.0, 1.0, n_points)) * 3.0 * np.pi
        radius = 0.5 + angle / np.pi
        curve = np.stack(
            [radius * np.cos(angle + phase), radius * np.sin(angle + phase)], axis=1
        )
        clouds.append(curve + noise * generator.standard_normal((n_points, 2)))
    return _dataset("spirals", clouds, ["spiral_a", "spiral_b"], [(1, 0), (1, 0)], seed)


SYNTHETIC_SETS: dict[str, Callable[..., Dataset]] = {
    "nine_disks": nine_disks,
    "linked_ring_pairs": linked_ring_pairs,
    "nested_sphere_units": nested_sphere_units,
    "nested_circles": nested_circles,
    "concentric_spheres": concentric_spheres,
    "linked_tori": linked_tori,
    "moons": moons,
    "spirals": spirals,
}


def make_synthetic(name: str, **options) -> Dataset:
    """Generate the synthetic set registered as ``name`` (see ``SYNTHETIC_SETS``)."""
    if name not in SYNTHETIC_SETS:
        raise ConfigurationError(
            f"unknown synthetic set {name!r}; use one of {', '.join(SYNTHETIC_SETS)}"
        )
    return SYNTHETIC_SETS[name](**options)


def known_betti_numbers(dataset: Dataset) -> dict[str, tuple[int, ...]]:
    """Betti numbers per class name recorded by a synthetic generator."""
    recorded = dataset.provenance.get("betti_numbers")
    if recorded is None:
        raise ConfigurationError(
            f"dataset {dataset.name!r} records no Betti numbers; use a set from "
            f"{', '.join(SYNTHETIC_SETS)}"
        )
    return {name: tuple(values) for name, values in recorded.items()}


def _generator(n_points: int, seed: int) -> np.random.Generator:
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 9:
        raise ConfigurationError(
            f"n_points must be an integer >= 9 (points per class), got {n_points!r}"
        )
    return np.random.default_rng(seed)


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _on_sphere(generator: np.random.Generator, count: int, dim: int) -> np.ndarray:
    gaussian = generator.standard_normal((count, dim))
    return gaussian / np.linalg.norm(gaussian, axis=1, keepdims=True)


def _noisy_spheres(
    generator: np.random.Generator, count: int, dim: int, noise: float
) -> list[np.ndarray]:
    # Spheres of radii 1 and 2 with isotropic Gaussian noise of std ``noise``.
    return [
        _on_sphere(generator, count, dim) * radius
        + noise * generator.standard_normal((count, dim))
        for radius in (1.0, 2.0)
    ]


def _in_shell(
    generator: np.random.Generator, count: int, dim: int, inner: float, outer: float
) -> np.ndarray:
    # Radius drawn so that points are uniform in volume.
    u = generator.uniform(inner**dim, outer**dim, count)
    return _on_sphere(generator, count, dim) * u[:, None] ** (1.0 / dim)


def _in_disks(
    generator: np.random.Generator, count: int, centres: np.ndarray, radius: float
) -> np.ndarray:
    parts = []
    for centre, size in zip(centres, _split(count, len(centres)), strict=True):
        parts.append(_in_shell(generator, size, 2, 0.0, radius) + centre)
    return np.vstack(parts)


def _solid_torus(
    generator: np.random.Generator, count: int, radius: float, tube: float, plane: str
) -> np.ndarray:
    angle = generator.uniform(0.0, 2.0 * np.pi, count)
    disk = _in_shell(generator, count, 2, 0.0, tube)
    radial = radius + disk[:, 0]
    a, b, normal = radial * np.cos(angle), radial * np.sin(angle), disk[:, 1]
    if plane == "xy":
        return np.stack([a, b, normal], axis=1)
    return np.stack([a, normal, b], axis=1)


def _distance_to_centres(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    differences = points[:, None, :] - centres[None, :, :]
    return np.linalg.norm(differences, axis=2).min(axis=1)


def _rejection(
    generator: np.random.Generator,
    count: int,
    propose: Callable[[int], np.ndarray],
    accept: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    kept: list[np.ndarray] = []
    total = 0
    while total < count:
        proposal = propose(2 * count)
        accepted = proposal[accept(proposal)]
        kept.append(accepted)
        total += len(accepted)
    return np.vstack(kept)[:count]


def _dataset(
    name: str,
    clouds: list[np.ndarray],
    class_names: list[str],
    betti: list[tuple[int, ...]],
    seed: int,
) -> Dataset:
    features = np.vstack(clouds)
    labels = np.concatenate([np.full(len(c), i) for i, c in enumerate(clouds)])
    return Dataset(
        name=name,
        modality="synthetic",
        features=torch.as_tensor(features, dtype=torch.float64),
        labels=torch.as_tensor(labels, dtype=torch.long),
        class_names=class_names,
        provenance={
            "source": "expressivity.topology.synthetic",
            "seed": seed,
            "betti_numbers": {
                n: list(b) for n, b in zip(class_names, betti, strict=True)
            },
        },
    )
