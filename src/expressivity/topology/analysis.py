"""Decision-region topology of a network on a slice, with convergence and bounds."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.topology.bounds import BettiBound, region_bound
from expressivity.topology.cubical import (
    PersistenceDiagram,
    RegionHomology,
    betti_from_diagram,
    cripser_available,
    margin_persistence,
    region_homology,
)
from expressivity.topology.euler import betti_by_labelling
from expressivity.topology.raster import Raster, rasterize
from expressivity.topology.slices import AffineSlice

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Convergence:
    """In-box Betti numbers of every class at increasing resolutions.

    Attributes
    ----------
    resolutions
        Cells per axis, increasing.
    betti
        ``betti[r][c]``: Betti numbers of class c at ``resolutions[r]``.
    stable_from
        Per class, the smallest resolution from which the Betti numbers no
        longer change up to the finest one, or None when they did not settle
        (they changed between the two finest resolutions).
    """

    resolutions: tuple[int, ...]
    betti: tuple[tuple[tuple[int, ...], ...], ...]
    stable_from: tuple[int | None, ...]

    def to_dict(self) -> dict:
        return {
            "resolutions": list(self.resolutions),
            "betti": [[list(b) for b in row] for row in self.betti],
            "stable_from": list(self.stable_from),
        }


@dataclass(frozen=True)
class ClassTopology:
    """Topology of the decision region of one class at the finest resolution.

    Attributes
    ----------
    homology
        Betti numbers in the box and away from its boundary.
    diagram
        Superlevel-set persistence of the margin g_i, or None when skipped.
    robust
        Features per dimension of the whole margin diagram (at any level)
        whose persistence exceeds the threshold, or None without a diagram.
    stable_from
        Resolution from which the Betti numbers no longer changed (None when
        they did not settle).
    bound
        Milnor bounds on the sum of the Betti numbers.
    surviving
        Features per dimension of the region that stay in the region of
        every network whose margin g_i differs by less than the threshold
        (``PersistenceDiagram.count_surviving``), or None without a diagram.
    """

    class_index: int
    class_name: str
    homology: RegionHomology
    diagram: PersistenceDiagram | None
    robust: tuple[int, ...] | None
    stable_from: int | None
    bound: BettiBound
    surviving: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        return {
            "class_index": self.class_index,
            "class_name": self.class_name,
            **self.homology.to_dict(),
            "robust_features": None if self.robust is None else list(self.robust),
            "surviving_features": (
                None if self.surviving is None else list(self.surviving)
            ),
            "stable_from": self.stable_from,
            "bound": self.bound.to_dict(),
            "diagram": None if self.diagram is None else self.diagram.to_dict(),
        }


@dataclass(frozen=True)
class SliceTopology:
    """Decision-region topology of a network on one slice.

    Attributes
    ----------
    raster
        Labels and margins at the finest resolution.
    classes
        One entry per output class.
    convergence
        Betti numbers at every resolution.
    construction
        Cubical construction (``top`` or ``vertex``).
    threshold
        Persistence threshold for ``ClassTopology.robust``.
    notes
        What was not computed and why (persistence skipped on a grid too
        large for a cubical complex, for example).
    """

    raster: Raster
    classes: tuple[ClassTopology, ...]
    convergence: Convergence
    construction: str
    threshold: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "slice": self.raster.plane.to_dict(),
            "resolution": self.raster.resolution,
            "construction": self.construction,
            "threshold": self.threshold,
            "classes": [c.to_dict() for c in self.classes],
            "convergence": self.convergence.to_dict(),
            "notes": list(self.notes),
        }


def stable_resolution(
    resolutions: Sequence[int], betti: Sequence[tuple[int, ...]]
) -> int | None:
    """Smallest resolution from which ``betti`` no longer changes, or None.

    At least the two finest resolutions must agree, so a single resolution
    gives None.
    """
    if len(resolutions) < 2 or betti[-1] != betti[-2]:
        return None
    start = len(betti) - 2
    while start > 0 and betti[start - 1] == betti[-1]:
        start -= 1
    return int(resolutions[start])


# Largest cubical complex (2^d n^d cells for an n^d grid) handed to a
# persistence backend by default. Measured on a 24 GiB machine: GUDHI peaked
# at about 2 GiB for 2048^2 and 128^3 grids, at 3.6 GiB for 160^3, and grew
# past 12 GiB at 256^3; CubicalRipser computed a 256^3 diagram in 2.6 GiB.
MAX_COMPLEX_CELLS_GUDHI = 2**25
MAX_COMPLEX_CELLS_CRIPSER = 2**28


def default_max_complex_cells() -> int:
    """Return the complex size above which Betti numbers come from labelling."""
    if cripser_available():
        return MAX_COMPLEX_CELLS_CRIPSER
    return MAX_COMPLEX_CELLS_GUDHI


def complex_cells(resolution: int, dimension: int) -> int:
    """Return (2 n)^d, about the number of cells of the complex of an n^d grid."""
    return (2 * resolution) ** dimension


def analyze_slice(
    network: nn.Module,
    plane: AffineSlice,
    resolutions: Sequence[int] = (64, 128, 256),
    *,
    construction: str = "top",
    threshold: float = 0.0,
    persistence: bool = True,
    class_names: Sequence[str] | None = None,
    max_complex_cells: int | None = None,
) -> SliceTopology:
    """Rasterise ``network`` on ``plane`` at each resolution and compute topology.

    Betti numbers are computed at every resolution, for the convergence
    report; the margin persistence diagrams only at the finest one.

    Parameters
    ----------
    resolutions
        Cells per axis, strictly increasing.
    construction
        ``top`` (regions 8-connected in 2-D, 26 in 3-D) or ``vertex``
        (4- and 6-connected); see ``expressivity.topology.cubical``.
    threshold
        Margin persistence above which a feature counts as robust.
    persistence
        Whether to compute the margin persistence diagrams.
    max_complex_cells
        Largest cubical complex (``complex_cells``) handed to the persistence
        backend; None takes ``default_max_complex_cells()``. Larger
        grids get their in-box Betti numbers from connected-component
        labelling and the Euler characteristic (``topology.euler``), without
        persistence diagrams and without the interior b1 of 3-D regions that
        touch the box, and ``SliceTopology.notes`` records this.

    Notes
    -----
    Rasterisation streams in chunks; a cubical complex of the whole grid is
    then built per class (by CubicalRipser when installed, else GUDHI; see
    ``cubical_persistence``), up to ``max_complex_cells``.
    """
    resolutions = _check_resolutions(resolutions)
    if threshold < 0:
        raise ConfigurationError(f"persistence threshold must be >= 0, got {threshold}")

    if max_complex_cells is None:
        max_complex_cells = default_max_complex_cells()
    if max_complex_cells < 1:
        raise ConfigurationError(
            f"max_complex_cells must be >= 1, got {max_complex_cells}"
        )

    def too_large(resolution: int) -> bool:
        return complex_cells(resolution, plane.dimension) > max_complex_cells

    per_resolution: list[tuple[tuple[int, ...], ...]] = []
    for resolution in resolutions[:-1]:
        raster = rasterize(network, plane, resolution)
        # The in-box Betti numbers are the features of the margin diagram
        # alive at level 0, and its continuous filtration is cheaper for
        # GUDHI than the padded binary complex.
        per_resolution.append(
            tuple(
                betti_by_labelling(raster.labels == i, construction)
                if too_large(resolution)
                else betti_from_diagram(margin_persistence(raster, i, construction))
                for i in range(raster.n_classes)
            )
        )
        logger.info("resolution %d: betti %s", resolution, per_resolution[-1])

    raster = rasterize(network, plane, resolutions[-1])
    names = _class_names(class_names, raster.n_classes)
    bound = region_bound(network, plane.dimension, raster.n_classes)
    labelling = too_large(resolutions[-1])
    notes = []
    if labelling:
        grid = "x".join([str(resolutions[-1])] * plane.dimension)
        notes.append(
            f"the {grid} grid needs a cubical complex of "
            f"{complex_cells(resolutions[-1], plane.dimension):,} cells, above "
            f"max_complex_cells={max_complex_cells:,}: Betti numbers come from "
            "connected-component labelling and the Euler characteristic"
            + (", and persistence diagrams were not computed" if persistence else "")
            + (
                "; b1 away from the box is not computed for regions that touch it"
                if plane.dimension == 3
                else ""
            )
        )
        logger.warning("%s", notes[-1])
    finest = []
    for i in range(raster.n_classes):
        mask = raster.labels == i
        if labelling:
            homology = region_homology(mask, i, construction, labelling=True)
            diagram = None
        else:
            diagram = (
                margin_persistence(raster, i, construction) if persistence else None
            )
            homology = region_homology(mask, i, construction, diagram=diagram)
        finest.append((homology, diagram))
    per_resolution.append(tuple(h.betti_in_box for h, _ in finest))
    logger.info("resolution %d: betti %s", resolutions[-1], per_resolution[-1])

    stable = tuple(
        stable_resolution(resolutions, [row[i] for row in per_resolution])
        for i in range(raster.n_classes)
    )
    classes = tuple(
        ClassTopology(
            class_index=i,
            class_name=names[i],
            homology=homology,
            diagram=diagram,
            robust=None if diagram is None else diagram.count_persistent(threshold),
            surviving=None if diagram is None else diagram.count_surviving(threshold),
            stable_from=stable[i],
            bound=bound,
        )
        for i, (homology, diagram) in enumerate(finest)
    )
    convergence = Convergence(tuple(resolutions), tuple(per_resolution), stable)
    return SliceTopology(
        raster, classes, convergence, construction, threshold, tuple(notes)
    )


def _check_resolutions(resolutions: Sequence[int]) -> list[int]:
    resolutions = list(resolutions)
    if not resolutions:
        raise ConfigurationError("give at least one resolution, for example 256")
    if any(b <= a for a, b in zip(resolutions, resolutions[1:], strict=False)):
        raise ConfigurationError(
            f"resolutions {resolutions} must be strictly increasing, for "
            "example 64,128,256"
        )
    return resolutions


def _class_names(names: Sequence[str] | None, n_classes: int) -> list[str]:
    if names is None or len(names) != n_classes:
        return [str(i) for i in range(n_classes)]
    return list(names)
