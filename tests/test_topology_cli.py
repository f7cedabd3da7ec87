"""The ``expressivity topology`` command."""

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.models import FullyConnected, make_activation, save_network

runner = CliRunner()

FAST = ["--resolution", "16,32", "--widths", "6,2"]


def _error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def _disk_weights(path):
    # f_0 = 1 - x_1^2 - x_2^2, f_1 = 0: class 0 is the unit disk.
    first = nn.Linear(2, 2, dtype=torch.float64)
    last = nn.Linear(2, 2, dtype=torch.float64)
    with torch.no_grad():
        first.weight.copy_(torch.eye(2))
        first.bias.zero_()
        last.weight.copy_(torch.tensor([[-1.0, -1.0], [0.0, 0.0]]))
        last.bias.copy_(torch.tensor([1.0, 0.0]))
    save_network(FullyConnected([first, last], make_activation("quadratic")), path)
    return path


def test_topology_disk_end_to_end(tmp_path):
    weights = _disk_weights(tmp_path / "disk.safetensors")
    out, figure = tmp_path / "result.json", tmp_path / "slice.png"
    result = runner.invoke(
        app,
        [
            "topology",
            "--dataset",
            "nested_circles",
            "--weights",
            str(weights),
            "--box",
            "-2,2,-2,2",
            "--resolution",
            "32,64,96",
            "--threshold",
            "0.5",
            "--json",
            str(out),
            "--png",
            str(figure),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Decision regions on a 2-D slice" in result.output
    assert "8-connected" in result.output

    payload = json.loads(out.read_text())
    inside, outside = payload["classes"]
    assert inside["class_name"] == "inner"
    assert inside["betti_in_box"] == [1, 0]
    assert outside["betti_in_box"] == [1, 1]
    assert outside["betti_interior"] == [0, 1]
    assert inside["stable_from"] == 32
    assert inside["bound"]["degree"] == 2
    assert inside["bound"]["milnor_several"] == 6
    assert payload["convergence"]["resolutions"] == [32, 64, 96]
    assert payload["slice"]["bounds"] == [[-2.0, 2.0], [-2.0, 2.0]]
    assert payload["network"]["widths"] == [2, 2, 2]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_topology_layers_table(tmp_path):
    out = tmp_path / "result.json"
    result = runner.invoke(
        app,
        ["topology", *FAST, "--layers", "--max-points", "80", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "linears.0" in result.output
    layers = json.loads(out.read_text())["layers"]
    assert layers["layer_names"] == ["input", "linears.0", "linears.1"]
    assert layers["n_points"] == [80, 80]
    assert layers["method"] == "knn"


def test_topology_layers_plain_rips(tmp_path):
    out = tmp_path / "result.json"
    options = ["--layers", "--method", "rips", "--scale", "0.5", "--max-points", "60"]
    result = runner.invoke(app, ["topology", *FAST, *options, "--json", str(out)])
    assert result.exit_code == 0, result.output
    layers = json.loads(out.read_text())["layers"]
    assert layers["method"] == "rips"
    assert layers["scale"] == 0.5
    assert layers["n_neighbors"] is None


@pytest.mark.parametrize(
    ("options", "dimension", "description"),
    [
        (["--dataset", "digits", "--widths", "6,10"], 2, "through 3 points"),
        (
            ["--dataset", "digits", "--widths", "6,10", "--slice", "principal"],
            2,
            "principal",
        ),
        (
            ["--dataset", "linked_tori", "--slice", "random", "--examples", "5"],
            2,
            "random",
        ),
        (
            ["--dataset", "linked_tori", "--dimension", "3", "--resolution", "8,12"],
            3,
            "whole input space",
        ),
        (
            [
                "--dataset",
                "linked_tori",
                "--slice",
                "points",
                "--dimension",
                "3",
                "--examples",
                "0,1,2,2000",
                "--resolution",
                "8,12",
                "--no-persistence",
            ],
            3,
            "through 4 points",
        ),
    ],
)
def test_topology_slice_kinds(tmp_path, options, dimension, description):
    out = tmp_path / "result.json"
    arguments = ["topology", "--resolution", "16,24", *options, "--json", str(out)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["slice"]["dimension"] == dimension
    assert description in payload["slice"]["description"]
    betti = payload["classes"][0]["betti_in_box"]
    assert len(betti) == dimension


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--slice", "diagonal"], "unknown --slice 'diagonal'"),
        (["--resolution", "32,16"], "strictly increasing"),
        (["--resolution", "32,x"], "invalid --resolution"),
        (["--resolution", "4096"], "out of range"),
        (["--box", "1,2,3"], "invalid --box"),
        (["--threshold", "-1"], "--threshold -1.0 is invalid"),
        (["--dimension", "4"], "--dimension 4 is invalid"),
        (["--construction", "edges"], "unknown --construction 'edges'"),
        (["--dataset", "digits", "--examples", "0,1"], "needs 3"),
        (["--dataset", "digits", "--examples", "0,1,9999"], "index 9999 is out"),
        (["--dataset", "nosuchset"], "synthetic topology sets: nine_disks"),
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--layers", "--method", "alpha"], "unknown --method 'alpha'"),
    ],
)
def test_topology_bad_options_give_one_line(options, fragment):
    result = runner.invoke(app, ["topology", *FAST, *options])
    assert result.exit_code == 2, result.output
    lines = _error_lines(result)
    assert len(lines) == 1, result.output
    assert fragment in lines[0]


def test_figure_of_3d_slice(tmp_path):
    from expressivity.models import NetworkSpec, build_network
    from expressivity.topology import input_space_slice, margin_persistence, rasterize
    from expressivity.topology.plotting import plot_slice, save_topology_figure

    network = build_network(NetworkSpec((3, 5, 3), sigma_b=1.0))
    raster = rasterize(network, input_space_slice(3, bounds=[[-1, 1]] * 3), 10)
    diagrams = [margin_persistence(raster, i) for i in range(3)]
    path = save_topology_figure(raster, diagrams, tmp_path / "cube.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    ax = plot_slice(raster)
    # A 3-D raster is drawn through its middle section along the third axis.
    image = ax.get_images()[0].get_array()
    assert image.shape == (10, 10)
    assert (image == raster.labels[:, :, 5].T).all()
