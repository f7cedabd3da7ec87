"""Trajectory length of random quadratic and polynomial networks: a new result.

No published trajectory-length result exists for quadratic or polynomial
activations, so this study reports the tool's measurements with their
method instead of comparing with a paper. It measures, for random networks
with weights N(0, sigma_w^2 / fan-in) and no biases:

- the length L(z(l)) after every hidden layer along a random unit circle,
  over a range of sigma_w;
- whether the growth with depth is exponential or faster. A network with
  activation of degree r is a polynomial of degree r^l after l layers, and
  the mean-field recursion q' = E[phi(u)^2] sigma_w^2 with u ~ N(0, q)
  (q' = 3 sigma_w^2 q^2 for u^2) grows doubly exponentially above its
  fixed point. Doubly exponential growth ln L ~ A r^l gives a slope of
  ln ln(L_l / L_0) against l near ln r; exponential growth ln L ~ a l gives
  ln ln L ~ ln l, a slope below ln(2) / 2 beyond the first few layers;
- the tightness of the upper bounds U1..U4 (bound / measured length of the
  output), which must all hold;
- the certified enclosure [lower, upper] of the output length from interval
  propagation, where it can be computed, and its relative gap.

Float64 overflows after a few layers of doubly exponential growth. The grid
therefore runs every depth separately: with ``outputs = width`` the network
of depth d is the first d layers of the network of depth d + 1 drawn with
the same seed, and the deepest depth that stays finite gives the curve.
"""

from __future__ import annotations

import logging
import math
import sys
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from expressivity.experiments import SweepConfig
from expressivity.reproductions.runner import (
    RunOptions,
    StoredCurve,
    run_and_collect,
    start_report,
)
from expressivity.reproductions.verdict import (
    ReproductionReport,
    VerdictRow,
    fit_line,
    format_number,
)

logger = logging.getLogger(__name__)

NAME = "quadratic"
TITLE = "Trajectory length of random quadratic and polynomial networks"
REFERENCE = (
    "no published result; method in expressivity.reproductions.quadratic "
    "and docs/reproductions/quadratic.md"
)
DATASET = "digits"
# Slope of ln ln(L_l / L_0) per layer that separates doubly exponential
# growth (slope near ln r >= ln 2) from exponential growth.
FASTER_THAN_EXPONENTIAL = math.log(2) / 2
# Relative slack for "measured <= bound": the lengths carry the quadrature
# tolerance and the bounds are integrated to their own tolerance.
BOUND_SLACK = 1e-3
ACTIVATIONS = {
    "u^2": ("quadratic", ()),
    "u + u^2": ("polynomial", (0.0, 1.0, 1.0)),
    "u^3": ("polynomial", (0.0, 0.0, 0.0, 1.0)),
}
UPPER_BOUNDS = ("U1", "U2", "U3", "U4")


@dataclass(frozen=True)
class Sizes:
    """Activations, width, sigma_w, depths and seeds of one run."""

    activations: tuple[str, ...]
    width: int
    sigma_w: tuple[float, ...]
    max_depth: int
    seeds: tuple[int, ...]
    rtol: float = 1e-6
    certified_max_depth: int = 3


SMALL = Sizes(
    activations=("u^2", "u + u^2", "u^3"),
    width=16,
    sigma_w=(1.0, 2.0, 3.0, 4.0),
    max_depth=7,
    seeds=(0, 1),
)
FULL = Sizes(
    activations=("u^2", "u + u^2", "u^3"),
    width=64,
    sigma_w=(0.5, 1.0, 2.0, 3.0, 4.0, 6.0),
    max_depth=12,
    seeds=(0, 1, 2, 3, 4),
    certified_max_depth=4,
)


def sweeps(sizes: Sizes, size_name: str) -> list[SweepConfig]:
    """Build one sweep per activation over sigma_w, depth and seed."""
    result = []
    for label in sizes.activations:
        activation, coefficients = ACTIVATIONS[label]
        base = {
            "name": f"{NAME}-{size_name}-{label.replace(' ', '')}",
            "dataset": DATASET,
            "network": {
                "depth": 2,
                "width": sizes.width,
                "outputs": sizes.width,
                "activation": activation,
                "coefficients": list(coefficients),
                "bias": False,
            },
            "paths": {"kind": "circle", "count": 1, "random": True},
            "measurements": {"length": True, "bounds": True, "rtol": sizes.rtol},
        }
        grid = {
            "sigma_w": list(sizes.sigma_w),
            "depth": list(range(2, sizes.max_depth + 1)),
            "seed": list(sizes.seeds),
        }
        result.append(SweepConfig.model_validate({"base": base, "grid": grid}))
    return result


