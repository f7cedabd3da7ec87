"""Trajectories in input space and constructors from data or random directions."""

from expressivity.paths.constructors import (
    PATH_KINDS,
    circle_through,
    ellipse_through,
    polyline_through,
    random_circle,
    random_line,
)
from expressivity.paths.curves import (
    CallablePath,
    EllipseArc,
    LineSegment,
    Path,
    Polyline,
)

__all__ = [
    "PATH_KINDS",
    "CallablePath",
    "EllipseArc",
    "LineSegment",
    "Path",
    "Polyline",
    "circle_through",
    "ellipse_through",
    "polyline_through",
    "random_circle",
    "random_line",
]
