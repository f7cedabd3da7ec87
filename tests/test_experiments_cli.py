"""The sweep, train and report commands, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.experiments import ResultStore, load_config

runner = CliRunner()

SWEEP = """
name: cli-sweep
network: {depth: 2, width: 5}
paths: {kind: line}
measurements: {samples: 9, rtol: 1.0e-5}
grid:
  seed: [0, 1]
"""

TRAIN = """
name: cli-train
dataset_options: {max_examples: 200}
network: {widths: [6, 10]}
training: {epochs: 2, lr: 0.01, checkpoint_epochs: [1, 2]}
paths: {kind: line}
measurements: {samples: 9, rtol: 1.0e-5}
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sweep_runs_then_resumes(tmp_path):
    config = write(tmp_path, SWEEP)
    database = tmp_path / "r.sqlite"

    first = runner.invoke(
        app, ["sweep", str(config), "--db", str(database), "--workers", "0"]
    )
    second = runner.invoke(
        app, ["sweep", str(config), "--db", str(database), "--workers", "0"]
    )

    assert first.exit_code == 0, first.output
    assert "0 already done, ran 2 (2 finished)" in first.output
    assert second.exit_code == 0, second.output
    assert "2 already done, ran 0" in second.output
    with ResultStore(database) as store:
        assert len(store.experiments()) == 2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (SWEEP.replace("depth: 2", "depth: -3"), "network.depth"),
        (SWEEP.replace("width: 5}", "width: 5, activation: swish}"), "'tanh'"),
        (SWEEP.replace("seed: [0, 1]", "colour: [red]"), "'colour'"),
        ("- not\n- a mapping\n", "must be a YAML mapping"),
    ],
)
def test_sweep_rejects_invalid_config_before_work(tmp_path, text, fragment):
    database = tmp_path / "r.sqlite"

    result = runner.invoke(
        app, ["sweep", str(write(tmp_path, text)), "--db", str(database)]
    )

    assert result.exit_code == 2
    assert "error:" in result.output
    assert fragment in result.output
    assert not database.exists()


def test_sweep_rejects_workers_with_scheduler(tmp_path):
    result = runner.invoke(
        app,
        [
            "sweep",
            str(write(tmp_path, SWEEP)),
            "--workers",
            "2",
            "--scheduler",
            "tcp://127.0.0.1:8786",
        ],
    )

    assert result.exit_code == 2
    assert "not both" in result.output


def test_train_prints_history_and_stores(tmp_path):
    database = tmp_path / "t.sqlite"
    checkpoints = tmp_path / "checkpoints"

    result = runner.invoke(
        app,
        [
            "train",
            str(write(tmp_path, TRAIN)),
            "--db",
            str(database),
            "--checkpoints",
            str(checkpoints),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "Training history" in result.output
    assert "test accuracy" in result.output
    assert len(list(checkpoints.rglob("*.safetensors"))) == 2
    with ResultStore(database) as store:
        assert [r.status for r in store.experiments()] == ["finished"]


def test_train_reports_divergence(tmp_path):
    payload = yaml.safe_load(TRAIN)
    payload["training"] = {"optimizer": "sgd", "lr": 1e4, "normalize_inputs": False}
    config = write(tmp_path, yaml.safe_dump(payload))

    result = runner.invoke(app, ["train", str(config)])

    assert result.exit_code == 1
    assert "error: training diverged in epoch" in result.output


def test_train_rejects_grid(tmp_path):
    result = runner.invoke(app, ["train", str(write(tmp_path, SWEEP))])

    assert result.exit_code == 2
    assert "expressivity sweep" in result.output


def test_report_command_writes_page(tmp_path):
    database = tmp_path / "r.sqlite"
    runner.invoke(
        app,
        ["sweep", str(write(tmp_path, SWEEP)), "--db", str(database), "--workers", "0"],
    )

    result = runner.invoke(
        app, ["report", str(database), "--out", str(tmp_path / "out")]
    )

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "index.html").exists()
    assert "figures" in result.output


def test_example_config_is_valid():
    example = Path(__file__).parents[1] / "examples" / "sweep_small.yaml"

    sweep = load_config(example)

    assert len(sweep.experiments()) == 12
