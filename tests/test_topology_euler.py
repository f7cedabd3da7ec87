"""Large grids: Betti numbers by labelling, and the CubicalRipser backend.

The reference is GUDHI: the persistence of the padded cubical complex in
``region_homology`` for the labelling, on random masks of every shape and on
solids with known homology, and GUDHI's diagrams for CubicalRipser's.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_topology import shells_network

from expressivity.errors import ConfigurationError
from expressivity.topology import analyze_slice, input_space_slice, region_homology
from expressivity.topology.analysis import complex_cells
from expressivity.topology.cubical import cripser_available, cubical_persistence
from expressivity.topology.euler import betti_by_labelling, euler_characteristic


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.lists(st.integers(1, 7), min_size=2, max_size=3),
    density=st.floats(0.1, 0.9),
    construction=st.sampled_from(["top", "vertex"]),
)
def test_labelling_matches_gudhi_on_random_masks(seed, shape, density, construction):
    mask = np.random.default_rng(seed).random(shape) < density
    reference = region_homology(mask, construction=construction)
    assert betti_by_labelling(mask, construction) == reference.betti_in_box
    # The Euler characteristic is the alternating sum of the Betti numbers.
    betti = reference.betti_in_box
    alternating = sum((-1) ** k * b for k, b in enumerate(betti))
    assert euler_characteristic(mask, construction) == alternating

    labelled = region_homology(mask, construction=construction, labelling=True)
    assert labelled.method == "labelling"
    assert labelled.betti_in_box == reference.betti_in_box
    assert labelled.touches_boundary == reference.touches_boundary
    for computed, expected in zip(
        labelled.betti_interior, reference.betti_interior, strict=True
    ):
        assert computed is None or computed == expected
    if mask.ndim == 2 or not labelled.touches_boundary:
        assert labelled.betti_interior == reference.betti_interior


def _grid(n, half_width=3.0):
    axis = np.linspace(-half_width, half_width, n)
    return np.meshgrid(axis, axis, axis, indexing="ij")


def test_known_solids_and_surfaces():
    x, y, z = _grid(40)
    ring_distance = np.sqrt((np.sqrt(x**2 + y**2) - 1.8) ** 2 + z**2)
    radius = np.sqrt(x**2 + y**2 + z**2)
    solids = {
        "solid torus": (ring_distance < 0.6, (1, 1, 0)),
        "torus surface": (np.abs(ring_distance - 0.6) < 0.2, (1, 2, 1)),
        "hollow ball": ((radius > 1.0) & (radius < 2.0), (1, 0, 1)),
        "two balls": (
            (np.sqrt((x - 1.5) ** 2 + y**2 + z**2) < 1)
            | (np.sqrt((x + 1.5) ** 2 + y**2 + z**2) < 1),
            (2, 0, 0),
        ),
    }
    for name, (mask, expected) in solids.items():
        for construction in ("top", "vertex"):
            assert betti_by_labelling(mask, construction) == expected, (
                name,
                construction,
            )


def test_euler_characteristic_of_single_cells():
    cube = np.ones((1, 1, 1), dtype=bool)
    assert euler_characteristic(cube, "top") == 1  # 8 - 12 + 6 - 1
    # As a vertex complex, a 2x2x2 block is one closed cube.
    assert euler_characteristic(np.ones((2, 2, 2), dtype=bool), "vertex") == 1
    # Two cells sharing only a corner: one point in common.
    corner = np.zeros((2, 2, 2), dtype=bool)
    corner[0, 0, 0] = corner[1, 1, 1] = True
    assert euler_characteristic(corner, "top") == 1
    assert euler_characteristic(corner, "vertex") == 2


def test_labelling_rejects_bad_input():
    with pytest.raises(ConfigurationError, match="2-D or 3-D"):
        betti_by_labelling(np.zeros(4, dtype=bool))
    with pytest.raises(ConfigurationError, match="construction"):
        euler_characteristic(np.zeros((2, 2), dtype=bool), "faces")


def test_labelling_path_on_shells():
    # Unit ball, shell 1 < |x| < 2 and outside, in the box [-3, 3]^3.
    plane = input_space_slice(3, bounds=np.tile([-3.0, 3.0], (3, 1)))
    network = shells_network(3)
    reference = analyze_slice(network, plane, (24, 32))
    limit = complex_cells(24, 3)
    labelled = analyze_slice(network, plane, (24, 32), max_complex_cells=limit)

    assert labelled.convergence.betti == reference.convergence.betti
    # The outside, cut by the box, encloses the shell: one void.
    expected = [(1, 0, 0), (1, 0, 1), (1, 0, 1)]
    for topology, betti in zip(labelled.classes, expected, strict=True):
        assert topology.homology.betti_in_box == betti
        assert topology.homology.method == "labelling"
        assert topology.diagram is None
        assert topology.robust is None
    # The outside touches the box: its b1 away from the box is not computed.
    assert labelled.classes[2].homology.betti_interior == (0, None, 1)
    assert labelled.classes[0].homology.betti_interior == (1, 0, 0)
    assert (
        labelled.notes
        and "persistence diagrams were not computed" in (labelled.notes[0])
    )
    assert reference.notes == ()
    assert labelled.to_dict()["classes"][2]["betti_interior"] == [0, None, 1]

    with pytest.raises(ConfigurationError, match="max_complex_cells"):
        analyze_slice(network, plane, (8,), max_complex_cells=0)


def _sorted_rows(pairs: np.ndarray) -> np.ndarray:
    return pairs[np.lexsort(pairs.T[::-1])]


@pytest.mark.skipif(not cripser_available(), reason="cripser is not installed")
@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.lists(st.integers(2, 8), min_size=2, max_size=3),
    ties=st.sampled_from([None, 0, 1]),
    construction=st.sampled_from(["top", "vertex"]),
)
def test_cripser_diagrams_equal_gudhi(seed, shape, ties, construction):
    values = np.random.default_rng(seed).normal(size=shape)
    if ties is not None:
        # Rounded values make many equal filtration values.
        values = np.round(values * 2, ties)
    fast = cubical_persistence(values, construction, backend="cripser")
    reference = cubical_persistence(values, construction, backend="gudhi")
    assert len(fast) == len(reference) == len(shape)
    for computed, expected in zip(fast, reference, strict=True):
        np.testing.assert_array_equal(_sorted_rows(computed), _sorted_rows(expected))


def test_auto_backend_leaves_thin_grids_to_gudhi():
    # A 1 x n grid: CubicalRipser pairs its cells differently from GUDHI.
    values = np.array([[0.0, 2.0, 1.0, 3.0, 0.5]])
    # Cell 2 (value 1) merges into cell 0 when cell 1 enters at 2, and cell 4
    # (value 0.5) when cell 3 enters at 3.
    expected = [[0.0, np.inf], [0.5, 3.0], [1.0, 2.0]]
    for construction in ("top", "vertex"):
        auto = cubical_persistence(values, construction)
        gudhi = cubical_persistence(values, construction, backend="gudhi")
        np.testing.assert_array_equal(_sorted_rows(auto[0]), _sorted_rows(gudhi[0]))
    np.testing.assert_array_equal(
        _sorted_rows(cubical_persistence(values, "top")[0]), expected
    )
    with pytest.raises(ConfigurationError, match="backend"):
        cubical_persistence(values, backend="ripser")
