"""Figures of a results database, drawn with matplotlib's object API.

Every function takes the records it plots and returns a ``Figure``. Nothing
touches pyplot's global state or rcParams, so figures can be drawn in any
process without a display.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

# Bounds drawn as bands around the measured growth, upper then lower.
BAND_BOUNDS = ("U2", "U3", "U4", "Lc", "L1", "L2", "L3")
BAND_COLORS = {
    "U2": "tab:red",
    "U3": "tab:orange",
    "U4": "tab:brown",
    "Lc": "tab:green",
    "L1": "tab:cyan",
    "L2": "tab:olive",
    "L3": "tab:purple",
}


def network_depth(config: dict[str, Any]) -> int:
    """Number of affine layers h of the network a config describes."""
    network = config["network"]
    if network.get("widths"):
        return len(network["widths"])
    return int(network["depth"])


def network_label(config: dict[str, Any]) -> str:
    """Short description of the architecture, without the depth."""
    network = config["network"]
    if network.get("widths"):
        return f"widths {network['widths']}"
    return f"width {network['width']}"


def group_label(config: dict[str, Any]) -> str:
    """Panel title: activation and sigma_w (the grouping of the length figures)."""
    network = config["network"]
    return f"{network['activation']}, sigma_w = {network['sigma_w']:g}"


def growth_through_layers(series: dict[str, list[dict]]) -> Figure:
    """Plot log10 growth L(z(k))/L(x) against layer k, one panel per group.

    Parameters
    ----------
    series
        Per panel title, a list of curves; each curve is a mapping with
        ``label``, ``layers`` (k values), ``growth`` (array of shape
        (n_runs, n_layers): log10 growth of each seed and path) and
        ``bounds`` (name -> array of the same shape, NaN where missing).
        The median over runs is drawn as a line and the min-max spread as a
        band. Bounds are drawn as lighter bands for the deepest curve.
    """
    figure, axes = _panels(len(series))
    for ax, (title, curves) in zip(axes, series.items(), strict=False):
        deepest = max(curves, key=lambda c: len(c["layers"]))
        for name in BAND_BOUNDS:
            values = deepest["bounds"].get(name)
            if values is None or np.all(np.isnan(values)):
                continue
            _band(ax, deepest["layers"], values, BAND_COLORS[name], f"{name} bound")
        for curve in curves:
            _band(ax, curve["layers"], curve["growth"], None, curve["label"], line=True)
        ax.set_title(title)
        ax.set_xlabel("layer k")
        ax.set_ylabel("log10 L(z(k)) / L(x)")
        ax.legend(fontsize="x-small")
    return figure


def growth_against_depth(series: dict[str, list[dict]]) -> Figure:
    """Plot log10 output growth against network depth, one panel per group.

    Each curve has ``label``, ``depths`` and ``growth`` (a list with, per
    depth, the log10 output growth of every seed and path).
    """
    figure, axes = _panels(len(series))
    for ax, (title, curves) in zip(axes, series.items(), strict=False):
        for curve in curves:
            depths = np.asarray(curve["depths"])
            median = np.array([np.nanmedian(v) for v in curve["growth"]])
            low = np.array([np.nanmin(v) for v in curve["growth"]])
            high = np.array([np.nanmax(v) for v in curve["growth"]])
            (line,) = ax.plot(depths, median, marker="o", label=curve["label"])
            ax.fill_between(depths, low, high, color=line.get_color(), alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel("depth h (affine layers)")
        ax.set_ylabel("log10 L(f(x)) / L(x)")
        ax.legend(fontsize="x-small")
    return figure


def singular_values_along_path(profiles: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """Plot s(t) and r(t) of every layer along a path, one panel per profile.

    Each profile is (title, array) with the stored layout: row 0 is t, then
    s(t) of layers 1..h, then r(t) of layers 1..h.
    """
    figure, axes = _panels(len(profiles))
    for ax, (title, array) in zip(axes, profiles, strict=False):
        t = array[0]
        n_layers = (array.shape[0] - 1) // 2
        for layer in range(n_layers):
            s = array[1 + layer]
            r = array[1 + n_layers + layer]
            (line,) = ax.plot(t, s, label=f"s(t), layer {layer + 1}")
            positive = r > 0
            if positive.any():
                ax.plot(
                    t[positive],
                    r[positive],
                    linestyle="--",
                    color=line.get_color(),
                    label=f"r(t), layer {layer + 1}",
                )
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("t")
        ax.set_ylabel("singular value of the Jacobian")
        ax.legend(fontsize="xx-small", ncol=2)
    return figure


def decision_regions(slices: Sequence[tuple[str, np.ndarray, list[float]]]) -> Figure:
    """Show rasterised decision regions, each titled with its Betti numbers.

    Each slice is (title, labels of shape (n, n), [lo0, hi0, lo1, hi1]).
    """
    figure, axes = _panels(len(slices))
    for ax, (title, labels, extent) in zip(axes, slices, strict=False):
        image = ax.imshow(
            labels.T,
            origin="lower",
            extent=extent,
            cmap="tab10",
            vmin=-0.5,
            vmax=9.5,
            interpolation="nearest",
        )
        ax.set_title(title, fontsize="small")
        ax.set_xlabel("slice coordinate 1")
        ax.set_ylabel("slice coordinate 2")
        figure.colorbar(image, ax=ax, ticks=range(10), label="class")
    return figure


def persistence_diagrams(diagrams: Sequence[tuple[str, list[tuple]]]) -> Figure:
    """Plot superlevel-set persistence diagrams of the margins.

    Each diagram is (title, [(class, dimension, pairs of shape (n, 2))]).
    Birth >= death; features that never die are drawn at the bottom edge.
    """
    figure, axes = _panels(len(diagrams))
    for ax, (title, entries) in zip(axes, diagrams, strict=False):
        finite = [
            value
            for _, _, pairs in entries
            for value in pairs[np.isfinite(pairs)].ravel()
        ]
        low = min(finite, default=0.0)
        high = max(finite, default=1.0)
        floor = low - 0.1 * (high - low + 1e-12)
        for class_index, dimension, pairs in entries:
            if len(pairs) == 0:
                continue
            deaths = np.where(np.isfinite(pairs[:, 1]), pairs[:, 1], floor)
            ax.scatter(
                pairs[:, 0],
                deaths,
                s=12,
                marker="o" if dimension == 0 else "^",
                label=f"class {class_index}, H{dimension}",
            )
        ax.plot([floor, high], [floor, high], color="grey", linewidth=0.8)
        ax.set_title(title, fontsize="small")
        ax.set_xlabel("birth (margin level)")
        ax.set_ylabel("death (bottom: never dies)")
        ax.legend(fontsize="xx-small", ncol=2)
    return figure


def training_curves(histories: dict[str, dict[str, list[tuple]]]) -> Figure:
    """Plot test accuracy and output growth against the epoch.

    ``histories`` maps a run label to series ``test_accuracy`` and
    ``growth`` (log10 output growth), each a list of (epoch, value).
    """
    figure = Figure(figsize=(10, 4), layout="constrained")
    accuracy_ax, growth_ax = figure.subplots(1, 2)
    for label, series in histories.items():
        for ax, key in ((accuracy_ax, "test_accuracy"), (growth_ax, "growth")):
            points = sorted(series.get(key, []))
            if points:
                ax.plot(*zip(*points, strict=True), marker=".", label=label)
    accuracy_ax.set_xlabel("epoch")
    accuracy_ax.set_ylabel("test accuracy")
    growth_ax.set_xlabel("epoch")
    growth_ax.set_ylabel("log10 output growth (path 0)")
    for ax in (accuracy_ax, growth_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    return figure


def _panels(count: int):
    columns = min(count, 2)
    rows = max(1, math.ceil(count / 2))
    figure = Figure(figsize=(6 * columns, 4.2 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    for extra in axes[count:]:
        extra.set_visible(False)
    return figure, list(axes[:count])


def _band(ax, layers, values, color, label, line: bool = False) -> None:
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.all(np.isnan(values), axis=0)
    x = np.asarray(layers)[valid]
    values = values[:, valid]
    median = np.nanmedian(values, axis=0)
    low = np.nanmin(values, axis=0)
    high = np.nanmax(values, axis=0)
    if line:
        (drawn,) = ax.plot(x, median, marker="o", color=color, label=label)
        ax.fill_between(x, low, high, color=drawn.get_color(), alpha=0.25)
    else:
        ax.fill_between(x, low, high, color=color, alpha=0.15, label=label)
        ax.plot(x, median, color=color, linestyle=":", linewidth=1)


def group_curves(records: Sequence[Any]) -> dict[str, dict[str, list]]:
    """Group experiment records by panel (group label) and curve (network label)."""
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        groups[group_label(record.config)][network_label(record.config)].append(record)
    return groups
