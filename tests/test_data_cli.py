"""``expressivity datasets`` and ``expressivity run --dataset``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.data import get_info

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    # A set missing from the data root must fail here, never reach a real host.
    monkeypatch.setenv("EXPRESSIVITY_OFFLINE", "1")


def offline_root(name: str) -> Path:
    value = os.environ.get("EXPRESSIVITY_DATA")
    if not value:
        pytest.skip("EXPRESSIVITY_DATA is not set, so no offline dataset copies")
    if get_info(name).locate(Path(value)) is None:
        pytest.skip(f"no offline copy of {name} below {value}")
    return Path(value)


def test_datasets_list_shows_every_set(tmp_path):
    result = runner.invoke(app, ["datasets", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("digits", "mnist", "cora", "fsdd", "coco-captions", "spirals"):
        assert f"│ {name} " in result.output
    assert "bundled" in result.output
    # An empty data root has no local copy of any downloadable set.
    assert "yes (" not in result.output


def test_datasets_list_marks_local_copy():
    root = offline_root("sst2")
    result = runner.invoke(app, ["datasets", "list", "--modality", "text"])
    assert result.exit_code == 0, result.output
    assert "yes (text/sst2_glue)" in result.output
    assert str(root) in result.output
    assert "mnist" not in result.output


def test_datasets_info_lists_files():
    result = runner.invoke(app, ["datasets", "info", "mnist"])
    assert result.exit_code == 0, result.output
    assert "t10k-labels-idx1-ubyte.gz" in result.output
    assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in (
        result.output
    )
    unknown = runner.invoke(app, ["datasets", "info", "mnsit"])
    assert unknown.exit_code == 2
    assert "error: dataset 'mnsit' not found" in unknown.output


def test_datasets_verify_offline_copy():
    offline_root("sst2")
    result = runner.invoke(app, ["datasets", "verify", "sst2"])
    assert result.exit_code == 0, result.output
    assert "3 ok, 0 mismatched, 0 missing" in result.output


def test_datasets_verify_reports_mismatch(tmp_path):
    root = offline_root("ptb")
    folder = tmp_path / "text" / "ptb_mikolov"
    folder.mkdir(parents=True)
    shutil.copy(root / "text" / "ptb_mikolov" / "ptb.valid.txt", folder)
    (folder / "ptb.test.txt").write_text(" the cat sat \n")

    result = runner.invoke(
        app, ["datasets", "verify", "ptb", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "MISMATCH ptb.test.txt: expected dd65dff31e70" in result.output
    assert "1 ok, 1 mismatched" in result.output


def test_datasets_verify_without_copy(tmp_path):
    result = runner.invoke(
        app, ["datasets", "verify", "cora", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "no local copy of cora" in result.output
    bundled = runner.invoke(app, ["datasets", "verify", "iris"])
    assert bundled.exit_code == 0
    assert "no files to verify" in bundled.output


def test_datasets_download_bundled_and_offline(tmp_path):
    bundled = runner.invoke(app, ["datasets", "download", "karate"])
    assert bundled.exit_code == 0
    assert "nothing to download" in bundled.output
    blocked = runner.invoke(
        app, ["datasets", "download", "mnist", "--data-dir", str(tmp_path)]
    )
    assert blocked.exit_code == 2
    assert "downloads are disabled by EXPRESSIVITY_OFFLINE" in blocked.output
    assert not (tmp_path / "image").exists()


FAST = ["--samples", "9", "--tolerance", "1e-4", "--widths", "8,3", "--no-bounds"]


def _run(tmp_path: Path, dataset: str, *options: str) -> dict:
    out = tmp_path / f"{dataset}.json"
    result = runner.invoke(
        app, ["run", "--dataset", dataset, *FAST, *options, "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("dataset", "options", "input_width"),
    [
        ("mnist", ["--split", "test", "--max-examples", "20"], 784),
        (
            "sst2",
            ["--split", "dev", "--max-examples", "30", "--path", "sequence"],
            1024,
        ),
        ("fsdd", ["--max-examples", "3", "--path", "windows", "--examples", "2"], 40),
        ("adult", ["--split", "test", "--max-examples", "50"], 105),
        ("cora", ["--max-examples", "40", "--path", "line"], 1433),
        ("gunpoint", ["--path", "windows", "--window", "50", "--stride", "25"], 50),
        ("bikes", ["--max-examples", "6", "--path", "frames", "--n-points", "5"], 3072),
        ("coco-captions", ["--max-examples", "12", "--path", "ellipse"], 1024),
    ],
)
def test_run_on_offline_dataset(tmp_path, dataset, options, input_width):
    offline_root(dataset)
    payload = _run(tmp_path, dataset, *options)
    assert payload["network"]["widths"] == [input_width, 8, 3]
    assert payload["network"]["dataset"] == dataset
    assert payload["input_length"] > 0


@pytest.mark.parametrize(
    ("dataset", "input_width"), [("karate", 34), ("iris", 4), ("spirals", 2)]
)
def test_run_on_bundled_dataset(tmp_path, dataset, input_width):
    payload = _run(tmp_path, dataset, "--path", "polyline", "--n-points", "3")
    assert payload["network"]["widths"] == [input_width, 8, 3]
    assert len(payload["network"]["examples"]) == 3


def test_run_sequence_length_is_polyline_length(tmp_path):
    import torch

    from expressivity.data import load_dataset

    payload = _run(tmp_path, "iris", "--path", "sequence", "--examples", "10")
    features = load_dataset("iris").features[10:14]
    expected = torch.linalg.vector_norm(features[1:] - features[:-1], dim=1).sum()
    assert payload["network"]["examples"] == [10, 11, 12, 13]
    assert payload["input_length"] == pytest.approx(float(expected), rel=1e-9)


def test_run_rejects_bad_natural_path(tmp_path):
    result = runner.invoke(app, ["run", "--dataset", "iris", "--path", "frames"])
    assert result.exit_code == 2
    assert "error: path kind 'frames' needs a video dataset" in result.output
    result = runner.invoke(app, ["run", "--dataset", "iris", "--path", "spiral"])
    assert result.exit_code == 2
    assert "sequence, frames, windows" in result.output
