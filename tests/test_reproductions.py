"""Verdict logic of the reproductions on synthetic inputs, and reduced runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.experiments import ResultStore
from expressivity.length import trajectory_lengths
from expressivity.models import NetworkSpec, build_network
from expressivity.paths import random_circle
from expressivity.reproductions import (
    UNAVAILABLE,
    RunOptions,
    get_reproduction,
    hanin2022,
    quadratic,
    raghu2017,
)
from expressivity.reproductions.runner import run_and_collect
from expressivity.reproductions.verdict import (
    ReproductionReport,
    VerdictRow,
    fit_line,
    geometric_growth,
)

# --- shared verdict helpers -------------------------------------------------


def test_fit_line_matches_linregress(generator):
    x = np.arange(12, dtype=np.float64)
    y = 0.3 - 0.07 * x + np.random.default_rng(1).normal(0, 0.05, x.size)
    fit = fit_line(x, y)
    reference = stats.linregress(x, y)
    assert fit.slope == pytest.approx(reference.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(reference.intercept, rel=1e-12)
    assert fit.slope_stderr == pytest.approx(reference.stderr, rel=1e-10)


def test_fit_line_rejects_constant_x():
    with pytest.raises(ValueError, match="distinct"):
        fit_line(np.ones(3), np.arange(3.0))


def test_geometric_growth_recovers_factor():
    lengths = 5.0 * 1.7 ** np.arange(8)
    lengths[:2] = [1.0, 40.0]  # a transient that the burn-in skips
    assert geometric_growth(lengths, 2, 7) == pytest.approx(1.7, rel=1e-12)


def test_geometric_growth_rejects_bad_layers():
    with pytest.raises(ValueError, match="first=3"):
        geometric_growth(np.ones(4), 3, 3)


def test_report_passes_only_when_checked_rows_pass():
    rows = [
        VerdictRow("a", "1", "1", True, "exact"),
        VerdictRow("b", "-", "2", None, ""),
    ]
    report = ReproductionReport("x", "t", "r", "reproduction", "small", rows=rows)
    assert report.passed
    report.rows.append(VerdictRow("c", "1", "3", False, "exact"))
    assert not report.passed
    assert "| c | 1 | 3 | FAIL | exact |" in report.to_markdown()
    empty = ReproductionReport("x", "t", "r", "result", "small")
    assert not empty.passed


# --- raghu2017 ---------------------------------------------------------------


def test_rho_without_bias_matches_closed_form():
    # With sigma_b = 0, rho = sqrt(sigma_w k) / sqrt(sigma_w + k).
    for sigma_w, width in [(1.0, 32), (2.0, 128), (8.0, 512), (0.5, 3)]:
        expected = math.sqrt(sigma_w * width) / math.sqrt(sigma_w + width)
        assert raghu2017.theorem1_rho(sigma_w, 0.0, width) == pytest.approx(expected)


def test_rho_hand_value_with_bias():
    # sigma_w = 1, sigma_b = 1, k = 2: 1 * sqrt(2) / sqrt(2 + 2 sqrt(2)).
    value = raghu2017.theorem1_rho(1.0, 1.0, 2)
    assert value == pytest.approx(math.sqrt(2) / math.sqrt(2 + 2 * math.sqrt(2)))


@pytest.mark.parametrize(
    ("growth", "passed"),
    [
        ([0.7, 1.1, 1.8, 2.5], True),  # shrinking, then exponential growth
        ([1.0, 1.3, 1.9, 2.6], True),  # critical at the smallest sigma_w
        ([1.4, 1.6, 1.9, 2.6], False),  # grows everywhere: no switch
        ([0.5, 0.6, 0.7, 0.8], False),  # shrinks everywhere: no switch
        ([0.9, 1.0, 1.02, 1.04], False),  # never leaves the neutral band
        ([2.6, 1.9, 1.1, 0.7], False),  # switches the wrong way
    ],
)
def test_regime_switch_cases(growth, passed):
    assert raghu2017.regime_switch([1, 4, 16, 64], growth)[0] is passed


def test_regime_switch_orders_by_sigma():
    # The same switching curve given in shuffled order still passes.
    passed, text = raghu2017.regime_switch([16, 1, 64, 4], [1.8, 0.7, 2.5, 1.1])
    assert passed
    assert text.startswith("1: 0.7 shrinking")


def _group(activation, sigma_w2, growth, width=64):
    return raghu2017.GroupGrowth(
        activation=activation,
        curve="random circle",
        width=width,
        sigma_w2=sigma_w2,
        sigma_b=1.0,
        mean_lengths=np.ones(6),
        growth=growth,
        seed_growths=[growth],
    )


def test_raghu_verdict_fails_without_regime_switch():
    sigma_w2 = [1.0, 4.0, 16.0, 64.0]
    # Growth at or above rho everywhere, but no shrinking regime at small sigma_w.
    growing = [
        _group("hardtanh", s, 1.5 * raghu2017.theorem1_rho(math.sqrt(s), 1.0, 64))
        for s in sigma_w2
    ]
    rows = raghu2017.verdict_rows(growing)
    regime = [row for row in rows if "regime" in row.label]
    assert len(regime) == 1
    assert regime[0].passed is False
    assert all(row.passed for row in rows if "regime" not in row.label)

    growth = [0.8, 1.3, 1.9, 2.6]
    switching = [
        _group("hardtanh", s, g) for s, g in zip(sigma_w2, growth, strict=True)
    ]
    rows = raghu2017.verdict_rows(switching)
    assert [row.passed for row in rows if "regime" in row.label] == [True]


def test_raghu_verdict_fails_below_rho_constant():
    rho = raghu2017.theorem1_rho(8.0, 1.0, 64)
    low = raghu2017.verdict_rows([_group("hardtanh", 64.0, 0.7 * rho)])
    high = raghu2017.verdict_rows([_group("hardtanh", 64.0, 0.85 * rho)])
    assert [row.passed for row in low] == [False]
    assert [row.passed for row in high] == [True]
    # ReLU has no rho row, only the regime row (absent for one sigma_w).
    assert raghu2017.verdict_rows([_group("relu", 64.0, 5.0)]) == []


TINY_RAGHU = raghu2017.Sizes(
    widths=(16,),
    sigma_w2=(1.0, 16.0),
    sigma_b=(1.0,),
    hidden_depth=4,
    seeds=(0,),
    activations=("hardtanh",),
    rtol=1e-2,
)


def test_raghu_reduced_run_and_resume(tmp_path):
    options = RunOptions(database=tmp_path / "r.sqlite", workers=0, figures=tmp_path)
    report = raghu2017.reproduce(options, TINY_RAGHU, "digits")
    assert report.failed_experiments == []
    regime = [row for row in report.rows if "regime" in row.label]
    assert len(regime) == 2  # random and image circle
    assert all(row.passed for row in regime)
    assert len(report.rows) == 2 + 2 * 2  # rho rows: two curves x two sigma_w
    assert all(path.exists() for path in report.figures)

    summaries = []
    options.on_start = summaries.append
    again = raghu2017.reproduce(options, TINY_RAGHU, "digits")
    assert [s.skipped for s in summaries] == [s.total for s in summaries]
    assert [row.tool for row in again.rows] == [row.tool for row in report.rows]


def test_raghu_growth_matches_direct_measurement(tmp_path):
    # The growth read back from the database equals the growth of the same
    # network and circle measured directly, without the sweep machinery.
    sizes = raghu2017.Sizes(
        widths=(8,),
        sigma_w2=(16.0,),
        sigma_b=(1.0,),
        hidden_depth=3,
        seeds=(3,),
        activations=("hardtanh",),
        rtol=1e-3,
    )
    options = RunOptions(database=tmp_path / "r.sqlite", workers=0)
    configs = [
        c for s in raghu2017.sweeps(sizes, "digits", "small") for c in s.experiments()
    ]
    outcome = run_and_collect(raghu2017.sweeps(sizes, "digits", "small"), options)
    groups = raghu2017.group_curves(outcome.curves, sizes.hidden_depth)
    random = next(g for g in groups if g.curve == "random circle")

    config = next(c for c in configs if c.paths.random)
    network = build_network(
        NetworkSpec(
            widths=(64, 8, 8, 8, 8),
            activation="hardtanh",
            sigma_w=4.0,
            sigma_b=1.0,
            seed=3,
        )
    )
    path = random_circle(64, generator=torch.Generator().manual_seed(config.seed))
    result = trajectory_lengths(network, path, rtol=1e-3)
    lengths = [layer.length for layer in result.layers]
    # One ratio after the burn-in of two layers; both sides carry rtol 1e-3.
    assert random.growth == pytest.approx(lengths[3] / lengths[2], rel=3e-3)


# --- hanin2022 ---------------------------------------------------------------


def _series(init, distortion, width=16, input_dim=64):
    distortion = np.asarray(distortion, dtype=np.float64)
    energy = distortion**2 * 0 + width / input_dim
    return hanin2022.DistortionSeries(init, width, input_dim, distortion, energy)


def test_hanin_trend_checks_both_ways():
    layers = np.arange(1, 31)
    flat = 0.5 * 0.998**layers
    growing = 0.5 * math.sqrt(2) ** layers
    assert hanin2022.bounded_trend(hanin2022.depth_slope(layers, flat))
    assert not hanin2022.growing_trend(hanin2022.depth_slope(layers, flat))
    assert hanin2022.growing_trend(hanin2022.depth_slope(layers, growing))
    assert not hanin2022.bounded_trend(hanin2022.depth_slope(layers, growing))


def test_hanin_verdict_rows_fail_when_roles_swap():
    layers = np.arange(1, 21)
    seeds = np.array([0.98, 1.0, 1.02])[:, None]
    flat = seeds * 0.5 * np.ones(layers.size)
    growing = seeds * 0.5 * math.sqrt(2) ** layers
    good = hanin2022.verdict_rows([_series("he", flat), _series("normal", growing)])
    assert all(row.passed for row in good)
    swapped = hanin2022.verdict_rows([_series("he", growing), _series("normal", flat)])
    trend = [row for row in swapped if "trend" in row.label]
    assert [row.passed for row in trend] == [False, False]


def test_hanin_bound_row_fails_above_sqrt_ratio():
    seeds = np.array([0.99, 1.0, 1.01])[:, None]
    above = seeds * 0.8 * np.ones(10)  # sqrt(16 / 64) = 0.5 is the bound
    rows = hanin2022.verdict_rows([_series("he", above)])
    bound = [row for row in rows if "max over layers" in row.label]
    assert [row.passed for row in bound] == [False]


def test_within_mean_uses_standard_error():
    samples = np.array([1.0, 2.0, 3.0])  # mean 2, standard error 1 / sqrt(3)
    assert hanin2022.within_mean(samples, 2 + 1.7, 3.0)[0]
    assert not hanin2022.within_mean(samples, 2 + 1.8, 3.0)[0]


def test_hanin_reduced_run(tmp_path):
    sizes = hanin2022.Sizes(widths=(16,), hidden_depth=8, seeds=(0, 1, 2, 3))
    options = RunOptions(database=tmp_path / "h.sqlite", workers=0, figures=tmp_path)
    report = hanin2022.reproduce(options, sizes)
    assert report.failed_experiments == []
    assert report.passed, report.to_markdown()
    assert len(report.rows) == 4  # He trend, bound, energy; contrast trend


# --- command line ------------------------------------------------------------


def test_reproduce_unknown_name_fails():
    result = CliRunner().invoke(app, ["reproduce", "nope"])
    assert result.exit_code == 2
    assert "unknown reproduction 'nope'" in result.output


def test_get_reproduction_has_run():
    for name in ("raghu2017", "hanin2022", "quadratic"):
        module = get_reproduction(name)
        assert module.NAME == name
        assert callable(module.run)


def test_reproduce_command_prints_verdicts(tmp_path, monkeypatch):
    monkeypatch.setattr(raghu2017, "SMALL", TINY_RAGHU)
    monkeypatch.setattr(
        raghu2017, "image_dataset", lambda: ("digits", "digits stand in for MNIST")
    )
    markdown = tmp_path / "table.md"
    arguments = [
        "reproduce",
        "raghu2017",
        "--db",
        str(tmp_path / "r.sqlite"),
        "--workers",
        "0",
        "--figures",
        str(tmp_path / "figures"),
        "--markdown",
        str(markdown),
    ]
    result = CliRunner().invoke(app, arguments)
    table = markdown.read_text()
    # Exit status 1 exactly when a checked row fails.
    assert result.exit_code == (3 if "| FAIL |" in table else 0), result.output
    assert "rho =" in result.output
    assert "regime over sigma_w^2" in table  # Rich folds long labels
    assert "digits stand in for MNIST" in table


def test_energy_layer_cut():
    assert hanin2022.energy_layer(16, 20) == 4
    assert hanin2022.energy_layer(256, 50) == 50
    assert hanin2022.energy_layer(2, 10) == 1


# --- quadratic ---------------------------------------------------------------


def test_doubly_exponential_slope_is_log_degree():
    layers = np.arange(7)  # exp(0.5 * 3^6) is still finite in float64
    for degree in (2, 3):
        # L_l / L_0 = exp(0.5 d^l) for l >= 1, so ln ln is linear in l.
        lengths = np.exp(0.5 * degree ** layers.astype(float))
        lengths[0] = 1.0
        slope = quadratic.doubly_log_slope(lengths)
        assert slope == pytest.approx(math.log(degree), rel=1e-6)
        assert quadratic.classify_growth(lengths) == "faster than exponential"


def test_exponential_growth_is_not_faster():
    lengths = 2.0 ** np.arange(9)
    assert quadratic.doubly_log_slope(lengths) < quadratic.FASTER_THAN_EXPONENTIAL
    assert quadratic.classify_growth(lengths) == "exponential"


def test_classify_growth_short_and_shrinking():
    assert quadratic.classify_growth(np.array([1.0, 0.5, 0.1])) == "shrinking"
    short = np.array([1.0, 1.5, 5.0])  # one layer above e: no slope
    assert quadratic.classify_growth(short) == "too short to classify"


def test_bound_rows_fail_below_measured():
    profile = quadratic.DepthProfile(
        activation="u^2",
        sigma_w=1.0,
        seed=0,
        lengths=np.ones(3),
        overflow_depth=None,
        output_length=10.0,
        bounds={"U1": 9.0, "U2": 10.0, "U3": 50.0, "U4": None},
    )
    rows = quadratic.bound_rows(profile)
    assert [row.passed for row in rows] == [False, True, True]
    assert rows[2].tool == "5"


def test_quadratic_reduced_run(tmp_path):
    sizes = quadratic.Sizes(
        activations=("u^2",),
        width=4,
        sigma_w=(1.0, 8.0),
        max_depth=5,
        seeds=(0,),
        certified_max_depth=3,
    )
    options = RunOptions(database=tmp_path / "q.sqlite", workers=0, figures=tmp_path)
    report = quadratic.reproduce(options, sizes)
    assert report.kind == "result"
    assert report.passed, report.to_markdown()
    enclosures = [row for row in report.rows if "certified" in row.label]
    assert len(enclosures) == 2
    growth = [row for row in report.rows if row.passed is None]
    assert "shrinking" in growth[0].tool  # sigma_w = 1 on a unit circle in R^64
    assert "faster than exponential" in growth[1].tool

    # The enclosures are stored as experiments of their own and reused.
    with ResultStore(tmp_path / "q.sqlite") as store:
        sweeps = {record.sweep for record in store.experiments()}
    assert any(name.endswith("-certified") for name in sweeps)
    again = quadratic.reproduce(options, sizes)
    assert [row.tool for row in again.rows] == [row.tool for row in report.rows]


def test_unavailable_reproduction_names_reason(monkeypatch):
    monkeypatch.setitem(UNAVAILABLE, "planned", "not implemented yet: no module")
    result = CliRunner().invoke(app, ["reproduce", "planned"])
    assert result.exit_code == 2
    assert "planned' is unavailable: not implemented yet" in result.output


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: raghu2017.sweeps(raghu2017.SMALL, "mnist", "small"), 128),
        (lambda: raghu2017.sweeps(raghu2017.FULL, "mnist", "full"), 480),
        (lambda: hanin2022.sweeps(hanin2022.SMALL, "small"), 24),
        (lambda: hanin2022.sweeps(hanin2022.FULL, "full"), 100),
        (lambda: quadratic.sweeps(quadratic.SMALL, "small"), 144),
        (lambda: quadratic.sweeps(quadratic.FULL, "full"), 990),
    ],
)
def test_grid_sizes_match_docs(build, expected):
    configs = [config for sweep in build() for config in sweep.experiments()]
    assert len(configs) == expected
    assert len({config.config_hash() for config in configs}) == expected


def test_failed_check_exits_3_not_1(monkeypatch, tmp_path):
    # 1 is what Python returns for an uncaught exception, so a failed check
    # gets its own status.
    from expressivity.cli import reproduce as reproduce_cli
    from expressivity.reproductions.runner import start_report
    from expressivity.reproductions.verdict import VerdictRow

    def failing_run(options):
        row = VerdictRow("a row", "1", "2", False, "exact")
        return start_report(hanin2022, "reproduction", "small", [row], [])

    monkeypatch.setattr(hanin2022, "run", failing_run)
    result = CliRunner().invoke(
        app, ["reproduce", "hanin2022", "--db", str(tmp_path / "h.sqlite")]
    )
    assert result.exit_code == reproduce_cli.FAILED_CHECK_STATUS == 3
