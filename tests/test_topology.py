"""Betti numbers of decision regions: cubical complexes, slices, convergence.

The oracles are shapes with known homology built as quadratic networks by
hand, and connected-component labelling (scipy.ndimage) with Alexander
duality and the Euler characteristic for random masks.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from torch import nn

from expressivity.errors import ConfigurationError, NumericalError
from expressivity.models import (
    FullyConnected,
    NetworkSpec,
    build_network,
    make_activation,
)
from expressivity.topology import (
    AffineSlice,
    Raster,
    analyze_slice,
    box_around,
    input_space_slice,
    labels_and_margins,
    margin_persistence,
    principal_slice,
    random_slice,
    rasterize,
    region_homology,
    slice_through_points,
    stable_resolution,
)
from expressivity.topology.cubical import betti_from_diagram

# Neighbourhoods of scipy.ndimage.label: full (8 or 26 neighbours) and faces
# only (4 or 6 neighbours).
FULL = {2: np.ones((3, 3)), 3: np.ones((3, 3, 3))}
FACES = {2: None, 3: None}


# ---------------------------------------------------------------------------
# Quadratic networks with known decision regions
# ---------------------------------------------------------------------------


def _linear(weight, bias) -> nn.Linear:
    weight = torch.as_tensor(np.asarray(weight, dtype=np.float64))
    layer = nn.Linear(weight.shape[1], weight.shape[0], dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float64)))
    return layer


def quadratic_network(n, quadratics, outputs) -> FullyConnected:
    """Quadratic network with outputs f_j = c_j + sum s q_a + sum t q_a q_b.

    ``quadratics`` lists separable quadratics q_a(x) = sum_k alpha_k x_k^2 +
    beta_k x_k + gamma as (alpha, beta, gamma). ``outputs`` lists, per class,
    (c_j, {a: s}, {(a, b): t}). The first hidden layer computes x_k^2 and
    (x_k + 1)^2, so x_k = ((x_k + 1)^2 - x_k^2 - 1) / 2 and every q_a is
    affine in it. Without products that is the whole network (degree 2).
    With products a second hidden layer squares q_a +- 1 and q_a +- q_b, and
    q_a = ((q_a + 1)^2 - (q_a - 1)^2) / 4, q_a q_b = ((q_a + q_b)^2 -
    (q_a - q_b)^2) / 4 (degree 4).
    """
    # Layer 1: rows e_k with biases 0 and 1.
    first = _linear(np.repeat(np.eye(n), 2, axis=0), np.tile([0.0, 1.0], n))
    rows, constants = [], []
    for alpha, beta, gamma in quadratics:
        alpha, beta = np.broadcast_to(alpha, n), np.broadcast_to(beta, n)
        row = np.zeros(2 * n)
        row[0::2] = alpha - beta / 2
        row[1::2] = beta / 2
        rows.append(row)
        constants.append(gamma - beta.sum() / 2)
    q_weight, q_bias = np.array(rows), np.array(constants)
    activation = make_activation("quadratic")

    pairs = sorted({pair for _, _, products in outputs for pair in products})
    if not pairs:
        out_weight = np.array([_dense(lin, len(quadratics)) for _, lin, _ in outputs])
        out_bias = [c for c, _, _ in outputs] + out_weight @ q_bias
        return FullyConnected(
            [first, _linear(out_weight @ q_weight, out_bias)], activation
        )

    # Layer 2 units: q_a + 1, q_a - 1 for every a, then q_a + q_b, q_a - q_b.
    second_rows, second_bias = [], []
    for a in range(len(quadratics)):
        for shift in (1.0, -1.0):
            second_rows.append(q_weight[a])
            second_bias.append(q_bias[a] + shift)
    for a, b in pairs:
        for sign in (1.0, -1.0):
            second_rows.append(q_weight[a] + sign * q_weight[b])
            second_bias.append(q_bias[a] + sign * q_bias[b])
    second = _linear(np.array(second_rows), second_bias)

    out_rows = []
    for _, linear, products in outputs:
        row = np.zeros(len(second_rows))
        for a, s in linear.items():
            row[2 * a : 2 * a + 2] += [s / 4, -s / 4]
        for pair, t in products.items():
            k = 2 * len(quadratics) + 2 * pairs.index(pair)
            row[k : k + 2] += [t / 4, -t / 4]
        out_rows.append(row)
    last = _linear(np.array(out_rows), [c for c, _, _ in outputs])
    return FullyConnected([first, second, last], activation)


def _dense(linear: dict, size: int) -> np.ndarray:
    row = np.zeros(size)
    for a, s in linear.items():
        row[a] = s
    return row


def _norm_squared(n, centre=None, radius=0.0):
    """(alpha, beta, gamma) of |x - centre|^2 - radius^2."""
    centre = np.zeros(n) if centre is None else np.asarray(centre, dtype=float)
    return (np.ones(n), -2 * centre, float(centre @ centre) - radius**2)


def disk_network():
    # f_0 = 1 - |x|^2, f_1 = 0: class 0 is the unit disk.
    return quadratic_network(2, [_norm_squared(2)], [(1.0, {0: -1.0}, {}), (0, {}, {})])


def shells_network(n):
    # With t = |x|^2: f_0 = 1 - t wins for t < 1, f_2 = t - 4 for t > 4 and
    # f_1 = 0 in between, so the classes are the unit ball, the shell
    # 1 < |x| < 2 and the outside.
    outputs = [(1.0, {0: -1.0}, {}), (0.0, {}, {}), (-4.0, {0: 1.0}, {})]
    return quadratic_network(n, [_norm_squared(n)], outputs)


def two_disks_network():
    # f_0 = -p q is positive inside exactly one of the disjoint unit disks
    # p < 0 (centre (-1.5, 0)) and q < 0 (centre (1.5, 0)).
    quadratics = [
        _norm_squared(2, (-1.5, 0.0), 1.0),
        _norm_squared(2, (1.5, 0.0), 1.0),
    ]
    outputs = [(0.0, {}, {(0, 1): -1.0}), (0.0, {}, {})]
    return quadratic_network(2, quadratics, outputs)


def disk_with_two_holes_network():
    # Class 0 has f_0 = 0 and wins where f_1 = -h1 h2 < 0 (outside the unit
    # holes at (+-1.5, 0)) and f_2 = |x|^2 - 9 < 0 (inside the disk of
    # radius 3). Class 1 is the two holes, class 2 the outside.
    quadratics = [
        _norm_squared(2, (-1.5, 0.0), 1.0),
        _norm_squared(2, (1.5, 0.0), 1.0),
        _norm_squared(2, None, 3.0),
    ]
    outputs = [(0.0, {}, {}), (0.0, {}, {(0, 1): -1.0}), (0.0, {2: 1.0}, {})]
    return quadratic_network(2, quadratics, outputs)


def _square_box(n, half_width):
    return np.tile([-half_width, half_width], (n, 1))


def test_quadratic_network_computes_products():
    network = two_disks_network()
    x = torch.tensor([[0.3, -0.7], [-1.5, 0.2], [2.0, 1.0]], dtype=torch.float64)
    p = ((x - torch.tensor([-1.5, 0.0], dtype=torch.float64)) ** 2).sum(1) - 1
    q = ((x - torch.tensor([1.5, 0.0], dtype=torch.float64)) ** 2).sum(1) - 1
    outputs = network(x)
    assert torch.allclose(outputs[:, 0], -p * q, rtol=1e-12, atol=1e-12)
    assert torch.allclose(outputs[:, 1], torch.zeros(3, dtype=torch.float64))


# (network, n, half width of the box, resolution, in-box Betti numbers per
# class, Betti numbers per class with the box boundary ignored)
KNOWN_REGIONS = {
    "disk": (disk_network, 2, 2.0, 96, [(1, 0), (1, 1)], [(1, 0), (0, 1)]),
    "annulus": (
        lambda: shells_network(2),
        2,
        3.0,
        96,
        [(1, 0), (1, 1), (1, 1)],
        [(1, 0), (1, 1), (0, 1)],
    ),
    "two disks": (two_disks_network, 2, 3.5, 96, [(2, 0), (1, 2)], [(2, 0), (0, 2)]),
    "disk with two holes": (
        disk_with_two_holes_network,
        2,
        4.0,
        128,
        [(1, 2), (2, 0), (1, 1)],
        [(1, 2), (2, 0), (0, 1)],
    ),
    "ball and shell": (
        lambda: shells_network(3),
        3,
        3.0,
        36,
        [(1, 0, 0), (1, 0, 1), (1, 0, 1)],
        [(1, 0, 0), (1, 0, 1), (0, 0, 1)],
    ),
}


@pytest.mark.parametrize("construction", ["top", "vertex"])
@pytest.mark.parametrize("name", list(KNOWN_REGIONS))
def test_known_regions_exact_betti(name, construction):
    build, n, half_width, resolution, in_box, interior = KNOWN_REGIONS[name]
    plane = input_space_slice(n, bounds=_square_box(n, half_width))
    raster = rasterize(build(), plane, resolution)
    for i in range(raster.n_classes):
        homology = region_homology(raster.labels == i, i, construction)
        assert homology.betti_in_box == in_box[i], f"class {i}"
        assert homology.betti_interior == interior[i], f"class {i}"
        # The margin diagram must give the same in-box Betti numbers.
        diagram = margin_persistence(raster, i, construction)
        assert betti_from_diagram(diagram) == in_box[i], f"class {i}"


def test_analyze_slice_reports_known_regions():
    build, n, half_width, _, in_box, interior = KNOWN_REGIONS["disk with two holes"]
    plane = input_space_slice(n, bounds=_square_box(n, half_width))
    result = analyze_slice(build(), plane, (48, 96, 128), threshold=0.5)
    for i, topology in enumerate(result.classes):
        assert topology.homology.betti_in_box == in_box[i]
        assert topology.homology.betti_interior == interior[i]
        assert topology.stable_from is not None
        assert topology.bound.degree == 4
    assert result.convergence.betti[-1] == tuple(in_box)


# ---------------------------------------------------------------------------
# Connectivity conventions and the box boundary on hand-drawn masks
# ---------------------------------------------------------------------------


def _mask(rows: list[str]) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in rows])


DIAGONAL = _mask(["....", ".#..", "..#.", "...."])
DIAMOND = _mask([".....", "..#..", ".#.#.", "..#..", "....."])
SQUARE_RING = _mask([".....", ".###.", ".#.#.", ".###.", "....."])
C_AT_EDGE = _mask(["###.", "#...", "###.", "...."])


@pytest.mark.parametrize(
    ("mask", "top", "vertex"),
    [
        # Cells that share only a corner: one component with 8-connectivity.
        (DIAGONAL, (1, 0), (2, 0)),
        # Four cells around a centre cell, touching at corners, form an
        # 8-connected loop whose 4-connected inside is a hole. With
        # 4-connectivity they are four cells, and the 8-connected complement
        # has no hole.
        (DIAMOND, (1, 1), (4, 0)),
        (SQUARE_RING, (1, 1), (1, 1)),
    ],
)
def test_connectivity_conventions(mask, top, vertex):
    assert region_homology(mask, construction="top").betti_in_box == top
    assert region_homology(mask, construction="vertex").betti_in_box == vertex


def test_region_touching_box_both_readings():
    # A C open to the left edge: one component in the box, none that stays
    # away from the boundary, and no loop either way.
    homology = region_homology(C_AT_EDGE)
    assert homology.touches_boundary
    assert homology.betti_in_box == (1, 0)
    assert homology.betti_interior == (0, 0)

    # The complement of a ring: the outer part touches the box, the inner
    # cell does not; the ring's hole is a hole either way.
    homology = region_homology(~SQUARE_RING)
    assert homology.betti_in_box == (2, 1)
    assert homology.betti_interior == (1, 1)


def test_tunnel_through_box_loop():
    # A solid block pierced by a rod of empty cells from face to face. The
    # loop around the rod is a loop in the box. It bounds a disk once the
    # outside of the box is added, because the rod ends at the box.
    mask = np.ones((5, 5, 5), dtype=bool)
    mask[2, 2, :] = False
    homology = region_homology(mask)
    assert homology.betti_in_box == (1, 1, 0)
    assert homology.betti_interior == (0, 0, 0)


def test_empty_and_full_masks():
    empty = region_homology(np.zeros((6, 6), dtype=bool))
    assert empty.betti_in_box == (0, 0)
    assert empty.betti_interior == (0, 0)
    full = region_homology(np.ones((4, 4, 4), dtype=bool))
    assert full.betti_in_box == (1, 0, 0)
    assert full.betti_interior == (0, 0, 0)


def test_region_homology_rejects_bad_input():
    with pytest.raises(ConfigurationError, match="2-D or 3-D"):
        region_homology(np.zeros(5, dtype=bool))
    with pytest.raises(ConfigurationError, match="construction"):
        region_homology(np.zeros((3, 3), dtype=bool), construction="edges")


def _label_counts(mask, structure):
    labels, count = ndimage.label(mask, structure=structure)
    boundary = np.zeros_like(mask)
    for axis in range(mask.ndim):
        index = [slice(None)] * mask.ndim
        for end in (0, -1):
            index[axis] = end
            boundary[tuple(index)] = True
    touching = len(set(np.unique(labels[boundary])) - {0})
    return count, touching


def _euler_top(mask: np.ndarray) -> int:
    """Euler characteristic of the union of closed cubes of a 3-D mask."""
    padded = np.pad(mask, 1)
    total = 0
    # A face spanned by the axes in `free` is in the union when one of the
    # cubes around it is, so count the faces of every type with signs.
    for free in np.ndindex(2, 2, 2):
        around = np.zeros_like(padded[1:, 1:, 1:])
        for offset in np.ndindex(2, 2, 2):
            if any(o and f for o, f in zip(offset, free, strict=True)):
                continue
            shifted = padded[
                tuple(
                    slice(o, o + s - 1) if not f else slice(1, s)
                    for o, f, s in zip(offset, free, padded.shape, strict=True)
                )
            ]
            around = around | shifted
        total += (-1) ** sum(free) * int(around.sum())
    return total


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.15, 0.85),
    construction=st.sampled_from(["top", "vertex"]),
)
def test_random_2d_masks_match_labelling(seed, density, construction):
    mask = np.random.default_rng(seed).random((11, 13)) < density
    region, complement = (FULL, FACES) if construction == "top" else (FACES, FULL)
    n_region, region_touching = _label_counts(mask, region[2])
    n_complement, complement_touching = _label_counts(~mask, complement[2])
    # Alexander duality: the holes are the complement components (in the
    # dual connectivity) that do not reach the box boundary.
    holes = n_complement - complement_touching

    homology = region_homology(mask, construction=construction)
    assert homology.betti_in_box == (n_region, holes)
    assert homology.betti_interior == (n_region - region_touching, holes)

    # The same numbers from a margin diagram of +-1 on the mask.
    margin = np.where(mask, 1.0, -1.0)
    raster = Raster(
        input_space_slice(2, bounds=_square_box(2, 1.0)),
        mask.shape[0],
        np.where(mask, 0, 1).astype(np.int16),
        np.stack([margin, -margin]),
    )
    diagram = margin_persistence(raster, 0, construction)
    shortcut = region_homology(mask, construction=construction, diagram=diagram)
    assert shortcut == homology


@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0.2, 0.8))
def test_random_3d_masks_match_labelling_and_euler(seed, density):
    mask = np.random.default_rng(seed).random((7, 6, 8)) < density
    n_region, _ = _label_counts(mask, FULL[3])
    n_complement, complement_touching = _label_counts(~mask, FACES[3])
    voids = n_complement - complement_touching

    b0, b1, b2 = region_homology(mask, construction="top").betti_in_box
    assert b0 == n_region
    assert b2 == voids
    assert b0 - b1 + b2 == _euler_top(mask)


def test_euler_oracle_on_known_solids():
    ring = np.ones((3, 3, 1), dtype=bool)
    ring[1, 1, 0] = False
    assert _euler_top(ring) == 0
    cube = np.ones((2, 2, 2), dtype=bool)
    assert _euler_top(cube) == 1
    shell = np.ones((3, 3, 3), dtype=bool)
    shell[1, 1, 1] = False
    assert _euler_top(shell) == 2


# ---------------------------------------------------------------------------
# Rasterisation
# ---------------------------------------------------------------------------


def test_labels_and_margins_break_ties_to_lowest_index():
    outputs = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, -1.0, 0.5]])
    labels, margins = labels_and_margins(outputs)
    assert labels.tolist() == [0, 1, 0]
    expected = [[0.0, 0.0, -1.0], [-2.0, 0.0, 0.0], [2.5, -4.0, -2.5]]
    assert margins.tolist() == expected


def test_rasterize_chunks_match_dense_evaluation():
    network = disk_with_two_holes_network()
    plane = AffineSlice(
        origin=[0.5, -0.25],
        directions=[[1.0, 0.5], [-0.5, 1.0]],
        bounds=[[-3.0, 2.5], [-2.0, 3.0]],
    )
    chunked = rasterize(network, plane, 37, chunk_size=100)
    whole = rasterize(network, plane, 37)

    s, t = plane.axis_points(37)
    grid = torch.as_tensor(np.stack(np.meshgrid(s, t, indexing="ij"), axis=-1))
    outputs = network(plane.to_input(grid.reshape(-1, 2))).detach()
    labels, margins = labels_and_margins(outputs)
    assert np.array_equal(chunked.labels, whole.labels)
    assert np.array_equal(chunked.labels, labels.numpy().reshape(37, 37))
    assert np.array_equal(chunked.margins, margins.numpy().T.reshape(3, 37, 37))


def test_raster_axis_zero_follows_first_coordinate():
    # f = (x_1, 0): class 0 where the first slice coordinate is positive.
    network = FullyConnected(
        [_linear([[1.0, 0.0], [0.0, 0.0]], [0.0, 0.0])], make_activation("linear")
    )
    plane = input_space_slice(2, bounds=[[-1.0, 3.0], [-5.0, 5.0]])
    raster = rasterize(network, plane, 8)
    s, _ = plane.axis_points(8)
    expected = np.where(s > 0, 0, 1)[:, None].repeat(8, axis=1)
    assert np.array_equal(raster.labels, expected)


@pytest.mark.parametrize(("dimension", "resolution"), [(2, 1), (2, 2049), (3, 257)])
def test_rasterize_rejects_resolution(dimension, resolution):
    plane = input_space_slice(dimension, bounds=_square_box(dimension, 1.0))
    network = shells_network(dimension)
    with pytest.raises(ConfigurationError, match="resolution"):
        rasterize(network, plane, resolution)


def test_rasterize_names_non_finite_output():
    network = FullyConnected(
        [_linear([[1.0, 0.0], [0.0, 0.0]], [0.0, 0.0])], make_activation("linear")
    )
    with torch.no_grad():
        network.linears[0].weight[0, 0] = float("inf")
    plane = input_space_slice(2, bounds=_square_box(2, 1.0))
    with pytest.raises(NumericalError, match="not finite"):
        rasterize(network, plane, 4)


# ---------------------------------------------------------------------------
# Slices
# ---------------------------------------------------------------------------


def test_slice_through_three_points():
    points = np.array(
        [[1.0, 0.0, 2.0, 0.0], [0.0, 1.0, 0.0, 3.0], [2.0, 2.0, 2.0, 2.0]]
    )
    plane = slice_through_points(points, margin=0.1)
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert np.allclose(plane.to_input(corners).numpy(), points)
    assert np.allclose(plane.project(points), corners.numpy())
    assert np.allclose(plane.bounds, [[-0.1, 1.1], [-0.1, 1.1]])


def test_slice_through_four_points_is_3d():
    points = np.random.default_rng(3).standard_normal((4, 6))
    plane = slice_through_points(points)
    assert plane.dimension == 3
    coordinates = np.vstack([np.zeros(3), np.eye(3)])
    assert np.allclose(plane.project(points), coordinates)


def test_slice_through_points_rejects_bad_points():
    with pytest.raises(ConfigurationError, match="3 points"):
        slice_through_points(np.zeros((5, 4)))
    collinear = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    with pytest.raises(ConfigurationError, match="linearly dependent"):
        slice_through_points(collinear)


def test_random_slice_orthonormal_and_seeded():
    point = np.arange(5.0)
    plane = random_slice(point, 3, seed=7)
    again = random_slice(point, 3, seed=7)
    other = random_slice(point, 3, seed=8)
    assert np.allclose(plane.directions @ plane.directions.T, np.eye(3))
    assert np.array_equal(plane.directions, again.directions)
    assert not np.allclose(plane.directions, other.directions)
    assert np.array_equal(plane.origin, point)
    with pytest.raises(ConfigurationError, match="exceeds the input dimension"):
        random_slice(np.zeros(2), 3)


def test_principal_slice_matches_pca_and_covers_data():
    from sklearn.decomposition import PCA

    generator = np.random.default_rng(0)
    data = generator.standard_normal((200, 5)) * [5.0, 3.0, 1.0, 0.5, 0.1]
    data = data @ np.linalg.qr(generator.standard_normal((5, 5)))[0]
    plane = principal_slice(data, 2, margin=0.0)
    components = PCA(2).fit(data).components_
    for direction, component in zip(plane.directions, components, strict=True):
        assert abs(abs(direction @ component) - 1.0) < 1e-10
    assert np.allclose(plane.origin, data.mean(axis=0))

    coordinates = plane.project(data)
    assert np.allclose(plane.bounds[:, 0], coordinates.min(axis=0))
    assert np.allclose(plane.bounds[:, 1], coordinates.max(axis=0))


def test_input_space_slice_box_from_data():
    data = np.array([[0.0, 1.0], [2.0, 5.0], [1.0, 3.0]])
    plane = input_space_slice(2, data=data, margin=0.5)
    assert np.allclose(plane.bounds, [[-1.0, 3.0], [-1.0, 7.0]])
    given_box = input_space_slice(2, bounds=[[0.0, 1.0], [0.0, 2.0]])
    assert np.allclose(given_box.bounds, [[0.0, 1.0], [0.0, 2.0]])
    with pytest.raises(ConfigurationError, match="dimension 5"):
        input_space_slice(5)


def test_box_around_widens_flat_sides():
    box = box_around(np.array([[1.0, 2.0], [3.0, 2.0]]), margin=0.25)
    assert np.allclose(box, [[0.5, 3.5], [1.75, 2.25]])
    with pytest.raises(ConfigurationError, match="margin"):
        box_around(np.zeros((2, 2)), margin=-1.0)


def test_affine_slice_rejects_bad_bounds():
    with pytest.raises(ConfigurationError, match="bounds"):
        AffineSlice(np.zeros(2), np.eye(2), [[1.0, 0.0], [0.0, 1.0]])


# ---------------------------------------------------------------------------
# Convergence in resolution
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("betti", "expected"),
    [
        ([(2, 0), (1, 1), (1, 1), (1, 1)], 16),
        ([(1, 1), (1, 1), (1, 1), (1, 1)], 8),
        ([(1, 1), (2, 0), (1, 1), (1, 1)], 32),
        ([(1, 1), (1, 1), (1, 1), (2, 1)], None),
    ],
)
def test_stable_resolution_table(betti, expected):
    assert stable_resolution([8, 16, 32, 64], betti) == expected


def test_stable_resolution_needs_two_resolutions():
    assert stable_resolution([64], [(1, 0)]) is None


def thin_annulus_network():
    # Class 1 is the annulus 1 < |x|^2 < 1.08, about 0.04 wide.
    outputs = [(1.0, {0: -1.0}, {}), (0.0, {}, {}), (-1.08, {0: 1.0}, {})]
    return quadratic_network(2, [_norm_squared(2)], outputs)


def test_thin_annulus_needs_refinement():
    network = thin_annulus_network()
    plane = input_space_slice(2, bounds=_square_box(2, 1.5))
    resolutions = (8, 16, 32, 64, 128, 256)
    result = analyze_slice(network, plane, resolutions, persistence=False)

    # Reference: the annulus at each resolution, computed independently.
    per_resolution = [
        region_homology(rasterize(network, plane, r).labels == 1).betti_in_box
        for r in resolutions
    ]
    stable = next(
        r
        for k, r in enumerate(resolutions)
        if all(b == (1, 1) for b in per_resolution[k:])
    )
    assert per_resolution[0] != (1, 1)
    assert [row[1] for row in result.convergence.betti] == per_resolution
    assert result.classes[1].stable_from == stable
    assert result.classes[1].homology.betti_in_box == (1, 1)
    assert stable > resolutions[0]


def test_analyze_slice_rejects_bad_options():
    plane = input_space_slice(2, bounds=_square_box(2, 2.0))
    with pytest.raises(ConfigurationError, match="strictly increasing"):
        analyze_slice(disk_network(), plane, (32, 16))
    with pytest.raises(ConfigurationError, match="threshold"):
        analyze_slice(disk_network(), plane, (16,), threshold=-1.0)


# ---------------------------------------------------------------------------
# Margin persistence
# ---------------------------------------------------------------------------


def test_margin_persistence_of_disk_closed_form():
    # On [-2, 2]^2, g_1 = |x|^2 - 1 has its maxima 7 at the four corners;
    # they merge at the edge midpoints (3), where a loop closes around the
    # disk, and the loop dies at the centre (-1). g_0 = -g_1 has one
    # component born at 1 that never dies.
    plane = input_space_slice(2, bounds=_square_box(2, 2.0))
    raster = rasterize(disk_network(), plane, 100)
    cell = 0.1  # |x|^2 changes by at most about 4 * 0.04 across half a cell

    inside = margin_persistence(raster, 0)
    assert len(inside.intervals[0]) == 1
    assert inside.intervals[0][0, 0] == pytest.approx(1.0, abs=cell)
    assert inside.intervals[0][0, 1] == -np.inf
    assert len(inside.intervals[1]) == 0

    outside = margin_persistence(raster, 1)
    births, deaths = outside.intervals[0].T
    assert len(births) == 4
    assert np.allclose(births, 7.0, atol=4 * cell)
    assert np.sort(deaths)[0] == -np.inf
    assert np.allclose(np.sort(deaths)[1:], 3.0, atol=4 * cell)
    assert len(outside.intervals[1]) == 1
    assert outside.intervals[1][0, 0] == pytest.approx(3.0, abs=4 * cell)
    assert outside.intervals[1][0, 1] == pytest.approx(-1.0, abs=cell)

    assert outside.count_persistent(3.5) == (4, 1)
    assert outside.count_persistent(4.5) == (1, 0)
    assert betti_from_diagram(outside) == (1, 1)


def test_analyze_slice_counts_robust_features():
    plane = input_space_slice(2, bounds=_square_box(2, 2.0))
    result = analyze_slice(disk_network(), plane, (50, 100), threshold=3.5)
    assert result.classes[0].robust == (1, 0)
    assert result.classes[1].robust == (4, 1)
    payload = result.to_dict()
    assert payload["classes"][1]["robust_features"] == [4, 1]
    deaths = [death for _, death in payload["classes"][1]["diagram"]["intervals"][0]]
    assert deaths.count(None) == 1


@settings(max_examples=15)
@given(
    seed=st.integers(0, 2**16),
    dimension=st.sampled_from([2, 2, 3]),
    construction=st.sampled_from(["top", "vertex"]),
)
def test_diagram_shortcut_matches_padded_complex(seed, dimension, construction):
    from expressivity.models import NetworkSpec, build_network

    spec = NetworkSpec((dimension, 5, 5, 3), sigma_b=1.0, seed=seed)
    plane = input_space_slice(dimension, bounds=_square_box(dimension, 2.0))
    raster = rasterize(build_network(spec), plane, 40 if dimension == 2 else 14)
    for i in range(raster.n_classes):
        mask = raster.labels == i
        diagram = margin_persistence(raster, i, construction)
        shortcut = region_homology(mask, i, construction, diagram=diagram)
        assert shortcut == region_homology(mask, i, construction)


def test_surviving_features_of_disk_and_outside():
    # g_0 = 1 - |x|^2 peaks at 1, so lowering it by more than 1 removes the
    # disk. g_1 = |x|^2 - 1 has its minimum -1 at the centre, so raising it
    # by more than 1 fills the hole of the outside region.
    plane = input_space_slice(2, bounds=_square_box(2, 2.0))
    raster = rasterize(disk_network(), plane, 100)
    inside = margin_persistence(raster, 0)
    outside = margin_persistence(raster, 1)
    assert inside.count_surviving(0.0) == (1, 0)
    assert inside.count_surviving(0.9) == (1, 0)
    assert inside.count_surviving(1.1) == (0, 0)
    assert outside.count_surviving(0.5) == (1, 1)
    assert outside.count_surviving(0.9) == (1, 1)
    assert outside.count_surviving(1.1) == (1, 0)
    # The four corner components of the margin diagram merge above level 0
    # (three die at 3), so they count as persistent but only one survives.
    assert outside.count_persistent(0.5) == (4, 1)
    with pytest.raises(ConfigurationError, match="change"):
        outside.count_surviving(-1.0)


def test_surviving_counts_hold_for_perturbed_networks():
    # Every network whose margin differs by less than the change keeps at
    # least the surviving features: shift g_1 by +-0.8 and recount.
    plane = input_space_slice(2, bounds=_square_box(2, 2.0))
    raster = rasterize(disk_network(), plane, 100)
    surviving = margin_persistence(raster, 1).count_surviving(0.9)
    for shift in (-0.8, 0.8):
        perturbed = raster.margins[1] + shift
        betti = region_homology(perturbed > 0).betti_in_box
        assert all(b >= s for b, s in zip(betti, surviving, strict=True))


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    fraction=st.floats(0.01, 0.5),
)
def test_surviving_counts_bound_noisy_regions(seed, fraction):
    # Stability of persistence: any margin within `change` of g_1 on every
    # cell has at least the surviving features in its region.
    spec = NetworkSpec((2, 12, 12, 2), sigma_b=0.5, seed=seed)
    network = build_network(spec)
    plane = input_space_slice(2, bounds=_square_box(2, 2.0))
    raster = rasterize(network, plane, 48)
    change = fraction * float(np.abs(raster.margins[1]).max())
    surviving = margin_persistence(raster, 1).count_surviving(change)
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-change, change, raster.margins[1].shape)
    # Uniform shifts lower births and raise deaths as far as allowed, which
    # random noise rarely does.
    perturbations = [0.999 * noise, np.full_like(noise, 0.999 * change)]
    perturbations.append(-perturbations[1])
    for perturbation in perturbations:
        betti = region_homology(raster.margins[1] + perturbation > 0).betti_in_box
        for measured, lower in zip(betti, surviving, strict=True):
            assert measured >= lower
