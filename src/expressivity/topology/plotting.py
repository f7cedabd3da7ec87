"""Plots of labelled slices and margin persistence diagrams.

matplotlib is imported lazily, and no function changes global rcParams.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from expressivity.topology.cubical import PersistenceDiagram
from expressivity.topology.raster import Raster

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_MARKERS = ("o", "^", "s")


def plot_slice(
    raster: Raster,
    ax: Axes | None = None,
    *,
    class_names: Sequence[str] | None = None,
    points: np.ndarray | None = None,
) -> Axes:
    """Draw the class of every grid cell; a 3-D raster shows its middle section.

    ``points`` of shape (N, 2) (slice coordinates) are drawn on top.
    """
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    ax = _new_axes() if ax is None else ax
    labels = raster.labels
    if labels.ndim == 3:
        labels = labels[:, :, labels.shape[2] // 2]
    n_classes = raster.n_classes
    palette = colormaps["tab10" if n_classes <= 10 else "tab20"]
    colors = ListedColormap([palette(i % palette.N) for i in range(n_classes)])
    norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    (s_lo, s_hi), (t_lo, t_hi) = raster.plane.bounds[:2]
    # Axis 0 of the grid runs along s, which imshow draws vertically unless
    # the grid is transposed.
    ax.imshow(
        labels.T,
        origin="lower",
        extent=(s_lo, s_hi, t_lo, t_hi),
        cmap=colors,
        norm=norm,
        interpolation="nearest",
        aspect="auto",
    )
    if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=4, c="k", marker=".")
    names = class_names or [str(i) for i in range(n_classes)]
    handles = [Patch(color=colors(i), label=names[i]) for i in range(n_classes)]
    ax.legend(handles=handles, loc="upper right", fontsize="small")
    ax.set_xlabel("s")
    ax.set_ylabel("t")
    ax.set_title(f"decision regions, {raster.resolution} cells per axis")
    return ax


def plot_diagram(diagram: PersistenceDiagram, ax: Axes | None = None) -> Axes:
    """Draw a margin persistence diagram: birth against death, one marker per H_k.

    Features that never die are drawn at the lowest finite death value.
    """
    ax = _new_axes() if ax is None else ax
    finite = [p[np.isfinite(p[:, 1]), 1] for p in diagram.intervals if len(p)]
    finite_deaths = np.concatenate(finite) if finite else np.array([])
    floor = finite_deaths.min() if finite_deaths.size else 0.0
    for dimension, pairs in enumerate(diagram.intervals):
        if len(pairs) == 0:
            continue
        deaths = np.where(np.isfinite(pairs[:, 1]), pairs[:, 1], floor)
        ax.scatter(
            pairs[:, 0],
            deaths,
            s=10,
            marker=_MARKERS[dimension],
            label=f"H{dimension}",
        )
    ax.axline((0.0, 0.0), slope=1.0, color="0.6", linewidth=0.8)
    # Equal ranges on both axes keep the diagonal at 45 degrees, so the
    # vertical distance to it reads as persistence.
    finite_values = [p[np.isfinite(p)] for p in diagram.intervals if len(p)]
    if finite_values and np.concatenate(finite_values).size:
        values = np.concatenate(finite_values)
        pad = 0.05 * max(float(np.ptp(values)), 1e-12)
        limits = (float(values.min()) - pad, float(values.max()) + pad)
        ax.set_xlim(limits)
        ax.set_ylim(limits)
    ax.set_xlabel("birth (margin)")
    ax.set_ylabel("death (margin)")
    ax.set_title(f"class {diagram.class_index}: superlevel sets of g")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def save_topology_figure(
    raster: Raster,
    diagrams: Sequence[PersistenceDiagram],
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    points: np.ndarray | None = None,
) -> Path:
    """Write a PNG with the labelled slice and one diagram per class."""
    from matplotlib.figure import Figure

    n_panels = 1 + len(diagrams)
    columns = min(n_panels, 4)
    rows = -(-n_panels // columns)
    figure = Figure(figsize=(4 * columns, 4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    plot_slice(raster, axes[0], class_names=class_names, points=points)
    for ax, diagram in zip(axes[1:], diagrams, strict=False):
        plot_diagram(diagram, ax)
    for ax in axes[n_panels:]:
        ax.set_axis_off()
    path = Path(path)
    figure.savefig(path, dpi=100)
    return path


def _new_axes() -> Axes:
    from matplotlib.figure import Figure

    return Figure().add_subplot()