def activation_label(activation: str, coefficients: tuple[float, ...]) -> str:
    """Return the ``ACTIVATIONS`` key of an activation and its coefficients."""
    for label, (name, known) in ACTIVATIONS.items():
        if name == activation and tuple(known) == tuple(coefficients):
            return label
    return f"{activation}{list(coefficients)}"


def doubly_log_slope(lengths: np.ndarray) -> float:
    """Return the slope of ln ln(L_l / L_0) against l where L_l / L_0 > e.

    Returns NaN when fewer than two layers have grown by more than e.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    growth = lengths / lengths[0]
    layers = np.nonzero(np.isfinite(growth) & (growth > math.e))[0]
    if layers.size < 2:
        return float("nan")
    return fit_line(layers.astype(np.float64), np.log(np.log(growth[layers]))).slope


def classify_growth(lengths: np.ndarray) -> str:
    """Classify a length curve as faster than exponential, exponential or other.

    Growth faster than exponential is a slope of ln ln(L_l / L_0) above
    ln(2) / 2 per layer; exponential growth is a smaller slope. A last layer
    shorter than the input is ``shrinking``; a curve with fewer than two
    layers grown by more than e is ``too short to classify``.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    slope = doubly_log_slope(lengths)
    if np.isfinite(slope):
        if slope > FASTER_THAN_EXPONENTIAL:
            return "faster than exponential"
        return "exponential"
    if lengths[-1] < lengths[0]:
        return "shrinking"
    return "too short to classify"


@dataclass
class DepthProfile:
    """Curve of one (activation, sigma_w, seed): the deepest finite network.

    Attributes
    ----------
    lengths
        L of the input and the hidden layers of the deepest finished network.
    overflow_depth
        Smallest depth whose experiment failed (overflow), or None.
    output_length, bounds
        Output length of the deepest finished network and its upper bounds.
    """

    activation: str
    sigma_w: float
    seed: int
    lengths: np.ndarray
    overflow_depth: int | None
    output_length: float
    bounds: dict[str, float | None]


def depth_profiles(
    curves: list[StoredCurve], failed: list[tuple]
) -> list[DepthProfile]:
    """Pick, per (activation, sigma_w, seed), the deepest finished network."""
    deepest: dict[tuple, StoredCurve] = {}
    for curve in curves:
        network = curve.config.network
        if not np.all(np.isfinite(curve.lengths)):
            # Overflow of the length integral now fails the experiment, but
            # a database written by an earlier version can hold inf lengths.
            failed = [*failed, (curve.config, "length overflowed float64")]
            continue
        key = (
            activation_label(network.activation, tuple(network.coefficients)),
            network.sigma_w,
            curve.config.seed,
        )
        if key not in deepest or network.depth > deepest[key].config.network.depth:
            deepest[key] = curve

    overflow: dict[tuple, int] = {}
    for config, _ in failed:
        network = config.network
        key = (
            activation_label(network.activation, tuple(network.coefficients)),
            network.sigma_w,
            config.seed,
        )
        overflow[key] = min(overflow.get(key, network.depth), network.depth)

    profiles = []
    for key, curve in sorted(deepest.items()):
        depth = curve.config.network.depth
        profiles.append(
            DepthProfile(
                *key,
                lengths=curve.lengths[:depth],
                overflow_depth=overflow.get(key),
                output_length=float(curve.lengths[depth]),
                bounds={name: curve.bounds.get(name) for name in UPPER_BOUNDS},
            )
        )
    return profiles


def bound_rows(profile: DepthProfile) -> list[VerdictRow]:
    """Return rows of U1..U4 / L(output), the tightness; each ratio must be >= 1."""
    rows = []
    for name in UPPER_BOUNDS:
        value = profile.bounds.get(name)
        if value is None:
            continue
        if not 0 < profile.output_length < math.inf:
            rows.append(
                VerdictRow(
                    label=f"{profile.activation} sigma_w={profile.sigma_w:g} seed "
                    f"{profile.seed}: {name} / L(output)",
                    paper="must be >= 1 (upper bound)",
                    tool=f"n/a: the output length is {profile.output_length:g} "
                    "in float64",
                    passed=None,
                    tolerance="",
                )
            )
            continue
        ratio = value / profile.output_length
        rows.append(
            VerdictRow(
                label=f"{profile.activation} sigma_w={profile.sigma_w:g} seed "
                f"{profile.seed}: {name} / L(output)",
                paper="must be >= 1 (upper bound)",
                tool=format_number(ratio),
                passed=bool(ratio >= 1 - BOUND_SLACK),
                tolerance=f"ratio >= 1 - {BOUND_SLACK:g}",
            )
        )
    return rows


