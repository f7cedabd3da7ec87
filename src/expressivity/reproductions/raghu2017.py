"""Trajectory length of random hard-tanh networks (Raghu et al., ICML 2017).

Raghu, Poole, Kleinberg, Ganguli and Sohl-Dickstein, "On the Expressive Power
of Deep Neural Networks", ICML 2017, Theorem 1: for a hard-tanh network of
width k with weights N(0, sigma_w^2 / k) and biases N(0, sigma_b^2),

    E[L(z(d))] >= O(rho^d) L(x),
    rho = sigma_w sqrt(k) / sqrt(sigma_w^2 + sigma_b^2 + k sqrt(sigma_w^2 + sigma_b^2)),

tight for large sigma_w and k. The paper's figures show the length shrinking
with depth at small sigma_w and growing exponentially at large sigma_w.

The tool measures L(z(d)) by adaptive quadrature of the exact speed along a
circle through two random vectors and a circle through two images, averages
over seeds, and takes the per-layer growth as the geometric mean of the layer
ratios after ``BURN_IN`` layers (the first layers move the input to the
fixed-point scale of the pre-activations, as in the paper's figures).
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from expressivity.experiments import SweepConfig
from expressivity.reproductions.runner import (
    RunOptions,
    StoredCurve,
    image_dataset,
    run_and_collect,
    start_report,
)
from expressivity.reproductions.verdict import (
    ReproductionReport,
    VerdictRow,
    format_number,
    geometric_growth,
)

NAME = "raghu2017"
TITLE = "Trajectory length of random hard-tanh and ReLU networks"
REFERENCE = (
    "Raghu, Poole, Kleinberg, Ganguli, Sohl-Dickstein, On the Expressive Power "
    "of Deep Neural Networks, ICML 2017, Theorem 1 and Figure 1"
)

# Measured per-layer growth must be at least RATIO_CONSTANT * rho. For
# hard-tanh at large sigma_w the mean-field growth is sqrt(sigma_w^2 P(|u| < 1))
# with u ~ N(0, sigma_w^2), that is (2 / pi)^(1/4) sqrt(sigma_w) = 0.89 rho for
# k -> infinity, so the theorem's O() hides a per-layer constant near 0.89.
RATIO_CONSTANT = 0.8
# A per-layer growth within 1 +- REGIME_BAND counts as neither shrinking nor
# growing (the critical line, for example hard-tanh at sigma_w = 1, sigma_b = 0).
REGIME_BAND = 0.05
BURN_IN = 2


@dataclass(frozen=True)
class Sizes:
    """Grid of one run: widths k, sigma_w^2, sigma_b, hidden depth, seeds."""

    widths: tuple[int, ...]
    sigma_w2: tuple[float, ...]
    sigma_b: tuple[float, ...]
    hidden_depth: int
    seeds: tuple[int, ...]
    activations: tuple[str, ...] = ("hardtanh", "relu")
    rtol: float = 1e-2


SMALL = Sizes(
    widths=(32, 128),
    sigma_w2=(1.0, 4.0, 16.0, 64.0),
    sigma_b=(0.0, 1.0),
    hidden_depth=5,
    seeds=(0, 1),
)
FULL = Sizes(
    widths=(32, 128, 512),
    sigma_w2=(1.0, 4.0, 16.0, 64.0),
    sigma_b=(0.0, 1.0),
    hidden_depth=12,
    seeds=(0, 1, 2, 3, 4),
)
CURVES = {True: "random circle", False: "image circle"}


def theorem1_rho(sigma_w: float, sigma_b: float, width: int) -> float:
    """Return Raghu et al.'s rho = sigma_w sqrt(k) / sqrt(s + k sqrt(s)).

    Here s = sigma_w^2 + sigma_b^2 and k is the width (Theorem 1, ICML 2017).
    With sigma_b = 0 this is sqrt(sigma_w k) / sqrt(sigma_w + k).
    """
    if sigma_w <= 0 or width < 1:
        raise ValueError(
            f"rho needs sigma_w > 0 and width >= 1, got {sigma_w}, {width}"
        )
    variance = sigma_w**2 + sigma_b**2
    return (
        sigma_w * math.sqrt(width) / math.sqrt(variance + width * math.sqrt(variance))
    )


def classify_regime(growth: float, band: float = REGIME_BAND) -> str:
    """Return ``shrinking``, ``neutral`` or ``growing`` for a per-layer growth."""
    if not np.isfinite(growth):
        return "undetermined"
    if growth < 1 - band:
        return "shrinking"
    if growth > 1 + band:
        return "growing"
    return "neutral"


def regime_switch(
    sigma_w2: list[float], growth: list[float], band: float = REGIME_BAND
) -> tuple[bool, str]:
    """Check that growth switches from not growing to growing as sigma_w rises.

    Passes when, ordered by sigma_w^2, the smallest sigma_w^2 is shrinking or
    neutral, the largest is growing, and the largest grows faster than the
    smallest. Returns (passed, the regimes in order as text).
    """
    if len(sigma_w2) != len(growth) or len(sigma_w2) < 2:
        raise ValueError(
            "regime_switch needs two equally long lists of at least two values, "
            f"got {len(sigma_w2)} and {len(growth)}"
        )
    order = np.argsort(sigma_w2)
    ordered = [float(growth[i]) for i in order]
    regimes = [classify_regime(g, band) for g in ordered]
    passed = (
        regimes[0] in ("shrinking", "neutral")
        and regimes[-1] == "growing"
        and ordered[-1] > ordered[0]
    )
    text = ", ".join(
        f"{sigma_w2[i]:g}: {format_number(g)} {r}"
        for i, g, r in zip(order, ordered, regimes, strict=True)
    )
    return passed, text


def ratio_check(measured: float, rho: float, constant: float = RATIO_CONSTANT) -> bool:
    """True when the measured per-layer growth is at least ``constant * rho``."""
    return bool(np.isfinite(measured) and measured >= constant * rho)


def sweeps(sizes: Sizes, dataset: str, size_name: str) -> list[SweepConfig]:
    """Return one sweep per curve kind and width (every layer is k x k)."""
    result = []
    for random in (True, False):
        for width in sizes.widths:
            curve = "random" if random else "images"
            base = {
                "name": f"{NAME}-{size_name}-{curve}-k{width}",
                "dataset": dataset,
                "dataset_options": {
                    "max_examples": 1000 if dataset == "mnist" else None
                },
                "network": {
                    "depth": sizes.hidden_depth + 1,
                    "width": width,
                    "outputs": width,
                },
                "paths": {"kind": "circle", "count": 1, "random": random},
                "measurements": {"length": True, "bounds": False, "rtol": sizes.rtol},
            }
            grid = {
                "activation": list(sizes.activations),
                "sigma_w": [math.sqrt(v) for v in sizes.sigma_w2],
                "sigma_b": list(sizes.sigma_b),
                "seed": list(sizes.seeds),
            }
            result.append(SweepConfig.model_validate({"base": base, "grid": grid}))
    return result


@dataclass
class GroupGrowth:
    """Mean curve over seeds of one grid point and its per-layer growth."""

    activation: str
    curve: str
    width: int
    sigma_w2: float
    sigma_b: float
    mean_lengths: np.ndarray
    growth: float
    seed_growths: list[float]

    @property
    def rho(self) -> float:
        return theorem1_rho(math.sqrt(self.sigma_w2), self.sigma_b, self.width)


def group_curves(curves: list[StoredCurve], hidden_depth: int) -> list[GroupGrowth]:
    """Average the lengths over seeds per grid point and measure the growth."""
    groups: dict[tuple, list[np.ndarray]] = defaultdict(list)
    for curve in curves:
        network = curve.config.network
        key = (
            network.activation,
            CURVES[curve.config.paths.random],
            network.width,
            round(network.sigma_w**2, 9),
            network.sigma_b,
        )
        groups[key].append(curve.lengths)

    result = []
    for key, lengths in sorted(groups.items()):
        stacked = np.vstack(lengths)
        mean = stacked.mean(axis=0)
        result.append(
            GroupGrowth(
                *key,
                mean_lengths=mean,
                growth=geometric_growth(mean, BURN_IN, hidden_depth),
                seed_growths=[
                    geometric_growth(x, BURN_IN, hidden_depth) for x in stacked
                ],
            )
        )
    return result


def verdict_rows(groups: list[GroupGrowth]) -> list[VerdictRow]:
    """Return the rho rows (hard-tanh) and the regime rows (every activation)."""
    rows = []
    for group in groups:
        if group.activation != "hardtanh":
            continue
        ratio = group.growth / group.rho
        low, high = min(group.seed_growths), max(group.seed_growths)
        spread = f"{format_number(low)}..{format_number(high)}"
        rows.append(
            VerdictRow(
                label=f"hardtanh {group.curve} k={group.width} "
                f"sigma_w^2={group.sigma_w2:g} sigma_b={group.sigma_b:g}",
                paper=f"rho = {format_number(group.rho)}",
                tool=f"{format_number(group.growth)} (seeds {spread}; "
                f"{format_number(ratio, 2)} rho)",
                passed=ratio_check(group.growth, group.rho),
                tolerance=f"growth >= {RATIO_CONSTANT} rho",
            )
        )

    by_series: dict[tuple, list[GroupGrowth]] = defaultdict(list)
    for group in groups:
        by_series[(group.activation, group.curve, group.width, group.sigma_b)].append(
            group
        )
    for (activation, curve, width, sigma_b), series in sorted(by_series.items()):
        if len(series) < 2:
            continue
        passed, text = regime_switch(
            [g.sigma_w2 for g in series], [g.growth for g in series]
        )
        rows.append(
            VerdictRow(
                label=f"{activation} {curve} k={width} sigma_b={sigma_b:g}: regime "
                "over sigma_w^2",
                paper="shrinks at small sigma_w, grows exponentially at large",
                tool=text,
                passed=passed,
                tolerance=f"neutral band 1 +- {REGIME_BAND}",
            )
        )
    return rows


def run(options: RunOptions) -> ReproductionReport:
    """Run the sweeps (or resume them) and compare the growth with Theorem 1."""
    dataset, dataset_note = image_dataset()
    sizes = FULL if options.full else SMALL
    report = reproduce(options, sizes, dataset)
    if dataset_note:
        report.notes.append(dataset_note)
    return report


def reproduce(options: RunOptions, sizes: Sizes, dataset: str) -> ReproductionReport:
    """Run the grid ``sizes`` on ``dataset`` and build the report."""
    size_name = "full" if options.full else "small"
    outcome = run_and_collect(sweeps(sizes, dataset, size_name), options)

    groups = group_curves(outcome.curves, sizes.hidden_depth)
    report = start_report(
        sys.modules[__name__],
        "reproduction",
        size_name,
        verdict_rows(groups),
        outcome.failures,
    )
    report.notes.append(
        f"Method: widths {list(sizes.widths)}, sigma_w^2 {list(sizes.sigma_w2)}, "
        f"sigma_b {list(sizes.sigma_b)}, {sizes.hidden_depth} hidden layers, "
        f"seeds {list(sizes.seeds)}, dataset {dataset}; lengths by adaptive "
        f"quadrature at rtol {sizes.rtol:g}, averaged over seeds; growth is the "
        f"geometric mean of the layer ratios of layers {BURN_IN + 1}.."
        f"{sizes.hidden_depth}."
    )
    report.notes.append(
        "The theorem's O() hides a per-layer constant: at large sigma_w the "
        "mean-field growth of hard-tanh is (2/pi)^(1/4) sqrt(sigma_w), about "
        "0.89 rho, so the check accepts growth >= "
        f"{RATIO_CONSTANT} rho."
    )
    if options.figures is not None and groups:
        from expressivity.reproductions import figures

        report.figures.extend(
            figures.raghu_figures(groups, sizes, options.figures, size_name)
        )
    return report
