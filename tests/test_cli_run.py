import json

import numpy as np
import pytest
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.models import NetworkSpec, build_network, save_network

runner = CliRunner()

FAST = ["--samples", "17", "--tolerance", "1e-5"]


def _error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_run_default_end_to_end(tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["run", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Trajectory length through every layer" in result.output
    assert "quadrature converged" in result.output

    payload = json.loads(out.read_text())
    for key in (
        "network",
        "path",
        "input_length",
        "layers",
        "bounds",
        "tolerance",
        "error_estimate",
    ):
        assert key in payload
    assert payload["network"]["widths"] == [64, 64, 64, 64, 10]
    assert payload["network"]["activation"]["name"] == "quadratic"
    assert payload["path"]["kind"] == "circle"
    assert [layer["width"] for layer in payload["layers"]] == [64, 64, 64, 10]
    for layer in payload["layers"]:
        assert {"index", "width", "length", "growth"} <= set(layer)
    kinds = {bound["kind"] for bound in payload["bounds"]}
    assert kinds <= {"exact", "estimate", "certified", "not_applicable"}
    names = {bound["name"] for bound in payload["bounds"]}
    assert names >= {"U1", "U2", "U3", "U4", "L1", "L2", "L3", "Lc"}
    for bound in payload["bounds"]:
        assert {"value", "kind", "reason"} <= set(bound)
    l3_output = [
        b
        for b in payload["bounds"]
        if b["name"] == "L3" and b["layer"] == 4 and b["quantity"] == "length"
    ]
    assert l3_output[0]["kind"] == "not_applicable"
    assert "R^64 to R^10" in l3_output[0]["reason"]


@pytest.mark.parametrize(
    "options",
    [
        ["--activation", "tanh", "--widths", "32,10", "--path", "line"],
        [
            "--activation",
            "polynomial",
            "--coefficients",
            "0,1,0.5",
            "--widths",
            "16,10",
        ],
        [
            "--activation",
            "relu",
            "--init",
            "he",
            "--path",
            "polyline",
            "--n-points",
            "3",
        ],
        ["--activation", "hardtanh", "--random-path", "--path", "ellipse"],
    ],
)
def test_run_options(options):
    result = runner.invoke(app, ["run", *options, *FAST, "--energy"])
    assert result.exit_code == 0, result.output
    assert "Trajectory energy" in result.output


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--widths", "64,-3,10"], "invalid width -3"),
        (["--widths", "64,a,10"], "invalid width 'a'"),
        (["--tolerance", "0"], "--tolerance 0.0 is invalid"),
        (["--tolerance", "-1e-6"], "--tolerance -1e-06 is invalid"),
        (["--weights", "missing.safetensors"], "'missing.safetensors' not found"),
        (["--dtype", "float16"], "dtype 'float16'"),
        (["--path", "spiral"], "unknown --path 'spiral'"),
        (["--examples", "0,99999"], "example index 99999 is out of range"),
        (["--dataset", "nosuchset"], "nosuchset"),
        (["--widths", "64,,10"], "a width is missing"),
        (["--widths", ""], "a width is missing"),
        (["--tolerance", "1e-16"], "below what float64 quadrature can resolve"),
        (
            ["--activation", "polynomial", "--coefficients", "1,nan"],
            "invalid coefficient c_1 = nan",
        ),
        (["--data-dir", "/nonexistent/expressivity"], "is not a folder"),
        (
            ["--path", "sequence", "--random-path"],
            "--random-path does not apply to --path sequence",
        ),
    ],
)
def test_run_bad_options_give_one_line(options, fragment):
    result = runner.invoke(app, ["run", *options])
    assert result.exit_code != 0
    lines = _error_lines(result)
    assert len(lines) == 1, result.output
    assert fragment in lines[0]


def test_run_weights_file(tmp_path):
    network = build_network(NetworkSpec((64, 20, 10), activation="tanh", seed=3))
    path = tmp_path / "net.safetensors"
    save_network(network, path)
    result = runner.invoke(
        app, ["run", "--weights", str(path), "--activation", "tanh", *FAST]
    )
    assert result.exit_code == 0, result.output
    assert "linears.1" in result.output


def test_run_weights_mismatched_shapes(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, W1=np.ones((20, 64)), W2=np.ones((10, 21)))
    result = runner.invoke(app, ["run", "--weights", str(path)])
    assert result.exit_code != 0
    lines = _error_lines(result)
    assert len(lines) == 1
    assert "W2" in lines[0]
    assert "20 columns" in lines[0]


def test_run_weights_wrong_input_dimension(tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, W1=np.ones((5, 3)), W2=np.ones((2, 5)))
    result = runner.invoke(app, ["run", "--weights", str(path)])
    assert result.exit_code != 0
    assert "input dimension 3" in _error_lines(result)[0]


def test_run_float32_overflow_names_layer(tmp_path):
    out = tmp_path / "overflow.json"
    result = runner.invoke(
        app,
        [
            "run",
            "--dtype",
            "float32",
            "--widths",
            "64,64,64,64,64,64,64,64,10",
            "--sigma-w",
            "2",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 1
    lines = _error_lines(result)
    assert len(lines) == 1
    assert "non-finite" in lines[0]
    assert "at layer" in lines[0]
    assert "float64" in lines[0]
    assert "inf" not in result.output.replace("info", "")
    payload = json.loads(out.read_text())
    assert payload["error"]["layer"] is not None
    assert "non-finite" in payload["error"]["message"]
    assert payload["network"]["dtype"] == "float32"
