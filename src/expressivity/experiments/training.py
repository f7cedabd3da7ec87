"""Supervised training of a network with cross-entropy, with divergence detection.

Quadratic networks are polynomial maps of high degree, so a step that is too
large sends the loss to infinity within a few batches. The usual remedies are
options of ``TrainingConfig``: gradient-norm clipping, float64 weights and
inputs standardised with the training split's mean and standard deviation.
A non-finite loss or weight stops training with status ``diverged``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.experiments.config import TrainingConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSplit:
    """Training and test examples, with the standardisation that was applied.

    Attributes
    ----------
    train_features, test_features
        Features of shape (n_examples, n_features).
    train_labels, test_labels
        Integer labels of shape (n_examples,).
    mean, scale
        Per-feature shift and scale applied to both splits (zeros and ones
        when the inputs were not normalised), of shape (n_features,).
    """

    train_features: torch.Tensor
    train_labels: torch.Tensor
    test_features: torch.Tensor
    test_labels: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor

    def transform(self, features: torch.Tensor) -> torch.Tensor:
        """Apply the split's standardisation to other features."""
        return (features - self.mean) / self.scale


@dataclass(frozen=True)
class EpochRecord:
    """Mean training loss and accuracies after one epoch (epoch 0: at init)."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float


@dataclass
class TrainingResult:
    """History of a training run and how it ended.

    Attributes
    ----------
    status
        ``finished`` or ``diverged``.
    message
        Why training stopped early, empty when it finished.
    diverged_epoch
        Epoch (1-based) in which the loss or a weight became non-finite.
    """

    history: list[EpochRecord] = field(default_factory=list)
    status: str = "finished"
    message: str = ""
    diverged_epoch: int | None = None

    @property
    def final(self) -> EpochRecord | None:
        return self.history[-1] if self.history else None


def split_dataset(
    features: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    test_fraction: float,
    seed: int,
    normalize: bool,
    dtype: torch.dtype = torch.float64,
) -> DataSplit:
    """Shuffle with ``seed`` and split off ``test_fraction`` of the examples.

    With ``normalize`` every feature is standardised with the training
    split's mean and standard deviation; features that are constant there
    keep scale 1.
    """
    if labels is None:
        raise ConfigurationError(
            "training needs a labelled dataset; this dataset has no labels"
        )
    n_examples = features.shape[0]
    n_test = max(1, round(test_fraction * n_examples))
    if n_test >= n_examples:
        raise ConfigurationError(
            f"test_fraction {test_fraction} leaves no training examples out of "
            f"{n_examples}; lower training.test_fraction"
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_examples, generator=generator)
    test_index, train_index = order[:n_test], order[n_test:]

    features = features.to(dtype)
    train = features[train_index]
    mean = torch.zeros(features.shape[1], dtype=dtype)
    scale = torch.ones(features.shape[1], dtype=dtype)
    if normalize:
        mean = train.mean(dim=0)
        std = train.std(dim=0)
        scale = torch.where(std > 0, std, torch.ones_like(std))
    return DataSplit(
        train_features=(train - mean) / scale,
        train_labels=labels[train_index].long(),
        test_features=(features[test_index] - mean) / scale,
        test_labels=labels[test_index].long(),
        mean=mean,
        scale=scale,
    )


def make_optimizer(network: nn.Module, recipe: TrainingConfig) -> torch.optim.Optimizer:
    """Build the optimiser the recipe names."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            network.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
        )
    return torch.optim.Adam(
        network.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
    )


def accuracy(network: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of examples whose argmax output is the label."""
    with torch.no_grad():
        predictions = network(features).argmax(dim=1)
    return float((predictions == labels).double().mean())


def train_network(
    network: nn.Module,
    data: DataSplit,
    recipe: TrainingConfig,
    *,
    seed: int = 0,
    on_epoch: Callable[[int], None] | None = None,
) -> TrainingResult:
    """Train ``network`` with mini-batch cross-entropy for ``recipe.epochs`` epochs.

    Parameters
    ----------
    network
        Module mapping (batch, n_features) to (batch, n_classes) logits; it is
        trained in place.
    data
        Training and test split, already in the network's dtype.
    recipe
        Optimiser, learning rate, epochs, batch size and gradient clipping.
    seed
        Seed of the batch order.
    on_epoch
        Called with 0 before training and with each epoch number after that
        epoch, for every epoch in ``recipe.measured_epochs()``.

    Returns
    -------
    TrainingResult
        The per-epoch history; status ``diverged`` when the loss or a weight
        became non-finite, with the epoch and a message saying what to change.
    """
    optimizer = make_optimizer(network, recipe)
    loss_function = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    measured = set(recipe.measured_epochs())
    result = TrainingResult()

    result.history.append(_evaluate(network, data, 0, math.nan))
    if on_epoch is not None and 0 in measured:
        on_epoch(0)

    n_train = data.train_features.shape[0]
    for epoch in range(1, recipe.epochs + 1):
        network.train()
        order = torch.randperm(n_train, generator=generator)
        total_loss = 0.0
        for start in range(0, n_train, recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            optimizer.zero_grad()
            loss = loss_function(
                network(data.train_features[batch]), data.train_labels[batch]
            )
            if not torch.isfinite(loss):
                return _diverged(result, recipe, epoch, f"the loss is {loss.item()}")
            loss.backward()
            if recipe.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(network.parameters(), recipe.clip_grad_norm)
            optimizer.step()
            total_loss += loss.item() * batch.numel()

        if not all(torch.isfinite(p).all() for p in network.parameters()):
            return _diverged(result, recipe, epoch, "a weight is not finite")
        network.eval()
        record = _evaluate(network, data, epoch, total_loss / n_train)
        result.history.append(record)
        logger.info(
            "epoch %d: loss %.4g, test accuracy %.3f",
            epoch,
            record.loss,
            record.test_accuracy,
        )
        if on_epoch is not None and epoch in measured:
            on_epoch(epoch)
    return result


def _evaluate(network: nn.Module, data: DataSplit, epoch: int, loss: float):
    return EpochRecord(
        epoch=epoch,
        loss=loss,
        train_accuracy=accuracy(network, data.train_features, data.train_labels),
        test_accuracy=accuracy(network, data.test_features, data.test_labels),
    )


def _diverged(
    result: TrainingResult, recipe: TrainingConfig, epoch: int, what: str
) -> TrainingResult:
    hints = [f"lower training.lr (now {recipe.lr:g})"]
    if recipe.clip_grad_norm is None:
        hints.append("set training.clip_grad_norm, for example 1.0")
    if not recipe.normalize_inputs:
        hints.append("set training.normalize_inputs: true")
    result.status = "diverged"
    result.diverged_epoch = epoch
    result.message = f"training diverged in epoch {epoch}: {what}; " + ", or ".join(
        hints
    )
    logger.warning(result.message)
    return result
