"""Betti numbers of point clouds through the layers, and the synthetic sets."""

import numpy as np
import pytest
import torch
from torch import nn

from expressivity.data import Dataset
from expressivity.errors import ConfigurationError
from expressivity.models import FullyConnected, make_activation
from expressivity.topology import (
    SYNTHETIC_SETS,
    known_betti_numbers,
    make_synthetic,
    point_cloud_betti,
    topology_through_layers,
)


def _class_cloud(dataset: Dataset, name: str) -> np.ndarray:
    index = dataset.class_names.index(name)
    return dataset.features[dataset.labels == index].numpy()


def test_nine_disks_at_input_match_known():
    dataset = make_synthetic("nine_disks")
    for name, expected in known_betti_numbers(dataset).items():
        assert point_cloud_betti(_class_cloud(dataset, name), max_dimension=1) == (
            expected
        ), name


@pytest.mark.parametrize("name", ["nested_circles", "moons", "spirals"])
def test_planar_sets_at_input_match_known(name):
    dataset = make_synthetic(name)
    for class_name, expected in known_betti_numbers(dataset).items():
        cloud = _class_cloud(dataset, class_name)
        assert point_cloud_betti(cloud, max_dimension=1) == expected, class_name


def test_nested_circles_plain_rips():
    dataset = make_synthetic("nested_circles", n_points=300)
    # Neighbouring samples on the unit circle are about 2 pi / 300 = 0.02
    # apart, so a scale of 0.3 joins them but cannot span either circle.
    for class_name in dataset.class_names:
        cloud = _class_cloud(dataset, class_name)
        assert point_cloud_betti(cloud, method="rips", scale=0.3, max_dimension=1) == (
            1,
            1,
        )


def test_concentric_spheres_at_three_hops():
    dataset = make_synthetic("concentric_spheres", n_points=1000)
    for class_name, expected in known_betti_numbers(dataset).items():
        cloud = _class_cloud(dataset, class_name)
        assert point_cloud_betti(cloud, scale=3.0) == expected, class_name


def test_rips_of_square_and_octahedron():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    # Sides of length 1 enter at 1, the diagonals (sqrt 2) fill the loop.
    assert point_cloud_betti(square, method="rips", scale=1.2, max_dimension=1) == (
        1,
        1,
    )
    assert point_cloud_betti(square, method="rips", scale=1.5, max_dimension=1) == (
        1,
        0,
    )
    assert point_cloud_betti(square, method="rips", scale=0.5, max_dimension=1) == (
        4,
        0,
    )
    # The six points +-e_i are sqrt 2 apart except antipodes (2 apart), so
    # between the two scales the complex is the octahedron, a 2-sphere.
    octahedron = np.vstack([np.eye(3), -np.eye(3)])
    assert point_cloud_betti(octahedron, method="rips", scale=1.5) == (1, 0, 1)
    assert point_cloud_betti(octahedron, method="rips", scale=2.5) == (1, 0, 0)


def test_knn_hops_on_cycle_graph():
    # Twelve points on a circle: with k = 2 each joins its two neighbours.
    # At 1 hop the flag complex is the 12-cycle; at 6 hops every pair is
    # joined and the loop is filled.
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    cycle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert point_cloud_betti(cycle, n_neighbors=2, scale=1.0, max_dimension=1) == (1, 1)
    assert point_cloud_betti(cycle, n_neighbors=2, scale=6.0, max_dimension=1) == (1, 0)


def _squaring_network() -> FullyConnected:
    # Layer 1 squares each coordinate; layer 2 is the identity.
    first = nn.Linear(2, 2, dtype=torch.float64)
    last = nn.Linear(2, 2, dtype=torch.float64)
    with torch.no_grad():
        for layer in (first, last):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    return FullyConnected([first, last], make_activation("quadratic"))


def test_squaring_cuts_circles_into_segments():
    # (x, y) -> (x^2, y^2) folds a circle of radius r onto the segment
    # u + v = r^2 in the positive quadrant, so each loop becomes an arc.
    dataset = make_synthetic("nested_circles", n_points=300)
    result = topology_through_layers(
        _squaring_network(),
        dataset.features,
        dataset.labels,
        class_names=dataset.class_names,
        max_dimension=1,
    )
    assert result.layer_names == ("input", "linears.0", "linears.1")
    assert result.class_names == ("inner", "outer")
    assert result.n_points == (300, 300)
    for per_layer in result.betti:
        assert per_layer == ((1, 1), (1, 0), (1, 0))
    assert result.to_dict()["betti"][0][0] == [1, 1]


