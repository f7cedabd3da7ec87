"""Affine slices of input space on which decision regions are rasterised.

A slice of dimension k (2 or 3) is the map

    x(s) = p0 + s_1 v_1 + ... + s_k v_k,    s in [lo_1, hi_1] x ... x [lo_k, hi_k]

from slice coordinates s to input space. A plane through three data points
shows the decision regions between those examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from expressivity.errors import ConfigurationError

SLICE_DIMENSIONS = (2, 3)


@dataclass(frozen=True)
class AffineSlice:
    """A 2-D or 3-D affine slice x = p0 + S V of input space with a bounding box.

    Attributes
    ----------
    origin
        The point p0, of shape (n_features,).
    directions
        The rows v_1, ..., v_k, of shape (k, n_features), linearly independent.
    bounds
        Box of slice coordinates, of shape (k, 2): row j is (lo_j, hi_j).
    description
        How the slice was chosen, for reports.
    """

    origin: np.ndarray
    directions: np.ndarray
    bounds: np.ndarray
    description: str = ""

    def __post_init__(self) -> None:
        origin = np.asarray(self.origin, dtype=np.float64)
        directions = np.atleast_2d(np.asarray(self.directions, dtype=np.float64))
        bounds = np.asarray(self.bounds, dtype=np.float64)
        k = directions.shape[0]
        if k not in SLICE_DIMENSIONS:
            raise ConfigurationError(
                f"a slice needs 2 or 3 directions, got {k}; pass 2 directions "
                "for a plane or 3 for a 3-D slice"
            )
        if origin.ndim != 1 or directions.shape[1] != origin.shape[0]:
            raise ConfigurationError(
                f"origin of shape {origin.shape} and directions of shape "
                f"{directions.shape} do not match; directions must have shape "
                "(k, n_features) with n_features = len(origin)"
            )
        if np.linalg.matrix_rank(directions) < k:
            raise ConfigurationError(
                "slice directions are linearly dependent; choose points or "
                "directions that span a 2-D or 3-D affine subspace"
            )
        if bounds.shape != (k, 2) or not np.all(bounds[:, 1] > bounds[:, 0]):
            raise ConfigurationError(
                f"bounds {bounds.tolist()} are invalid; give one (lo, hi) pair "
                f"with lo < hi for each of the {k} slice coordinates"
            )
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "directions", directions)
        object.__setattr__(self, "bounds", bounds)

    @property
    def dimension(self) -> int:
        """Number k of slice coordinates."""
        return int(self.directions.shape[0])

    @property
    def n_features(self) -> int:
        """Dimension of the input space."""
        return int(self.origin.shape[0])

    def with_bounds(self, bounds: np.ndarray) -> AffineSlice:
        """Return the same slice with another bounding box."""
        return AffineSlice(self.origin, self.directions, bounds, self.description)

    def axis_points(self, resolution: int) -> list[np.ndarray]:
        """Cell centres along each slice coordinate, ``resolution`` per axis."""
        axes = []
        for lo, hi in self.bounds:
            step = (hi - lo) / resolution
            axes.append(lo + step * (np.arange(resolution) + 0.5))
        return axes

    def to_input(self, coordinates: torch.Tensor) -> torch.Tensor:
        """Map slice coordinates of shape (..., k) to inputs of shape (..., n)."""
        origin = torch.as_tensor(self.origin, dtype=coordinates.dtype)
        directions = torch.as_tensor(self.directions, dtype=coordinates.dtype)
        return origin + coordinates @ directions

    def project(self, points: np.ndarray) -> np.ndarray:
        """Least-squares slice coordinates of points of shape (N, n_features)."""
        points = np.asarray(points, dtype=np.float64)
        solution, *_ = np.linalg.lstsq(
            self.directions.T, (points - self.origin).T, rcond=None
        )
        return solution.T

    def to_dict(self) -> dict:
        return {
            "dimension": self.dimension,
            "n_features": self.n_features,
            "bounds": self.bounds.tolist(),
            "description": self.description,
        }


def box_around(coordinates: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """Bounding box of slice coordinates, widened by ``margin`` times its extent.

    A side of zero extent is widened to 1 so that the box is never degenerate.
    """
    if margin < 0 or not np.isfinite(margin):
        raise ConfigurationError(f"margin must be a finite number >= 0, got {margin}")
    coordinates = np.atleast_2d(np.asarray(coordinates, dtype=np.float64))
    lo = coordinates.min(axis=0)
    hi = coordinates.max(axis=0)
    extent = np.where(hi - lo > 0, hi - lo, 1.0)
    return np.stack([lo - margin * extent, hi + margin * extent], axis=1)


def slice_through_points(
    points: np.ndarray,
    *,
    bounds: np.ndarray | None = None,
    margin: float = 0.25,
) -> AffineSlice:
    """Slice through three (2-D) or four (3-D) points p0, p1, p2 (, p3).

    The directions are v_j = p_j - p0, so the points sit at slice coordinates
    (0, 0), (1, 0), (0, 1) (and (0, 0, 1) in 3-D). The default box covers them
    with ``margin`` times the extent on every side.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] not in (3, 4):
        raise ConfigurationError(
            f"slice points of shape {points.shape} are invalid; give 3 points "
            "for a plane or 4 points for a 3-D slice, one per row"
        )
    origin = points[0]
    directions = points[1:] - origin
    k = directions.shape[0]
    if bounds is None:
        corners = np.vstack([np.zeros(k), np.eye(k)])
        bounds = box_around(corners, margin)
    return AffineSlice(origin, directions, bounds, f"through {k + 1} points")


