"""Betti numbers of large binary grids without building a cubical complex.

A GUDHI cubical complex of an n^3 grid contains about 8 n^3 cells and its
persistence computation needs several times that in memory, which rules out
256^3 grids on a 24 GiB machine. The Betti numbers of one region need much
less:

- b0 is the number of connected components of the region, found by
  connected-component labelling with the connectivity of the construction;
- the top Betti number (b1 in 2-D, b2 in 3-D) is, by Alexander duality, the
  number of bounded components of the complement of the region in R^n. They
  are found by labelling the complement, with the dual connectivity, in a
  grid padded with one empty cell;
- in 3-D, b1 then follows from the Euler characteristic,
  chi = b0 - b1 + b2, and chi is an alternating count of the cells of the
  complex, taken here with NumPy window reductions.

The complexes are those of ``expressivity.topology.cubical``:

- ``"top"``: the region is the union of the closed unit cubes of its cells. A
  face of the grid belongs to it when any of the cells around it does.
  Cells sharing a corner are connected (8 in 2-D, 26 in 3-D); the complement
  is connected through faces (4, 6).
- ``"vertex"``: the cells are the vertices of a cubical complex on the cell
  centres, and a cube belongs to the region when all its vertices do. Cells
  are connected through faces (4, 6); the complement through corners (8, 26).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy import ndimage

from expressivity.errors import ConfigurationError

_CONSTRUCTIONS = ("top", "vertex")


def euler_characteristic(mask: np.ndarray, construction: str = "top") -> int:
    """Euler characteristic of the cubical complex of the cells in ``mask``.

    chi = sum over k of (-1)^k times the number of k-dimensional cells. A
    face that extends along the axes in a set A (so of dimension |A|) is
    present in the ``top`` complex when any cell that contains it is in the
    mask, and in the ``vertex`` complex when all of its 2^|A| vertices are.
    """
    mask = _check_mask(mask, construction)
    if construction == "top":
        # One empty cell on every side makes each face position of the
        # (n+1)-vertex lattice see its two neighbouring cells along each axis.
        grid = np.pad(mask, 1, constant_values=False)
    else:
        grid = mask
    total = 0
    for dimension in range(mask.ndim + 1):
        for axes in combinations(range(mask.ndim), dimension):
            faces = grid
            for axis in range(mask.ndim):
                if construction == "top":
                    if axis in axes:
                        faces = _take(faces, axis, 1, -1)
                    else:
                        faces = _take(faces, axis, 0, -1) | _take(faces, axis, 1, None)
                elif axis in axes:
                    faces = _take(faces, axis, 0, -1) & _take(faces, axis, 1, None)
            total += (-1) ** dimension * int(np.count_nonzero(faces))
    return total


def betti_by_labelling(mask: np.ndarray, construction: str = "top") -> tuple[int, ...]:
    """In-box Betti numbers (b0, b1[, b2]) of the cells in ``mask``.

    They equal those of ``region_homology(mask, construction).betti_in_box``
    (the tests compare the two on random grids) at a fraction of the memory:
    a few boolean and int32 copies of the grid.
    """
    mask = _check_mask(mask, construction)
    full = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    faces = ndimage.generate_binary_structure(mask.ndim, 1)
    region_structure, complement_structure = (
        (full, faces) if construction == "top" else (faces, full)
    )
    _, b0 = ndimage.label(mask, structure=region_structure)
    top = _bounded_complement_components(mask, complement_structure)
    if mask.ndim == 2:
        return (int(b0), top)
    chi = euler_characteristic(mask, construction)
    b1 = int(b0) + top - chi
    return (int(b0), b1, top)


def _bounded_complement_components(mask: np.ndarray, structure: np.ndarray) -> int:
    # The padding shell is one component of the complement that reaches
    # infinity; every other component is enclosed by the region.
    outside = np.pad(~mask, 1, constant_values=True)
    labels, count = ndimage.label(outside, structure=structure)
    unbounded = labels[(0,) * mask.ndim]
    return int(count) - (1 if unbounded else 0)


def _take(array: np.ndarray, axis: int, start: int, stop: int | None) -> np.ndarray:
    index = [slice(None)] * array.ndim
    index[axis] = slice(start, stop)
    return array[tuple(index)]


def _check_mask(mask: np.ndarray, construction: str) -> np.ndarray:
    if construction not in _CONSTRUCTIONS:
        raise ConfigurationError(
            f"unknown cubical construction {construction!r}; use 'top' or 'vertex'"
        )
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim not in (2, 3):
        raise ConfigurationError(
            f"mask of shape {mask.shape} is invalid; give a 2-D or 3-D grid"
        )
    return mask
