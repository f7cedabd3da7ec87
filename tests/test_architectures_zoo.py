"""Ready-made convolutional and residual models: structure, chains, training."""

import math

import pytest
import torch

from expressivity.errors import ConfigurationError
from expressivity.experiments.config import TrainingConfig
from expressivity.experiments.training import split_dataset, train_network
from expressivity.models import ACTIVATION_NAMES, LayeredModel
from expressivity.models.discovery import ResidualStep
from expressivity.models.zoo import (
    cifar10_cnn,
    cifar10_resnet,
    image_cnn,
    mnist_cnn,
    small_resnet,
    spectrogram_cnn,
)

COEFFICIENTS = {"polynomial": (0.0, 1.0, 0.5)}


@pytest.mark.parametrize(
    "factory, n_inputs",
    [
        (mnist_cnn, 784),
        (cifar10_cnn, 3072),
        (spectrogram_cnn, 1280),
        (cifar10_resnet, 3072),
    ],
)
def test_factories_take_flat_inputs(factory, n_inputs):
    model = factory().eval()
    layered = LayeredModel(model)
    assert layered.operator_chain is not None, layered.chain_reason
    assert layered.widths[0] == n_inputs
    assert layered.widths[-1] == 10
    x = torch.randn(2, n_inputs, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(layered.outputs(x)[-1], model(x))


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_image_cnn_every_activation(activation):
    model = image_cnn(
        (2, 8, 8),
        3,
        activation=activation,
        coefficients=COEFFICIENTS.get(activation),
        channels=(3, 4),
        hidden=5,
    ).eval()
    layered = LayeredModel(model)
    assert layered.operator_chain is not None, layered.chain_reason
    stages = layered.operator_chain.stages
    assert [stage.steps[-1].activation.name for stage in stages[:-1]] == [
        activation
    ] * 3
    assert layered.widths == [128, 3 * 64, 4 * 16, 5, 3]


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_small_resnet_every_activation(activation):
    model = small_resnet(
        (1, 8, 8),
        4,
        activation=activation,
        coefficients=COEFFICIENTS.get(activation),
        widths=(2, 3),
        blocks_per_stage=2,
    ).eval()
    layered = LayeredModel(model)
    chain = layered.operator_chain
    assert chain is not None, layered.chain_reason
    blocks = [s for s in chain.stages if isinstance(s.steps[0], ResidualStep)]
    assert [b.name for b in blocks] == ["4", "5", "6", "7"]
    x = torch.randn(3, 64, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(layered.outputs(x)[-1], model(x), rtol=1e-10)


def test_zoo_rejects_bad_shapes():
    with pytest.raises(ConfigurationError, match="input_shape"):
        image_cnn((28, 28))
    with pytest.raises(ConfigurationError, match="too small"):
        image_cnn((1, 2, 2), channels=(4, 4))
    with pytest.raises(ConfigurationError, match="blocks_per_stage"):
        small_resnet((1, 8, 8), blocks_per_stage=0)


def test_training_reduces_loss():
    # Two classes, separated by the sign of the mean pixel.
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(96, 64, generator=generator, dtype=torch.float64)
    labels = (features.mean(dim=1) > 0).long()
    data = split_dataset(features, labels, test_fraction=0.25, seed=0, normalize=True)
    recipe = TrainingConfig(optimizer="adam", lr=1e-2, epochs=8, batch_size=16)
    for model in (
        image_cnn((1, 8, 8), 2, activation="quadratic", channels=(2,), hidden=4),
        small_resnet((1, 8, 8), 2, activation="tanh", widths=(2,)),
    ):
        result = train_network(model, data, recipe, seed=0)
        assert result.status == "finished", result.message
        # Epoch 0 is the initialisation, which has no training loss.
        assert result.history[-1].loss < result.history[1].loss
        assert math.isfinite(result.history[-1].loss)
        # Trained batch norms are affine maps again in eval mode.
        model.eval()
        assert LayeredModel(model).operator_chain is not None