def slice_along_directions(
    point: np.ndarray,
    directions: np.ndarray,
    *,
    data: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
    margin: float = 0.25,
    description: str = "along given directions",
) -> AffineSlice:
    """Slice through ``point`` along the rows of ``directions``.

    The default box covers the projections of ``data`` onto the slice (with
    ``margin``), or [-1, 1] per coordinate when no data is given.
    """
    directions = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    k = directions.shape[0]
    placeholder = np.tile([-1.0, 1.0], (k, 1))
    plane = AffineSlice(point, directions, placeholder, description)
    if bounds is None and data is not None:
        bounds = box_around(plane.project(data), margin)
    return plane if bounds is None else plane.with_bounds(bounds)


def random_slice(
    point: np.ndarray,
    dimension: int = 2,
    *,
    seed: int = 0,
    data: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
    margin: float = 0.25,
) -> AffineSlice:
    """Slice through ``point`` along orthonormal random Gaussian directions."""
    point = np.asarray(point, dtype=np.float64)
    _check_dimension(dimension, point.shape[0])
    generator = np.random.default_rng(seed)
    gaussian = generator.standard_normal((point.shape[0], dimension))
    orthonormal, _ = np.linalg.qr(gaussian)
    return slice_along_directions(
        point,
        orthonormal.T,
        data=data,
        bounds=bounds,
        margin=margin,
        description=f"random directions (seed {seed})",
    )


def principal_slice(
    data: np.ndarray,
    dimension: int = 2,
    *,
    point: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
    margin: float = 0.25,
) -> AffineSlice:
    """Slice through ``point`` (default: the data mean) along principal axes.

    The directions are the ``dimension`` leading right singular vectors of
    the centred data.
    """
    data = np.asarray(data, dtype=np.float64)
    _check_dimension(dimension, data.shape[1])
    mean = data.mean(axis=0)
    _, _, right = np.linalg.svd(data - mean, full_matrices=False)
    return slice_along_directions(
        mean if point is None else point,
        right[:dimension],
        data=data,
        bounds=bounds,
        margin=margin,
        description=f"{dimension} principal directions",
    )


def input_space_slice(
    n_features: int,
    *,
    data: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
    margin: float = 0.25,
) -> AffineSlice:
    """Build the slice that covers the whole input space, for 2-D or 3-D inputs."""
    if n_features not in SLICE_DIMENSIONS:
        raise ConfigurationError(
            f"the input has dimension {n_features}, so it is not a slice of "
            "itself; choose slice points or directions for inputs above 3-D"
        )
    return slice_along_directions(
        np.zeros(n_features),
        np.eye(n_features),
        data=data,
        bounds=bounds,
        margin=margin,
        description="whole input space",
    )


def _check_dimension(dimension: int, n_features: int) -> None:
    if dimension not in SLICE_DIMENSIONS:
        raise ConfigurationError(f"slice dimension {dimension} is invalid; use 2 or 3")
    if dimension > n_features:
        raise ConfigurationError(
            f"slice dimension {dimension} exceeds the input dimension "
            f"{n_features}; use a slice dimension of at most {n_features}"
        )
