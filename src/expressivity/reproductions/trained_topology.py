"""Trained networks and the Betti numbers of each class after every layer.

A run trains one fully connected network on a synthetic set from
``expressivity.topology.synthetic`` until its training accuracy is 1 (or the
rounds and network seeds run out). Then ``topology_through_layers`` computes
the Betti numbers of each class at the input and after every layer. Each run
is one experiment in the SQLite results database, keyed by the SHA-256 of its
config, so a rerun reads finished runs back instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field

import torch

from expressivity.experiments import (
    ExperimentResult,
    MeasurementRow,
    ResultStore,
    SweepSummary,
)
from expressivity.experiments.config import TrainingConfig
from expressivity.experiments.experiment import software_versions
from expressivity.experiments.training import split_dataset, train_network
from expressivity.models import NetworkSpec, build_network
from expressivity.reproductions.runner import RunOptions
from expressivity.topology.layers import topology_through_layers
from expressivity.topology.synthetic import known_betti_numbers, make_synthetic

logger = logging.getLogger(__name__)

# Stored in every run's config, so its hash differs from any other study's.
REPRODUCTION = "naitzat2020"
INITIALISATION = {"relu": "he", "tanh": "glorot"}


@dataclass(frozen=True)
class DatasetSetup:
    """One data set and the network and complex used on it.

    Attributes
    ----------
    label
        Name in Naitzat, Zhitnikov and Lim (JMLR 2020): ``D-I``, ``D-II`` or
        ``D-III``.
    generator
        Name in ``expressivity.topology.synthetic.SYNTHETIC_SETS``.
    n_points
        Points per class.
    width, depth
        Hidden width and number of affine layers h (h - 1 hidden layers of
        ``width`` and a linear output layer of 2 logits).
    n_neighbors
        k of the symmetric k-nearest-neighbour graph.
    scale
        Vietoris-Rips scale in hops on the k-nearest-neighbour graph.
    max_dimension
        Highest Betti number computed: 1 in the plane, 2 in 3-D.
    """

    label: str
    generator: str
    n_points: int
    width: int
    depth: int
    n_neighbors: int
    scale: float
    max_dimension: int


@dataclass(frozen=True)
class Sizes:
    """Data sets, activations, seeds and training recipe of one run.

    Training runs ``epochs_per_round`` epochs at a time, up to ``max_rounds``
    rounds. It stops at the first round that ends with training accuracy 1
    and a mean training cross-entropy of at most ``max_loss``, so that the
    network is well trained and does not just separate the classes. A
    network that ends below accuracy 1 is redrawn with the next of
    ``attempts`` seeds (seed + 1000 * attempt). One at accuracy 1 above
    ``max_loss`` is kept, with its loss recorded.
    """

    datasets: tuple[DatasetSetup, ...]
    activations: tuple[str, ...] = ("relu", "tanh")
    seeds: tuple[int, ...] = (0, 1)
    data_seed: int = 0
    lr: float = 3e-3
    batch_size: int = 64
    epochs_per_round: int = 200
    max_rounds: int = 3
    attempts: int = 2
    test_fraction: float = 0.1
    max_loss: float = 1e-4


@dataclass
class RunResult:
    """Training outcome and Betti numbers of one (data set, activation, seed).

    Attributes
    ----------
    setup, activation, seed
        The grid point; ``seed`` is the requested seed.
    network_seed
        Seed of the network that was kept (seed + 1000 * attempt).
    epochs
        Epochs trained on the kept network.
    train_accuracy, test_accuracy
        Accuracies of the kept network after training.
    layer_names, class_names
        ``input``, then the layers; the class names in label order.
    betti
        ``betti[c][l]``: Betti numbers of class c at layer l.
    known
        Betti numbers of each class's shape, recorded by the generator.
    train_loss
        Mean training cross-entropy of the last epoch (None in runs stored
        without it).
    """

    setup: DatasetSetup
    activation: str
    seed: int
    network_seed: int
    epochs: int
    train_accuracy: float
    test_accuracy: float
    layer_names: list[str]
    class_names: list[str]
    betti: list[list[tuple[int, ...]]]
    known: list[tuple[int, ...]] = field(default_factory=list)
    train_loss: float | None = None

    @property
    def perfect(self) -> bool:
        return self.train_accuracy == 1.0


def run_config(sizes: Sizes, setup: DatasetSetup, activation: str, seed: int) -> dict:
    """Return the mapping that identifies one run in the results database."""
    recipe = {
        key: getattr(sizes, key)
        for key in (
            "data_seed",
            "lr",
            "batch_size",
            "epochs_per_round",
            "max_rounds",
            "attempts",
            "test_fraction",
            "max_loss",
        )
    }
    return {
        "reproduction": REPRODUCTION,
        "dataset": asdict(setup),
        "activation": activation,
        "seed": seed,
        **recipe,
    }


def config_hash(config: dict) -> str:
    """Return the SHA-256 of the config as sorted JSON."""
    text = json.dumps(config, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def train_to_perfect(
    sizes: Sizes, setup: DatasetSetup, activation: str, seed: int, dataset
) -> tuple[torch.nn.Module, int, int, float, float, float]:
    """Train networks until one reaches training accuracy 1, or give up.

    Returns the kept network (the first that reached accuracy 1, else the
    last one tried), its seed, its epochs, its training and test accuracy
    and its last training loss.
    """
    widths = (dataset.n_features, *[setup.width] * (setup.depth - 1), 2)
    recipe = TrainingConfig(
        optimizer="adam",
        lr=sizes.lr,
        epochs=sizes.epochs_per_round,
        batch_size=sizes.batch_size,
        normalize_inputs=False,
        test_fraction=sizes.test_fraction,
    )
    for attempt in range(sizes.attempts):
        network_seed = seed + 1000 * attempt
        network = build_network(
            NetworkSpec(
                widths=widths,
                activation=activation,
                init=INITIALISATION[activation],
                sigma_b=0.0,
                seed=network_seed,
            )
        )
        # Inputs are left unstandardised: the sets are already of order 1, and
        # standardising would stretch the thin z range of the 3-D sets and
        # change the neighbour graph at the input.
        split = split_dataset(
            dataset.features,
            dataset.labels,
            test_fraction=sizes.test_fraction,
            seed=network_seed,
            normalize=False,
        )
        epochs = 0
        for round_index in range(sizes.max_rounds):
            # Each round starts a fresh Adam state on the current weights.
            history = train_network(
                network, split, recipe, seed=network_seed + round_index
            )
            epochs += sizes.epochs_per_round
            final = history.final
            if history.status != "finished":
                break
            if final.train_accuracy == 1.0 and final.loss <= sizes.max_loss:
                break
        logger.info(
            "%s %s seed %d: training accuracy %.4f, loss %.3g after %d epochs",
            setup.label,
            activation,
            network_seed,
            final.train_accuracy,
            final.loss,
            epochs,
        )
        if final.train_accuracy == 1.0:
            break
    return (
        network,
        network_seed,
        epochs,
        final.train_accuracy,
        final.test_accuracy,
        final.loss,
    )


def compute_run(
    sizes: Sizes, setup: DatasetSetup, activation: str, seed: int
) -> ExperimentResult:
    """Train one network and measure the Betti numbers of each class per layer."""
    config = run_config(sizes, setup, activation, seed)
    result = ExperimentResult(
        config_hash=config_hash(config),
        config=config,
        started_at=time.time(),
        versions=software_versions(),
    )
    dataset = make_synthetic(
        setup.generator, n_points=setup.n_points, seed=sizes.data_seed
    )
    trained = train_to_perfect(sizes, setup, activation, seed, dataset)
    network, network_seed, epochs, train_accuracy, test_accuracy, loss = trained
    if not all(torch.isfinite(p).all() for p in network.parameters()):
        result.status = "diverged"
        result.error = (
            f"training diverged on all {sizes.attempts} network seeds; lower "
            f"the learning rate (now {sizes.lr:g})"
        )
        result.finished_at = time.time()
        return result

    for name, value in (
        ("network_seed", network_seed),
        ("epochs", epochs),
        ("train_accuracy", train_accuracy),
        ("test_accuracy", test_accuracy),
        ("train_loss", loss),
    ):
        result.rows.append(MeasurementRow("training", name, float(value)))

    topology = topology_through_layers(
        network,
        dataset.features,
        dataset.labels,
        class_names=list(dataset.class_names),
        n_neighbors=setup.n_neighbors,
        scale=setup.scale,
        max_dimension=setup.max_dimension,
        max_points=setup.n_points,
    )
    reason = (
        f"k={setup.n_neighbors} neighbour graph, Rips at {setup.scale:g} hops, "
        f"{setup.n_points} points per class"
    )
    for class_index, per_class in enumerate(topology.betti):
        for layer, betti in enumerate(per_class):
            for dimension, value in enumerate(betti):
                result.rows.append(
                    MeasurementRow(
                        "topology",
                        f"b{dimension}",
                        float(value),
                        layer=layer,
                        class_index=class_index,
                        reason=reason,
                    )
                )
    result.finished_at = time.time()
    return result


def read_run(record_rows: list[dict], setup: DatasetSetup, activation: str, seed: int):
    """Rebuild a ``RunResult`` from the measurement rows of one stored run."""
    training = {
        row["name"]: row["value"] for row in record_rows if row["family"] == "training"
    }
    counts: dict[tuple[int, int], dict[int, int]] = {}
    for row in record_rows:
        if row["family"] != "topology":
            continue
        dimension = int(row["name"][1:])
        key = (row["class_index"], row["layer"])
        counts.setdefault(key, {})[dimension] = int(row["value"])
    n_classes = 1 + max(c for c, _ in counts)
    n_layers = 1 + max(layer for _, layer in counts)
    betti = [
        [
            tuple(counts[(c, layer)][d] for d in range(setup.max_dimension + 1))
            for layer in range(n_layers)
        ]
        for c in range(n_classes)
    ]
    dataset = make_synthetic(setup.generator, n_points=9, seed=0)
    known = known_betti_numbers(dataset)
    return RunResult(
        setup=setup,
        activation=activation,
        seed=seed,
        network_seed=int(training["network_seed"]),
        epochs=int(training["epochs"]),
        train_accuracy=training["train_accuracy"],
        test_accuracy=training["test_accuracy"],
        layer_names=["input", *[f"layer {k}" for k in range(1, n_layers)]],
        class_names=list(dataset.class_names),
        betti=betti,
        known=[known[name] for name in dataset.class_names],
        train_loss=training.get("train_loss"),
    )


def grid_points(sizes: Sizes) -> list[tuple[DatasetSetup, str, int]]:
    """Return every (data set, activation, seed) of ``sizes``, in run order."""
    return [
        (setup, activation, seed)
        for setup in sizes.datasets
        for activation in sizes.activations
        for seed in sizes.seeds
    ]


def run_all(
    sizes: Sizes, options: RunOptions
) -> tuple[list[RunResult], list[tuple[str, str]]]:
    """Run (or read back) every (data set, activation, seed) of ``sizes``.

    Returns the runs with Betti numbers and ``(label, error)`` of the runs
    whose training diverged on every network seed.
    """
    grid = grid_points(sizes)
    hashes = [config_hash(run_config(sizes, *point)) for point in grid]
    with ResultStore(options.database) as store:
        done = store.done_hashes()
        summary = SweepSummary(total=len(grid), skipped=sum(h in done for h in hashes))
        if options.on_start is not None:
            options.on_start(summary)

        started = time.time()
        for point, run_hash in zip(grid, hashes, strict=True):
            if run_hash in done:
                continue
            result = compute_run(sizes, *point)
            store.write(result, sweep=f"{REPRODUCTION}-{point[0].label}")
            summary.counts[result.status] = summary.counts.get(result.status, 0) + 1
            if options.on_result is not None:
                options.on_result(result, summary)
        summary.wall_s = time.time() - started

        records = {record.config_hash: record for record in store.experiments()}
        runs, failures = [], []
        for (setup, activation, seed), run_hash in zip(grid, hashes, strict=True):
            record = records[run_hash]
            if record.status != "finished":
                label = f"{setup.label} {activation} seed {seed}"
                failures.append((label, f"{record.status}: {record.error}"))
                continue
            rows = store.measurements(record.id)
            runs.append(read_run(rows, setup, activation, seed))
        return runs, failures
