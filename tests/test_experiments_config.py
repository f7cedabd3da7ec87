"""Experiment and sweep configs: YAML loading, validation and grid expansion."""

from __future__ import annotations

import itertools

import pytest

from expressivity.errors import ConfigurationError
from expressivity.experiments import ExperimentConfig, load_config

BASE = """
name: scan
dataset: digits
network:
  depth: 3
  width: 16
  activation: quadratic
paths: {kind: circle, count: 2}
measurements: {samples: 17}
"""


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_grid_expands_to_product(tmp_path):
    text = BASE + (
        "grid:\n  depth: [2, 4]\n  network.sigma_w: [0.5, 1.0, 2.0]\n"
        "  seed: [0, 1]\n  activation: [quadratic, tanh]\n"
    )
    experiments = load_config(write(tmp_path, text)).experiments()

    assert len(experiments) == 2 * 3 * 2 * 2
    combos = {
        (e.network.depth, e.network.sigma_w, e.seed, e.network.activation)
        for e in experiments
    }
    expected = set(
        itertools.product([2, 4], [0.5, 1.0, 2.0], [0, 1], ["quadratic", "tanh"])
    )
    assert combos == expected
    assert all(e.network.width == 16 for e in experiments)
    assert len({e.config_hash() for e in experiments}) == len(experiments)


def test_config_without_grid_is_one_experiment(tmp_path):
    experiments = load_config(write(tmp_path, BASE)).experiments()

    assert len(experiments) == 1
    assert experiments[0].paths.count == 2
    assert experiments[0].network.layer_widths(64, 10) == (64, 16, 16, 10)


def test_grid_over_widths_replaces_depth(tmp_path):
    text = BASE + "grid:\n  widths: [[8, 10], [8, 8, 10]]\n"
    experiments = load_config(write(tmp_path, text)).experiments()

    assert [e.network.layer_widths(64, 10) for e in experiments] == [
        (64, 8, 10),
        (64, 8, 8, 10),
    ]


def test_hash_depends_on_every_field():
    first = ExperimentConfig.model_validate({"network": {"depth": 2, "width": 4}})
    same = ExperimentConfig.model_validate(
        {"network": {"width": 4, "depth": 2}, "seed": 0}
    )
    other = ExperimentConfig.model_validate(
        {"network": {"depth": 2, "width": 4}, "measurements": {"rtol": 1e-5}}
    )

    assert first.config_hash() == same.config_hash()
    assert first.config_hash() != other.config_hash()


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (
            ("activation: quadratic", "activation: swish"),
            ["network.activation", "'quadratic'", "'tanh'", "swish"],
        ),
        (("depth: 3", "depth: -2"), ["network.depth", "greater than or equal to 1"]),
        (("count: 2", "count: 0"), ["paths.count"]),
        (("kind: circle", "kind: spiral"), ["paths.kind", "'polyline'"]),
        (("dataset: digits", "datset: digits"), ["datset", "unknown field"]),
        (("dataset: digits", "dataset: digitz"), ["field dataset", "mnist"]),
    ],
)
def test_invalid_field_is_named(tmp_path, edit, fragments):
    text = BASE.replace(*edit)

    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, text))

    for fragment in fragments:
        assert fragment in str(caught.value)


def test_unknown_grid_field_is_named(tmp_path):
    text = BASE + "grid:\n  network.depht: [1, 2]\n"

    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, text))

    message = str(caught.value)
    assert "network.depht" in message
    assert "does not exist" in message
    assert "depth" in message


def test_unknown_grid_alias_lists_short_names(tmp_path):
    text = BASE + "grid:\n  sigma: [1, 2]\n"

    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, text))

    assert "'sigma'" in str(caught.value)
    assert "sigma_w" in str(caught.value)


def test_invalid_grid_value_names_grid_point(tmp_path):
    text = BASE + "grid:\n  depth: [2, -1]\n  seed: [0]\n"

    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, text))

    message = str(caught.value)
    assert "depth=-1" in message
    assert "network.depth" in message


@pytest.mark.parametrize("text", ["- depth: 3\n- width: 4\n", "just a string\n", ""])
def test_yaml_not_mapping_is_rejected(tmp_path, text):
    with pytest.raises(ConfigurationError, match="must be a YAML mapping"):
        load_config(write(tmp_path, text))


def test_invalid_yaml_is_rejected(tmp_path):
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_config(write(tmp_path, "network: {depth: [\n"))


def test_yaml_tags_are_not_executed(tmp_path):
    text = "network: !!python/object/apply:os.system ['echo unsafe']\n"

    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("network", "fragment"),
    [
        ({"widths": [8, 10], "depth": 2}, "not both"),
        ({"activation": "quadratic"}, "give widths"),
        ({"depth": 2, "width": 4, "activation": "polynomial"}, "coefficients"),
        ({"depth": 2, "width": 4, "sigma_w": float("nan")}, "network.sigma_w"),
    ],
)
def test_network_shape_rules(network, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        load_config({"network": network})


def test_checkpoint_epoch_outside_training_is_rejected():
    payload = {
        "network": {"depth": 2, "width": 4},
        "training": {"epochs": 3, "checkpoint_epochs": [0, 5]},
    }

    with pytest.raises(ConfigurationError, match="checkpoint epoch 5"):
        load_config(payload)


def test_measured_epochs_default_to_first_and_last():
    config = load_config(
        {"network": {"depth": 2, "width": 4}, "training": {"epochs": 7}}
    ).base

    assert config.training.measured_epochs() == [0, 7]
