"""Report: every figure and table is written and config strings are escaped."""

from __future__ import annotations

import html
import re

import pytest

from expressivity.errors import ConfigurationError
from expressivity.experiments import ResultStore, load_config, run_sweep
from expressivity.experiments.report import write_report

HOSTILE = "<script>alert('x')</script>"

SWEEP = {
    "name": f"scan {HOSTILE}",
    "dataset": "digits",
    "network": {"depth": 2, "width": 6},
    "paths": {"kind": "circle", "count": 2},
    "measurements": {
        "samples": 9,
        "rtol": 1e-5,
        "topology": True,
        "topology_resolutions": [12, 24],
    },
    "grid": {"depth": [2, 3], "seed": [0, 1]},
}

TRAINED = {
    "name": "trained",
    "dataset": "digits",
    "dataset_options": {"max_examples": 300},
    "network": {"widths": [6, 10]},
    "training": {"epochs": 2, "lr": 0.01, "checkpoint_epochs": [0, 2]},
    "paths": {"kind": "line", "count": 1},
    "measurements": {"samples": 9, "rtol": 1e-5},
}

FIGURES = {
    "growth_through_layers.png",
    "growth_against_depth.png",
    "singular_values.png",
    "decision_regions.png",
    "persistence_diagrams.png",
    "training.png",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    database = folder / "results.sqlite"
    run_sweep(load_config(SWEEP), database, workers=0)
    run_sweep(load_config(TRAINED), database, workers=0)
    return write_report(database, folder / "out")


def test_report_writes_every_figure(report):
    names = {path.name for path in report.figures}
    page = report.index.read_text()

    assert names == FIGURES
    for name in FIGURES:
        assert (report.index.parent / name).stat().st_size > 1000
        assert f'src="{name}"' in page


def test_report_has_every_table(report):
    page = report.index.read_text()

    assert report.tables == [
        "Experiments",
        "Output growth and bounds",
        "Betti numbers per class",
    ]
    assert page.count("<table>") == 3
    # One row per experiment: four grid points and the trained network.
    experiments_table = page.split("<h2>Experiments</h2>")[1].split("</table>")[0]
    assert experiments_table.count("<tr>") == 1 + 5


def test_report_escapes_config_strings(report):
    page = report.index.read_text()

    assert "<script>" not in page
    assert html.escape(HOSTILE) in page


def test_report_links_exports(report):
    page = report.index.read_text()
    csv_file = report.index.parent / "measurements.csv"

    assert csv_file.exists()
    assert 'href="measurements.csv"' in page
    header = csv_file.read_text().splitlines()[0]
    assert "config.network.sigma_w" in header


def test_report_needs_no_network(report):
    page = report.index.read_text()

    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_report_of_missing_database_fails(tmp_path):
    with pytest.raises(ConfigurationError, match="not found"):
        write_report(tmp_path / "absent.sqlite", tmp_path / "out")


def test_report_of_empty_database_fails(tmp_path):
    ResultStore(tmp_path / "empty.sqlite").close()

    with pytest.raises(ConfigurationError, match="no experiments"):
        write_report(tmp_path / "empty.sqlite", tmp_path / "out")
