"""The naitzat2020 verdict on hand-made Betti sequences, and a reduced run."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.experiments import ResultStore
from expressivity.models import NetworkSpec, build_network
from expressivity.reproductions import (
    RunOptions,
    get_reproduction,
    naitzat2020,
    trained_topology,
)
from expressivity.reproductions.naitzat2020 import (
    DatasetSetup,
    RunResult,
    Sizes,
    betti_excess,
    ends_simple,
    input_matches,
    layers_to_simplify,
    relu_not_slower,
    verdict_rows,
)

POINT = (1, 0)
DISKS_IN = (9, 0)
COMPLEMENT_IN = (1, 9)
KNOWN = [DISKS_IN, COMPLEMENT_IN]
SETUP = DatasetSetup("D-I", "nine_disks", 1000, 15, 4, 35, 2.0, 1)


def _betti(disks: list[tuple[int, int]], complement: list[tuple[int, int]]):
    return [disks, complement]


def _run(activation: str, seed: int, betti, train_accuracy: float = 1.0) -> RunResult:
    return RunResult(
        setup=SETUP,
        activation=activation,
        seed=seed,
        network_seed=seed,
        epochs=100,
        train_accuracy=train_accuracy,
        test_accuracy=train_accuracy,
        layer_names=["input", *[f"layer {k}" for k in range(1, len(betti[0]))]],
        class_names=["disks", "complement"],
        betti=betti,
        known=KNOWN,
    )


# Simplifies at layer 2 (ReLU-like) and at layer 4 (tanh-like) of 5 layers.
FAST = _betti(
    [DISKS_IN, (3, 0), POINT, POINT, POINT],
    [COMPLEMENT_IN, (1, 2), POINT, POINT, POINT],
)
SLOW = _betti(
    [DISKS_IN, (9, 0), (5, 0), (2, 0), POINT],
    [COMPLEMENT_IN, (1, 9), (1, 4), (1, 1), POINT],
)


def _rows_by_label(runs):
    return {row.label: row for row in verdict_rows(runs)}


# --- layers to simplify ----------------------------------------------------------


def test_layers_to_simplify_first_simple_layer():
    assert layers_to_simplify(FAST) == 2
    assert layers_to_simplify(SLOW) == 4


def test_layers_to_simplify_needs_every_later_layer():
    # Simple at layer 1, not at layer 2, simple again from layer 3.
    betti = _betti(
        [DISKS_IN, POINT, (2, 0), POINT, POINT],
        [COMPLEMENT_IN, POINT, POINT, POINT, POINT],
    )
    assert layers_to_simplify(betti) == 3


def test_layers_to_simplify_needs_every_class():
    betti = _betti(
        [DISKS_IN, POINT, POINT],
        [COMPLEMENT_IN, (1, 9), (1, 1)],
    )
    assert layers_to_simplify(betti) is None


def test_layers_to_simplify_in_3d():
    betti = [[(9, 9, 0), (1, 0, 1), (1, 0, 0)], [(9, 9, 0), (1, 0, 0), (1, 0, 0)]]
    assert layers_to_simplify(betti) == 2


def test_layers_to_simplify_rejects_ragged():
    with pytest.raises(ValueError, match="same number of layers"):
        layers_to_simplify([[DISKS_IN, POINT], [COMPLEMENT_IN]])


def test_input_and_last_layer_checks():
    assert input_matches(FAST, KNOWN)
    assert not input_matches(FAST, [DISKS_IN, (1, 8)])
    assert ends_simple(SLOW)
    assert not ends_simple(_betti([DISKS_IN, (2, 0)], [COMPLEMENT_IN, POINT]))


def test_relu_not_slower_compares_means():
    passed, text = relu_not_slower([2, 3], [4, 4], n_layers=5)
    assert passed
    assert "relu 2.5" in text
    assert "tanh 4" in text
    assert not relu_not_slower([4, 4], [2, 3], n_layers=5)[0]
    # Equal means pass: "no more layers than tanh".
    assert relu_not_slower([3], [3], n_layers=5)[0]


def test_relu_never_simplifying_counts_past_last_layer():
    passed, text = relu_not_slower([None], [4], n_layers=5)
    assert not passed
    assert "never" in text
    assert relu_not_slower([4], [None], n_layers=5)[0]


def test_relu_not_slower_needs_both_activations():
    assert not relu_not_slower([], [3], n_layers=5)[0]


def test_relu_not_slower_fails_when_neither_simplifies():
    passed, text = relu_not_slower([None, None], [None], n_layers=5)
    assert not passed
    assert "no ReLU network simplifies" in text


def test_betti_excess_hand_values():
    # Layer 0: (9-1) + 0 + (1-1) + 9 = 17; layer 1: 2 + 0 + 0 + 2 = 4.
    assert betti_excess(FAST).tolist() == [17.0, 4.0, 0.0, 0.0, 0.0]
    three_d = [[(9, 9, 0), (1, 0, 1)], [(9, 0, 9), (1, 0, 0)]]
    assert betti_excess(three_d).tolist() == [17.0 + 17.0, 1.0]


# --- verdict rows on hand-made runs ----------------------------------------------


def test_verdict_passes_when_relu_is_faster():
    runs = [_run("relu", 0, FAST), _run("relu", 1, FAST), _run("tanh", 0, SLOW)]
    rows = verdict_rows(runs)
    checked = [row for row in rows if row.passed is not None]
    assert all(row.passed for row in checked), [r for r in checked if not r.passed]
    assert len(checked) == 5
    excess = _rows_by_label(runs)["D-I: Betti excess per layer, mean over seeds"]
    assert excess.passed is None
    assert "relu: 17 4 0 0 0" in excess.tool
    assert "tanh: 17 17 8 2 0" in excess.tool


def test_verdict_fails_when_tanh_is_faster():
    rows = _rows_by_label([_run("relu", 0, SLOW), _run("tanh", 0, FAST)])
    speed = rows["D-I: layers to simplify, relu against tanh"]
    assert speed.passed is False
    assert rows["D-I relu: last layer (output logits)"].passed


def test_verdict_fails_on_wrong_input_betti():
    wrong = _betti(
        [DISKS_IN, (3, 0), POINT, POINT, POINT],
        [(1, 8), (1, 2), POINT, POINT, POINT],
    )
    rows = _rows_by_label([_run("relu", 0, wrong), _run("tanh", 0, SLOW)])
    assert rows["D-I relu: input Betti numbers"].passed is False
    assert rows["D-I tanh: input Betti numbers"].passed


def test_verdict_fails_when_class_stays_split():
    stuck = _betti(
        [DISKS_IN, (5, 0), (2, 0), (2, 0), (2, 0)],
        [COMPLEMENT_IN, POINT, POINT, POINT, POINT],
    )
    rows = _rows_by_label([_run("relu", 0, FAST), _run("tanh", 0, stuck)])
    assert rows["D-I tanh: last layer (output logits)"].passed is False
    assert "(2,0)" in rows["D-I tanh: last layer (output logits)"].tool
    # A tanh network that never simplifies cannot be faster than ReLU.
    assert rows["D-I: layers to simplify, relu against tanh"].passed


def test_verdict_ignores_networks_below_accuracy_one():
    # The imperfect ReLU network simplifies late; it must not enter the mean.
    runs = [
        _run("relu", 0, FAST),
        _run("relu", 1, SLOW, train_accuracy=0.99),
        _run("tanh", 0, _betti([DISKS_IN, (2, 0), (1, 0), POINT, POINT], FAST[1])),
    ]
    rows = _rows_by_label(runs)
    last = rows["D-I relu: last layer (output logits)"]
    assert "1 of 2 networks never reached training accuracy 1" in last.tool
    speed = rows["D-I: layers to simplify, relu against tanh"]
    assert speed.passed
    assert "relu 2 [2]" in speed.tool


def test_verdict_fails_when_no_network_is_trained():
    rows = _rows_by_label([_run("relu", 0, FAST, 0.9), _run("tanh", 0, SLOW, 0.9)])
    assert rows["D-I relu: last layer (output logits)"].passed is False
    assert rows["D-I: layers to simplify, relu against tanh"].passed is False


# --- reduced run end to end ------------------------------------------------------

# One seed of each activation on D-I at the small default's 1000 points per
# class, the size at which the input Betti numbers are right. The network is
# shallow and trained for 5 epochs to keep the test short, so only the input
# rows are asserted.
TINY = Sizes(
    datasets=(DatasetSetup("D-I", "nine_disks", 1000, 8, 3, 35, 2.0, 1),),
    seeds=(0,),
    epochs_per_round=5,
    max_rounds=1,
    attempts=1,
)


def test_reduced_run_stores_and_resumes(tmp_path):
    options = RunOptions(database=tmp_path / "n.sqlite", figures=tmp_path / "fig")
    report = naitzat2020.reproduce(options, TINY)

    labels = [row.label for row in report.rows]
    assert "D-I relu: input Betti numbers" in labels
    assert "D-I: layers to simplify, relu against tanh" in labels
    assert all(row.passed for row in report.rows if "input" in row.label)
    assert report.figures[0].exists()
    table = report.tables[0]
    assert len(table.rows) == 2
    # Input, 2 hidden layers and the output: 4 Betti tuples per class.
    assert table.rows[0][5].count("(") == 2 * 4

    with ResultStore(options.database) as store:
        records = store.experiments()
    assert len(records) == 2
    assert {r.status for r in records} == {"finished"}

    # A rerun reads every run back instead of training again.
    started = []
    rerun = RunOptions(
        database=options.database,
        figures=None,
        on_start=started.append,
        on_result=lambda result, summary: pytest.fail("a stored run was redone"),
    )
    again = naitzat2020.reproduce(rerun, TINY)
    assert started[0].skipped == 2
    assert [row.tool for row in again.rows] == [row.tool for row in report.rows]
    assert again.tables[0].rows == table.rows


def test_reproduce_command_prints_run_table(tmp_path, monkeypatch):
    monkeypatch.setattr(naitzat2020, "SMALL", TINY)
    markdown = tmp_path / "table.md"
    result = CliRunner().invoke(
        app,
        [
            "reproduce",
            "naitzat2020",
            "--db",
            str(tmp_path / "n.sqlite"),
            "--figures",
            str(tmp_path / "fig"),
            "--markdown",
            str(markdown),
        ],
    )
    text = markdown.read_text()
    assert result.exit_code == (3 if "| FAIL |" in text else 0), result.output
    # Rich folds long cells at the test terminal's width, so short words only.
    assert "Networks:" in result.output
    assert "relu against tanh" in text
    assert "| D-I | relu | 0 (network 0) |" in text
    assert get_reproduction("naitzat2020") is naitzat2020


def test_diverged_run_is_listed_not_measured(tmp_path, monkeypatch):
    def diverged(sizes, setup, activation, seed, dataset):
        network = build_network(NetworkSpec(widths=(2, 3, 2), activation=activation))
        with torch.no_grad():
            network.linears[0].weight.fill_(float("nan"))
        return network, seed, 5, 0.5, 0.5, float("nan")

    monkeypatch.setattr(trained_topology, "train_to_perfect", diverged)
    options = RunOptions(database=tmp_path / "d.sqlite", figures=None)
    report = naitzat2020.reproduce(options, TINY)

    assert report.rows == []
    assert report.tables[0].rows == []
    assert len(report.failed_experiments) == 2
    label, error = report.failed_experiments[0]
    assert label == "D-I relu seed 0"
    assert error.startswith("diverged: training diverged on all 1 network seeds")
    with ResultStore(options.database) as store:
        assert {r.status for r in store.experiments()} == {"diverged"}


@pytest.mark.parametrize(("sizes", "expected"), [("SMALL", 4), ("FULL", 30)])
def test_grid_sizes_match_docs(sizes, expected):
    sizes = getattr(naitzat2020, sizes)
    points = trained_topology.grid_points(sizes)
    hashes = {
        trained_topology.config_hash(trained_topology.run_config(sizes, *point))
        for point in points
    }
    assert len(points) == expected
    assert len(hashes) == expected


def test_training_continues_until_loss_target(monkeypatch):
    # Accuracy 1 is reached in the first round, the loss target only in the
    # third, so training must run three rounds and report the last loss.
    from expressivity.experiments.training import EpochRecord, TrainingResult
    from expressivity.topology.synthetic import make_synthetic

    losses = iter([0.1, 1e-3, 1e-5, 1e-7])

    def fake_training(network, split, recipe, seed):
        record = EpochRecord(recipe.epochs, next(losses), 1.0, 1.0)
        return TrainingResult(history=[record])

    monkeypatch.setattr(trained_topology, "train_network", fake_training)
    sizes = Sizes(datasets=TINY.datasets, epochs_per_round=5, max_rounds=4)
    dataset = make_synthetic("nine_disks", n_points=20, seed=0)
    trained = trained_topology.train_to_perfect(
        sizes, TINY.datasets[0], "relu", 0, dataset
    )
    _, network_seed, epochs, train_accuracy, _, loss = trained
    assert epochs == 15
    assert loss == 1e-5
    assert train_accuracy == 1.0
    assert network_seed == 0
