"""Training: accuracy on the 8x8 digits, divergence, clipping, checkpoints."""

from __future__ import annotations

import pytest
import torch

from expressivity.experiments import (
    TrainingConfig,
    load_config,
    run_experiment,
    split_dataset,
    train_network,
)
from expressivity.models import (
    NetworkSpec,
    build_network,
    load_network,
    make_activation,
)

# A quadratic network 64-16-10 trained with Adam reaches about 0.95 test
# accuracy on the digits in 10 epochs; the test requires 0.9.
TRAINED = {
    "name": "digits-quadratic",
    "dataset": "digits",
    "network": {"widths": [16, 10], "activation": "quadratic"},
    "training": {
        "optimizer": "adam",
        "lr": 1e-2,
        "epochs": 10,
        "batch_size": 64,
        "clip_grad_norm": 1.0,
        "normalize_inputs": True,
        "checkpoint_epochs": [0, 5, 10],
    },
    "paths": {"kind": "line", "count": 1},
    "measurements": {"samples": 9, "rtol": 1e-5},
}


def digits():
    from expressivity.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    return run_experiment(load_config(TRAINED).base, checkpoint_dir=str(folder))


def test_quadratic_network_learns_digits(trained):
    result = trained

    assert result.status == "finished", result.error
    accuracy = {
        row.epoch: row.value for row in result.rows if row.name == "test_accuracy"
    }
    assert sorted(accuracy) == list(range(11))
    assert accuracy[10] >= 0.9
    assert accuracy[0] < 0.5
    measured = {row.epoch for row in result.rows if row.family == "length"}
    assert measured == {0, 5, 10}
    growth_rows = [
        row
        for row in result.rows
        if row.family == "length" and row.name == "growth" and row.layer == 2
    ]
    assert len(growth_rows) == 3


def test_checkpoints_reload_to_same_network(trained):
    config = load_config(TRAINED).base
    result = trained
    files = {
        a.epoch: a.meta["file"] for a in result.artifacts if a.name == "checkpoint"
    }

    assert sorted(files) == [0, 5, 10]
    activation = make_activation("quadratic", ())
    first = load_network(files[0], activation)
    last = load_network(files[10], activation)
    initial = build_network(
        NetworkSpec(widths=(64, 16, 10), activation="quadratic", seed=config.seed)
    )
    for loaded, reference in zip(first.linears, initial.linears, strict=True):
        assert torch.equal(loaded.weight, reference.weight)
    assert not torch.equal(first.linears[0].weight, last.linears[0].weight)

    # The last checkpoint reproduces the recorded final test accuracy.
    dataset = digits()
    split = split_dataset(
        dataset.features,
        dataset.labels,
        test_fraction=0.25,
        seed=config.seed,
        normalize=True,
    )
    predictions = last(split.test_features).argmax(dim=1)
    accuracy = float((predictions == split.test_labels).double().mean())
    recorded = [
        r.value for r in result.rows if r.name == "test_accuracy" and r.epoch == 10
    ]
    assert recorded == [accuracy]


def test_huge_learning_rate_is_reported_as_diverged():
    config = {
        **TRAINED,
        "training": {
            "optimizer": "sgd",
            "lr": 1e4,
            "epochs": 3,
            "normalize_inputs": False,
        },
    }

    result = run_experiment(load_config(config).base)

    assert result.status == "diverged"
    assert "training diverged in epoch 1" in result.error
    assert "lower training.lr (now 10000)" in result.error
    assert "clip_grad_norm" in result.error
    epochs = {row.epoch for row in result.rows if row.name == "test_accuracy"}
    assert epochs == {0}


def test_split_standardises_with_training_statistics():
    dataset = digits()

    split = split_dataset(
        dataset.features, dataset.labels, test_fraction=0.2, seed=3, normalize=True
    )

    n = dataset.features.shape[0]
    assert split.test_features.shape[0] == round(0.2 * n)
    assert split.train_features.shape[0] + split.test_features.shape[0] == n
    std = split.train_features.std(dim=0)
    raw_train = split.train_features * split.scale + split.mean
    constant = raw_train.std(dim=0) == 0
    zeros = torch.zeros(64, dtype=torch.float64)
    assert constant.any()
    assert torch.allclose(split.train_features.mean(dim=0), zeros, atol=1e-12)
    assert torch.allclose(std[~constant], torch.ones_like(std[~constant]))
    assert torch.all(split.scale[constant] == 1)
    # Every example lands in exactly one split.
    restored = torch.cat([split.train_features, split.test_features]) * split.scale
    restored = restored + split.mean
    assert torch.allclose(
        restored.sort(dim=0).values, dataset.features.sort(dim=0).values
    )


def test_clipping_limits_the_step():
    dataset = digits()
    split = split_dataset(
        dataset.features, dataset.labels, test_fraction=0.25, seed=0, normalize=True
    )
    network = build_network(NetworkSpec(widths=(64, 8, 10), seed=1))
    before = torch.cat([p.detach().flatten().clone() for p in network.parameters()])
    lr, clip = 0.5, 1e-3
    recipe = TrainingConfig(
        optimizer="sgd",
        lr=lr,
        epochs=1,
        batch_size=split.train_features.shape[0],
        clip_grad_norm=clip,
    )

    result = train_network(network, split, recipe)

    after = torch.cat([p.detach().flatten() for p in network.parameters()])
    assert result.status == "finished"
    # One full-batch SGD step moves the weights by lr times the clipped
    # gradient, whose norm is the clip value (the raw gradient is larger);
    # clip_grad_norm_ divides by the norm plus 1e-6, hence the tolerance.
    step = torch.linalg.vector_norm(after - before).item()
    assert step == pytest.approx(lr * clip, rel=1e-5)
    assert step <= lr * clip
