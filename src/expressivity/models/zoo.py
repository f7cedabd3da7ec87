"""Small convolutional and residual networks to measure, with any activation.

Every model takes flat inputs of shape (batch, n_features), as the datasets
provide them, and starts with ``nn.Unflatten`` to the example's shape, so
``discover_chain`` finds its input shape and the per-layer bounds apply.
Activations are ``ActivationModule`` wrappers of ``make_activation``, so the
quadratic and polynomial activations work as well as relu and tanh.

Factories with no required argument (``mnist_cnn``, ``cifar10_cnn``,
``spectrogram_cnn``, ``cifar10_resnet``) can be named on the command line as
``expressivity.models.zoo:mnist_cnn``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.models.activations import make_activation
from expressivity.models.network import ActivationModule, resolve_dtype

MNIST_SHAPE = (1, 28, 28)
CIFAR10_SHAPE = (3, 32, 32)
# Spectrograms of the audio loaders: 32 frames of 40 log-mel values.
SPECTROGRAM_SHAPE = (1, 32, 40)


def _activation(name: str, coefficients: Sequence[float] | None) -> ActivationModule:
    return ActivationModule(make_activation(name, coefficients))


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(n) for n in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigurationError(
            f"input_shape {tuple(input_shape)} is invalid; give (channels, height, "
            "width) of one example, e.g. (1, 28, 28)"
        )
    return shape


def image_cnn(
    input_shape: Sequence[int] = MNIST_SHAPE,
    n_classes: int = 10,
    *,
    activation: str = "relu",
    coefficients: Sequence[float] | None = None,
    channels: Sequence[int] = (8, 16),
    hidden: int = 32,
    batch_norm: bool = False,
    seed: int = 0,
    dtype: str | torch.dtype = "float64",
) -> nn.Sequential:
    """Convolutional classifier: blocks of conv 3x3, activation and 2x2 average pooling.

    Average pooling is linear, so the product bounds use its exact norm. With
    ``batch_norm`` each convolution is followed by a batch norm, an affine
    map in eval mode, which steadies training with the quadratic activation.
    """
    c_in, height, width = _check_shape(input_shape)
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Unflatten(1, (c_in, height, width))]
    previous = c_in
    for count in channels:
        layers.append(nn.Conv2d(previous, count, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(count))
        layers.append(_activation(activation, coefficients))
        layers.append(nn.AvgPool2d(2))
        previous = count
        height, width = height // 2, width // 2
    if height < 1 or width < 1:
        raise ConfigurationError(
            f"input_shape {tuple(input_shape)} is too small for {len(channels)} "
            "pooling steps; give fewer channels entries or a larger input"
        )
    layers += [
        nn.Flatten(),
        nn.Linear(previous * height * width, hidden),
        _activation(activation, coefficients),
        nn.Linear(hidden, n_classes),
    ]
    return nn.Sequential(*layers).to(resolve_dtype(dtype))


class BasicBlock(nn.Module):
    """Residual block x -> phi(S x + BN(conv(phi(BN(conv(x)))))) of ResNet.

    S is the identity, or a strided 1x1 convolution with batch norm when the
    block changes the shape (He, Zhang, Ren and Sun, "Deep residual learning
    for image recognition", CVPR 2016, option B shortcuts).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        activation: str,
        coefficients: Sequence[float] | None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.act1 = _activation(activation, coefficients)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act2 = _activation(activation, coefficients)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(c_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


def small_resnet(
    input_shape: Sequence[int] = CIFAR10_SHAPE,
    n_classes: int = 10,
    *,
    activation: str = "relu",
    coefficients: Sequence[float] | None = None,
    widths: Sequence[int] = (8, 16),
    blocks_per_stage: int = 1,
    seed: int = 0,
    dtype: str | torch.dtype = "float64",
) -> nn.Sequential:
    """ResNet with a 3x3 stem, basic blocks, global average pooling and a Linear head.

    Stage i has ``blocks_per_stage`` blocks of ``widths[i]`` channels; every
    stage after the first halves the resolution in its first block.
    """
    c_in, height, width = _check_shape(input_shape)
    if blocks_per_stage < 1 or not widths:
        raise ConfigurationError(
            f"blocks_per_stage={blocks_per_stage} and widths={tuple(widths)} give "
            "no residual block; use blocks_per_stage >= 1 and at least one width"
        )
    torch.manual_seed(seed)
    layers: list[nn.Module] = [
        nn.Unflatten(1, (c_in, height, width)),
        nn.Conv2d(c_in, widths[0], 3, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
        _activation(activation, coefficients),
    ]
    previous = widths[0]
    for stage, count in enumerate(widths):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(previous, count, stride, activation, coefficients))
            previous = count
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, n_classes)]
    return nn.Sequential(*layers).to(resolve_dtype(dtype))


def mnist_cnn() -> nn.Sequential:
    """``image_cnn`` for 28x28 grey images (MNIST, Fashion-MNIST), quadratic."""
    return image_cnn(MNIST_SHAPE, 10, activation="quadratic", batch_norm=True)


def cifar10_cnn() -> nn.Sequential:
    """``image_cnn`` for 32x32 colour images (CIFAR-10), quadratic activation."""
    return image_cnn(CIFAR10_SHAPE, 10, activation="quadratic", batch_norm=True)


def spectrogram_cnn(
    input_shape: Sequence[int] = SPECTROGRAM_SHAPE, n_classes: int = 10, **options
) -> nn.Sequential:
    """``image_cnn`` over a (1, frames, coefficients) spectrogram, 10 spoken digits."""
    options.setdefault("activation", "quadratic")
    options.setdefault("batch_norm", True)
    return image_cnn(input_shape, n_classes, **options)


def cifar10_resnet() -> nn.Sequential:
    """``small_resnet`` for 32x32 colour images, quadratic activation."""
    return small_resnet(CIFAR10_SHAPE, 10, activation="quadratic")
