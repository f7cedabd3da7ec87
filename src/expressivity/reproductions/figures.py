"""Figures of the reproductions, written as PNG files with matplotlib.

Every function creates its own figure objects (no pyplot state, no change to
the global rcParams) and returns the paths it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from expressivity.reproductions.raghu2017 import GroupGrowth, Sizes


def new_figure(n_rows: int, n_columns: int, width: float = 4.0, height: float = 3.2):
    """Return a matplotlib Figure (Agg canvas) and its array of Axes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * n_columns, height * n_rows), layout="constrained")
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    return figure, axes


def save(figure: Figure, folder: Path, name: str) -> Path:
    """Write ``figure`` as ``folder/name.png`` and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    figure.savefig(path, dpi=110)
    return path


def plot_series(ax, depths: Iterable[int], values: np.ndarray, **style) -> None:
    """Plot values against depth, skipping non-positive values on a log axis."""
    depths = np.asarray(list(depths))
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values) & (values > 0)
    ax.plot(depths[keep], values[keep], marker="o", markersize=3, **style)


def raghu_figures(
    groups: list[GroupGrowth], sizes: Sizes, folder: Path, size_name: str
) -> list[Path]:
    """Write the length-per-layer figure and the growth-against-rho figure."""
    from matplotlib import colormaps

    from expressivity.reproductions.raghu2017 import RATIO_CONSTANT

    curves = sorted({g.curve for g in groups})
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(sizes.sigma_w2)))
    paths = []
    for activation in sizes.activations:
        figure, axes = new_figure(len(curves), len(sizes.widths))
        for row, curve in enumerate(curves):
            for column, width in enumerate(sizes.widths):
                ax = axes[row, column]
                for group in groups:
                    if (group.activation, group.curve, group.width) != (
                        activation,
                        curve,
                        width,
                    ):
                        continue
                    colour = colours[list(sizes.sigma_w2).index(group.sigma_w2)]
                    plot_series(
                        ax,
                        range(sizes.hidden_depth + 1),
                        group.mean_lengths[: sizes.hidden_depth + 1],
                        color=colour,
                        linestyle="-" if group.sigma_b == 0 else "--",
                        label=f"sigma_w^2={group.sigma_w2:g}, "
                        f"sigma_b={group.sigma_b:g}",
                    )
                ax.set_yscale("log")
                ax.set_title(f"{activation}, {curve}, k={width}", fontsize=9)
                ax.set_xlabel("layer d")
                ax.set_ylabel("mean length L(z(d))")
        axes[0, -1].legend(fontsize=6)
        paths.append(
            save(figure, folder, f"raghu2017-{size_name}-lengths-{activation}")
        )

    figure, axes = new_figure(1, 1, width=4.5, height=4.0)
    ax = axes[0, 0]
    hard = [g for g in groups if g.activation == "hardtanh"]
    rhos = np.array([g.rho for g in hard])
    measured = np.array([g.growth for g in hard])
    for marker, curve in zip("os", curves, strict=False):
        chosen = [i for i, g in enumerate(hard) if g.curve == curve]
        ax.scatter(rhos[chosen], measured[chosen], marker=marker, s=18, label=curve)
    if rhos.size:
        line = np.linspace(0, rhos.max() * 1.1, 2)
        ax.plot(line, line, color="black", linewidth=0.8, label="growth = rho")
        ax.plot(
            line,
            RATIO_CONSTANT * line,
            color="grey",
            linestyle=":",
            label=f"growth = {RATIO_CONSTANT} rho",
        )
    ax.set_xlabel("Theorem 1 rho")
    ax.set_ylabel("measured per-layer growth")
    ax.set_title("hard-tanh: growth against rho", fontsize=9)
    ax.legend(fontsize=7)
    paths.append(save(figure, folder, f"raghu2017-{size_name}-growth-vs-rho"))
    return paths


def hanin_figure(series: list, folder: Path, size_name: str) -> Path:
    """Write mean distortion against depth with the seed spread, per width."""
    from matplotlib import colormaps

    figure, axes = new_figure(1, 2, width=4.5, height=3.6)
    for column, init in enumerate(("he", "normal")):
        ax = axes[0, column]
        chosen = [item for item in series if item.init == init]
        colours = colormaps["plasma"](np.linspace(0, 0.85, max(len(chosen), 1)))
        for colour, item in zip(colours, chosen, strict=False):
            ax.fill_between(
                item.layers,
                item.distortion.min(axis=0),
                item.distortion.max(axis=0),
                color=colour,
                alpha=0.2,
                linewidth=0,
            )
            plot_series(
                ax, item.layers, item.mean, color=colour, label=f"n={item.width}"
            )
        ax.set_yscale("log")
        ax.set_xlabel("hidden layer l")
        ax.set_ylabel("L(z(l)) / L(x), mean and seed range")
        ax.set_title(
            "He (sigma_w^2 = 2)" if init == "he" else "sigma_w^2 = 4", fontsize=9
        )
        ax.legend(fontsize=7)
    return save(figure, folder, f"hanin2022-{size_name}-distortion")


def quadratic_figure(profiles: list, folder: Path, size_name: str) -> Path:
    """Write mean length against depth per activation, one line per sigma_w."""
    from matplotlib import colormaps

    activations = sorted({p.activation for p in profiles})
    sigmas = sorted({p.sigma_w for p in profiles})
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(sigmas)))
    figure, axes = new_figure(1, len(activations), width=4.0, height=3.4)
    for column, activation in enumerate(activations):
        ax = axes[0, column]
        for colour, sigma_w in zip(colours, sigmas, strict=True):
            members = [
                p
                for p in profiles
                if (p.activation, p.sigma_w) == (activation, sigma_w)
            ]
            if not members:
                continue
            depth = min(len(p.lengths) for p in members)
            mean = np.vstack([p.lengths[:depth] for p in members]).mean(axis=0)
            plot_series(
                ax, range(depth), mean, color=colour, label=f"sigma_w={sigma_w:g}"
            )
        ax.set_yscale("log")
        ax.set_xlabel("hidden layer l")
        ax.set_ylabel("mean length L(z(l))")
        ax.set_title(f"activation {activation}", fontsize=9)
        ax.legend(fontsize=7)
    return save(figure, folder, f"quadratic-{size_name}-lengths")


def naitzat_figure(runs: list, folder: Path, size_name: str) -> Path:
    """Write the mean Betti numbers against layer, ReLU solid and tanh dashed.

    One row of panels per data set, one panel per class; only networks that
    reached training accuracy 1 are averaged.
    """
    labels = list(dict.fromkeys(run.setup.label for run in runs))
    n_classes = max(len(run.betti) for run in runs)
    figure, axes = new_figure(len(labels), n_classes, width=4.2, height=3.0)
    styles = {"relu": "-", "tanh": "--"}
    colours = ("tab:blue", "tab:orange", "tab:green")
    for row, label in enumerate(labels):
        names = next(run.class_names for run in runs if run.setup.label == label)
        for class_index in range(n_classes):
            ax = axes[row, class_index]
            for activation, linestyle in styles.items():
                chosen = [
                    run
                    for run in runs
                    if run.setup.label == label
                    and run.activation == activation
                    and run.perfect
                ]
                if not chosen:
                    continue
                # Array of shape (n_runs, n_layers, max_dimension + 1).
                betti = np.array([run.betti[class_index] for run in chosen])
                mean = betti.mean(axis=0)
                for dimension in range(mean.shape[1]):
                    ax.plot(
                        np.arange(mean.shape[0]),
                        mean[:, dimension],
                        linestyle=linestyle,
                        marker="o",
                        markersize=3,
                        color=colours[dimension],
                        label=f"{activation} b{dimension}",
                    )
            ax.set_title(f"{label}, class {names[class_index]}", fontsize=9)
            ax.set_xlabel("layer (0 = input, last = output logits)")
            ax.set_ylabel("mean Betti number over seeds")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6)
    return save(figure, folder, f"naitzat2020-{size_name}-betti")
