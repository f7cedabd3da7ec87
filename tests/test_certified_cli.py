import json

from typer.testing import CliRunner

from expressivity.cli.main import app

runner = CliRunner()

FAST = ["--samples", "17", "--tolerance", "1e-8"]


def test_run_certified_default_json(tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["run", "--certified", *FAST, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "certified" in result.output
    assert "target 0.001 reached" in result.output

    payload = json.loads(out.read_text())
    assert payload["certified"]["converged"] is True
    assert payload["certified"]["gap"] <= 1e-3
    assert "rounding" in payload["certified"]
    for layer in payload["layers"]:
        enclosure = layer["enclosure"]
        assert {"lower", "upper", "segments", "gap"} <= set(enclosure)
        assert enclosure["lower"] <= layer["length"] <= enclosure["upper"]
        assert enclosure["gap"] <= 1e-3
        assert enclosure["segments"] == payload["certified"]["n_segments"]
        sampled, certified = enclosure["sup_s"]
        assert sampled <= certified
    # Only the last layer maps R^64 to R^10, so only there is r(t) = 0.
    assert "m < n" in payload["layers"][-1]["enclosure"]["inf_r_reason"]


def test_run_certified_gap_option(tmp_path):
    out = tmp_path / "result.json"
    options = ["--activation", "relu", "--widths", "16,16,10", "--init", "he"]
    result = runner.invoke(
        app,
        ["run", "--certified", "--gap", "1e-2", *options, *FAST, "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["certified"]["target_gap"] == 1e-2
    for layer in payload["layers"]:
        enclosure = layer["enclosure"]
        assert enclosure["lower"] <= layer["length"] * (1 + 1e-8)
        assert enclosure["upper"] >= layer["length"] * (1 - 1e-8)


def test_run_without_certified_has_no_enclosure(tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["run", "--no-bounds", *FAST, "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert "certified" not in payload
    assert all("enclosure" not in layer for layer in payload["layers"])


def test_run_certified_invalid_gap():
    result = runner.invoke(app, ["run", "--certified", "--gap", "0"])
    assert result.exit_code == 2
    assert "error: --gap 0.0 is invalid" in result.output


def test_run_certified_model_without_chain():
    result = runner.invoke(
        app,
        ["run", "--certified", "--no-bounds", "--model", "torch.nn:Identity", *FAST],
    )
    assert result.exit_code == 2
    assert "error: certified bounds need a chain of Linear layers" in result.output
