"""``expressivity run --model module:factory --state-dict FILE.safetensors``."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.data import load_dataset
from expressivity.measurement import measure
from expressivity.models.factory import load_factory_model
from expressivity.paths import circle_through

runner = CliRunner()
FAST = ["--samples", "9", "--tolerance", "1e-5", "--examples", "0,1"]

USER_MODULE = textwrap.dedent(
    """
    import torch
    from torch import nn

    from expressivity.models.zoo import image_cnn


    def digits_cnn():
        return image_cnn((1, 8, 8), 10, activation="tanh", channels=(2,), hidden=4)


    def shaped_cnn():
        # Takes (batch, 1, 8, 8) inputs: measured with --input-shape 1,8,8.
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(72, 10)
        ).double()


    def gelu_cnn():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.GELU(),
            nn.Flatten(), nn.Linear(72, 10),
        ).double()


    NOT_A_FACTORY = 3


    def broken():
        raise RuntimeError("factory exploded")
    """
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "arch_user_models.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("arch_user_models", None)
    return folder


def _trained_weights(tmp_path, spec):
    """A state dict that differs from the factory's initialisation."""
    model = load_factory_model(spec)
    generator = torch.Generator().manual_seed(7)
    state = {
        key: value + 0.1 * torch.randn(value.shape, generator=generator).to(value)
        if value.is_floating_point()
        else value
        for key, value in model.state_dict().items()
    }
    path = tmp_path / "weights.safetensors"
    save_file(state, str(path))
    return path, state


def test_run_model_with_state_dict(tmp_path, user_module):
    spec = "arch_user_models:digits_cnn"
    weights, state = _trained_weights(tmp_path, spec)
    out = tmp_path / "result.json"
    result = runner.invoke(
        app,
        ["run", "--model", spec, "--state-dict", str(weights), "--json", str(out)]
        + FAST,
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["network"]["model"] == spec
    assert payload["network"]["product_bounds"] == "available"
    assert [layer["name"] for layer in payload["layers"]] == ["1", "5", "7"]
    assert payload["product_bounds"] == "available"
    u3 = [b for b in payload["bounds"] if b["name"] == "U3" and b["layer"] == 3]
    assert u3[0]["kind"] == "estimate"

    # The same measurement made directly on the model with those weights.
    model = load_factory_model(spec)
    model.load_state_dict(state)
    data = load_dataset("digits")
    points = data.features[[0, 1]]
    circle = circle_through(
        points[0], points[1], generator=torch.Generator().manual_seed(0)
    )
    direct = measure(model.eval(), circle, rtol=1e-5, bounds=False)
    assert payload["layers"][-1]["length"] == pytest.approx(
        direct.lengths.output_length, rel=1e-4
    )


def test_run_model_with_input_shape(tmp_path, user_module):
    out = tmp_path / "result.json"
    result = runner.invoke(
        app,
        [
            "run",
            "--model",
            "arch_user_models:shaped_cnn",
            "--input-shape",
            "1,8,8",
            "--json",
            str(out),
        ]
        + FAST,
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["network"]["input_shape"] == [1, 8, 8]
    assert [layer["width"] for layer in payload["layers"]] == [72, 10]


def test_run_unsupported_model_names_module(tmp_path, user_module):
    out = tmp_path / "result.json"
    result = runner.invoke(
        app,
        ["run", "--model", "arch_user_models:gelu_cnn", "--json", str(out)] + FAST,
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert "GELU" in payload["product_bounds"]
    u3 = [b for b in payload["bounds"] if b["name"] == "U3"]
    assert u3[0]["kind"] == "not_applicable"
    u1 = [b for b in payload["bounds"] if b["name"] == "U1"]
    assert u1[0]["kind"] == "exact"


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--model", "no_colon"], "module:factory"),
        (["--model", "arch_no_such_module:f"], "could not import"),
        (["--model", "arch_user_models:missing"], "no attribute 'missing'"),
        (["--model", "arch_user_models:NOT_A_FACTORY"], "not callable"),
        (
            ["--model", "arch_user_models:broken"],
            "raised RuntimeError: factory exploded",
        ),
        (["--model", "arch_user_models:shaped_cnn", "--input-shape", "1,x"], "1,x"),
        (["--model", "arch_user_models:shaped_cnn", "--input-shape", "1,9,9"], "81"),
        (["--input-shape", "1,8,8"], "only with --model"),
    ],
)
def test_run_model_bad_options(options, fragment, user_module):
    result = runner.invoke(app, ["run", *options, *FAST])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert fragment in lines[0]


def test_run_state_dict_checks(tmp_path, user_module):
    spec = "arch_user_models:digits_cnn"
    pickle_like = tmp_path / "weights.pt"
    torch.save(load_factory_model(spec).state_dict(), pickle_like)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"other": torch.zeros(2)}, str(wrong))
    cases = [
        (pickle_like, "only .safetensors"),
        (wrong, "does not fit"),
        (tmp_path / "missing.safetensors", "not found"),
    ]
    for path, fragment in cases:
        result = runner.invoke(
            app, ["run", "--model", spec, "--state-dict", str(path), *FAST]
        )
        assert result.exit_code == 2, result.output
        assert fragment in result.output


def test_run_model_through_pythonpath(tmp_path, user_module):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(user_module), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    out = tmp_path / "result.json"
    command = [
        sys.executable,
        "-c",
        "from expressivity.cli.main import app; app()",
        "run",
        "--model",
        "arch_user_models:digits_cnn",
        "--bounds",
        "--json",
        str(out),
        *FAST,
    ]
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(out.read_text())["network"]["type"] == "Sequential"
