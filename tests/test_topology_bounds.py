"""Milnor bounds on the Betti numbers of decision regions."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expressivity.errors import ConfigurationError
from expressivity.models import NetworkSpec, build_network
from expressivity.topology import (
    analyze_slice,
    input_space_slice,
    milnor_bound,
    milnor_bound_several,
    output_degree,
    random_slice,
    region_bound,
)


def _milnor_formula(degree: int, n: int) -> Fraction:
    return Fraction(1, 2) * (2 + degree) * (1 + degree) ** (n - 1)


@pytest.mark.parametrize(
    ("degree", "n", "expected"),
    # 1/2 (2 + d)(1 + d)^(n - 1) by hand: a degree-2 inequality in the plane
    # gives 1/2 * 4 * 3 = 6; degree 4 in the plane 1/2 * 6 * 5 = 15; degree 2
    # in 3-D 1/2 * 4 * 9 = 18; a half-line (d = 1, n = 1) 1/2 * 3 = 1.5 -> 1.
    [(2, 2, 6), (4, 2, 15), (2, 3, 18), (1, 1, 1)],
)
def test_milnor_bound_by_hand(degree, n, expected):
    assert milnor_bound(degree, n) == expected


@given(degree=st.integers(1, 64), n=st.integers(1, 6))
def test_milnor_bound_is_formula_floor(degree, n):
    assert milnor_bound(degree, n) == int(_milnor_formula(degree, n))


def test_milnor_several_uses_total_degree():
    assert milnor_bound_several([2, 2, 4], 2) == milnor_bound(8, 2)
    with pytest.raises(ConfigurationError, match="at least one"):
        milnor_bound_several([], 2)
    with pytest.raises(ConfigurationError, match="degree"):
        milnor_bound(0, 2)


@pytest.mark.parametrize(
    ("activation", "widths", "expected"),
    [
        ("quadratic", (2, 5, 3), 2),
        ("quadratic", (2, 5, 5, 3), 4),
        ("quadratic", (2, 5, 5, 5, 3), 8),
        ("linear", (2, 5, 5, 3), 1),
        ("relu", (2, 5, 3), None),
        ("tanh", (2, 5, 3), None),
    ],
)
def test_output_degree(activation, widths, expected):
    network = build_network(NetworkSpec(widths, activation=activation))
    assert output_degree(network) == expected


def test_output_degree_of_cubic_polynomial():
    spec = NetworkSpec((2, 4, 4, 2), activation="polynomial", coefficients=(0, 1, 0, 2))
    assert output_degree(build_network(spec)) == 9


def test_region_bound_fields():
    network = build_network(NetworkSpec((2, 6, 6, 4)))
    bound = region_bound(network, 2, 4)
    assert bound.degree == 4
    assert bound.n_inequalities == 3
    assert bound.single == milnor_bound(4, 2)
    assert bound.several == milnor_bound(12, 2)
    # The box adds four linear inequalities in the plane.
    assert bound.in_box == milnor_bound(16, 2)

    relu = build_network(NetworkSpec((2, 6, 4), activation="relu"))
    empty = region_bound(relu, 2, 4)
    assert empty.several is None
    assert "not a polynomial" in empty.reason


@settings(max_examples=12)
@given(
    seed=st.integers(0, 2**16),
    hidden=st.lists(st.integers(2, 6), min_size=1, max_size=2),
    n_classes=st.integers(2, 4),
    sigma_b=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_bound_never_below_measured_2d(seed, hidden, n_classes, sigma_b):
    spec = NetworkSpec(
        (2, *hidden, n_classes), activation="quadratic", sigma_b=sigma_b, seed=seed
    )
    network = build_network(spec)
    plane = input_space_slice(2, bounds=np.tile([-2.0, 2.0], (2, 1)))
    result = analyze_slice(network, plane, (48,), persistence=False)
    for topology in result.classes:
        # The in-box region is the class region cut by 2n linear inequalities.
        assert sum(topology.homology.betti_in_box) <= topology.bound.in_box
        # Features away from the box are features of the whole region.
        assert sum(topology.homology.betti_interior) <= topology.bound.several


@settings(max_examples=4)
@given(seed=st.integers(0, 2**16), n_classes=st.integers(2, 3))
def test_bound_never_below_measured_3d_slice(seed, n_classes):
    spec = NetworkSpec(
        (5, 4, n_classes), activation="quadratic", sigma_b=1.0, seed=seed
    )
    network = build_network(spec)
    plane = random_slice(np.zeros(5), 3, seed=seed, bounds=np.tile([-2.0, 2.0], (3, 1)))
    result = analyze_slice(network, plane, (16,), persistence=False)
    for topology in result.classes:
        assert sum(topology.homology.betti_in_box) <= topology.bound.in_box
        assert sum(topology.homology.betti_interior) <= topology.bound.several