def growth_rows(profiles: list[DepthProfile]) -> list[VerdictRow]:
    """Return one informational row per (activation, sigma_w): growth and kind."""
    groups: dict[tuple, list[DepthProfile]] = defaultdict(list)
    for profile in profiles:
        groups[(profile.activation, profile.sigma_w)].append(profile)

    rows = []
    for (activation, sigma_w), members in sorted(groups.items()):
        depth = min(len(p.lengths) for p in members)
        stacked = np.vstack([p.lengths[:depth] for p in members])
        mean = stacked.mean(axis=0)
        overflow = [p.overflow_depth for p in members if p.overflow_depth]
        growth = mean[-1] / mean[0]
        rows.append(
            VerdictRow(
                label=f"{activation} sigma_w={sigma_w:g}: growth over "
                f"{depth - 1} hidden layers",
                paper="no published value",
                tool=f"L_{depth - 1}/L_0 = {format_number(growth)}; "
                f"{classify_growth(mean)} (ln ln slope "
                f"{format_number(doubly_log_slope(mean))})"
                + (f"; overflow from depth {min(overflow)}" if overflow else ""),
                passed=None,
                tolerance="faster than exponential: ln ln slope > "
                f"{FASTER_THAN_EXPONENTIAL:.3f}",
            )
        )
    return rows


def run(options: RunOptions) -> ReproductionReport:
    """Run the sweeps (or resume them) and report growth and bound tightness."""
    return reproduce(options, FULL if options.full else SMALL)


def reproduce(options: RunOptions, sizes: Sizes) -> ReproductionReport:
    """Run the grid ``sizes`` and build the report."""
    size_name = "full" if options.full else "small"
    outcome = run_and_collect(sweeps(sizes, size_name), options)
    profiles = depth_profiles(outcome.curves, outcome.failures)

    report = start_report(
        sys.modules[__name__],
        "result",
        size_name,
        growth_rows(profiles),
        [(c, e) for c, e in outcome.failures if c.seed == sizes.seeds[0]],
    )
    for profile in profiles:
        if profile.seed == sizes.seeds[0]:
            report.rows.extend(bound_rows(profile))
    report.rows.extend(certified_rows(sizes, options))
    report.notes.append(
        f"Method: activations {list(sizes.activations)}, width {sizes.width}, "
        f"no biases, sigma_w {list(sizes.sigma_w)}, depths 2..{sizes.max_depth} "
        f"(one network per depth, nested by the seed), seeds {list(sizes.seeds)}, "
        f"random unit circle in R^n_0 with n_0 from the {DATASET} set; lengths by "
        f"adaptive quadrature at rtol {sizes.rtol:g}; bounds on the output of the "
        "deepest network that stayed finite, first seed. Failed experiments of "
        "the first seed are listed: they overflowed float64."
    )
    if options.figures is not None and profiles:
        from expressivity.reproductions import figures

        report.figures.append(
            figures.quadratic_figure(profiles, options.figures, size_name)
        )
    return report


def certified_rows(sizes: Sizes, options: RunOptions) -> list[VerdictRow]:
    """Return rows of certified output-length enclosures (shallow, first seed)."""
    from expressivity.reproductions.certified_adapter import certified_enclosures

    rows = []
    for result in certified_enclosures(sizes, options.database):
        if result.lower is None:
            rows.append(
                VerdictRow(
                    label=f"{result.label}: certified enclosure",
                    paper="no published value",
                    tool=f"unavailable: {result.reason}",
                    passed=None,
                    tolerance="",
                )
            )
            continue
        contains = (
            result.lower * (1 - BOUND_SLACK)
            <= result.measured
            <= result.upper * (1 + BOUND_SLACK)
        )
        rows.append(
            VerdictRow(
                label=f"{result.label}: certified enclosure of L(output)",
                paper="must contain the measured length",
                tool=f"[{format_number(result.lower)}, {format_number(result.upper)}] "
                f"around {format_number(result.measured)}; upper / measured "
                f"{format_number(result.upper / result.measured)}",
                passed=bool(contains),
                tolerance=f"lower <= L <= upper, slack {BOUND_SLACK:g}",
            )
        )
    return rows