def test_through_layers_subsamples_each_class():
    dataset = make_synthetic("moons", n_points=200)
    result = topology_through_layers(
        _squaring_network(),
        dataset.features,
        dataset.labels,
        max_dimension=0,
        max_points=50,
        n_neighbors=5,
    )
    assert result.n_points == (50, 50)
    assert result.class_names == ("0", "1")
    assert all(len(b) == 1 for per_class in result.betti for b in per_class)


def test_point_cloud_betti_rejects_bad_options():
    cloud = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(ConfigurationError, match="method"):
        point_cloud_betti(cloud, method="alpha")
    with pytest.raises(ConfigurationError, match="n_neighbors"):
        point_cloud_betti(cloud, n_neighbors=20)
    with pytest.raises(ConfigurationError, match="scale"):
        point_cloud_betti(cloud, scale=0.0)
    with pytest.raises(ConfigurationError, match="max_dimension"):
        point_cloud_betti(cloud, max_dimension=3)
    cloud[3, 1] = np.nan
    with pytest.raises(ConfigurationError, match="non-finite"):
        point_cloud_betti(cloud)


# ---------------------------------------------------------------------------
# Synthetic sets
# ---------------------------------------------------------------------------

EXPECTED_BETTI = {
    "nine_disks": {"disks": (9, 0), "complement": (1, 9)},
    "linked_ring_pairs": {"rings_a": (9, 9, 0), "rings_b": (9, 9, 0)},
    "nested_sphere_units": {"shells": (9, 0, 9), "balls": (9, 0, 0)},
    "nested_circles": {"inner": (1, 1), "outer": (1, 1)},
    "concentric_spheres": {"inner": (1, 0, 1), "outer": (1, 0, 1)},
    "linked_tori": {"torus_a": (1, 1, 0), "torus_b": (1, 1, 0)},
    "moons": {"upper": (1, 0), "lower": (1, 0)},
    "spirals": {"spiral_a": (1, 0), "spiral_b": (1, 0)},
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC_SETS))
def test_synthetic_set_records_betti(name):
    dataset = make_synthetic(name, n_points=90, seed=3)
    again = make_synthetic(name, n_points=90, seed=3)
    assert known_betti_numbers(dataset) == EXPECTED_BETTI[name]
    assert dataset.modality == "synthetic"
    assert torch.equal(dataset.features, again.features)
    counts = torch.bincount(dataset.labels).tolist()
    assert counts == [90, 90]
    dimension = len(next(iter(EXPECTED_BETTI[name].values())))
    assert dataset.n_features == dimension


def test_nine_disks_geometry():
    dataset = make_synthetic("nine_disks", n_points=900)
    centres = np.array([(x, y) for x in (-2, 0, 2) for y in (-2, 0, 2)], dtype=float)
    for name, low, high in (("disks", 0.0, 0.5), ("complement", 0.7, np.inf)):
        cloud = _class_cloud(dataset, name)
        nearest = np.linalg.norm(cloud[:, None] - centres[None], axis=2).min(axis=1)
        assert nearest.min() >= low
        assert nearest.max() <= high
    assert np.abs(_class_cloud(dataset, "complement")).max() <= 3.0


def test_linked_rings_lie_on_tori():
    dataset = make_synthetic("linked_ring_pairs", n_points=900)
    # Ring a of the unit at the origin: distance 0.5 from the z axis in the
    # plane z = 0, up to the tube radius 0.1.
    ring = _class_cloud(dataset, "rings_a")
    near_origin = ring[np.linalg.norm(ring[:, :2], axis=1) < 1.0]
    core = np.hypot(np.linalg.norm(near_origin[:, :2], axis=1) - 0.5, near_origin[:, 2])
    assert len(near_origin) == 100
    assert core.max() <= 0.1 + 1e-12


def test_known_betti_numbers_rejects_other_datasets():
    dataset = Dataset("plain", "tabular", torch.zeros(3, 2), None, [])
    with pytest.raises(ConfigurationError, match="records no Betti numbers"):
        known_betti_numbers(dataset)
    with pytest.raises(ConfigurationError, match="unknown synthetic set"):
        make_synthetic("torus_knot")
