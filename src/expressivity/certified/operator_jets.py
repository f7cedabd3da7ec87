"""Interval Taylor propagation through convolutional, pooling and residual chains.

``discover_chain`` reads a model as stages of steps: affine operators
(Linear, Conv1d/2d/3d, BatchNorm in eval mode, average pooling, reshapes),
max pooling, elementwise activations and residual blocks x -> a(x) + b(x).
``OperatorJetChain`` encloses a path segment's image after every stage and
its t-derivatives of orders 1 to 3, as ``taylor.propagate`` does for chains
of Linear layers:

* an affine operator A x + b maps order 0 through ``affine_map`` and every
  higher order through the same map without b, because
  (A x + b)^(j) = A x^(j);
* batch norm in eval mode is x -> s x + c per channel, with
  s = gamma / sqrt(var + eps) and c = beta - s mean enclosed in interval
  arithmetic;
* max pooling is monotone, so its value lies between the pooled lower and
  upper bounds. Its derivative, where it exists, is the derivative of an
  input that attains the maximum, so it lies in the hull of the derivatives
  of the inputs that can attain it (``_max_pool_jet``);
* a residual block adds the enclosures of its two branches;
* activations use ``activation_jet`` and ``compose_jet`` of ``taylor``.

After every step that is not a reshape, each order is intersected with its
mean-value form about the segment centre (``tighten_jet``), as the Linear
chains do after every affine map and activation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from expressivity.certified.interval import (
    Interval,
    affine_map,
    round_down,
    round_up,
)
from expressivity.certified.taylor import (
    LayerJet,
    activation_jet,
    compose_jet,
    tighten_jet,
)
from expressivity.errors import ConfigurationError, NumericalError
from expressivity.models.activations import Activation
from expressivity.models.discovery import (
    ActivationStep,
    LinearStep,
    MaxPoolStep,
    OperatorChain,
    ResidualStep,
    Step,
    _per_axis,
)

_AVERAGE_POOL = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


@dataclass
class _Affine:
    """x -> A x + b, with A and abs(A) given by their action on a batch."""

    name: str
    apply: Callable[[torch.Tensor], torch.Tensor]
    apply_absolute: Callable[[torch.Tensor], torch.Tensor]
    bias: torch.Tensor | None
    n_terms: int
    output_shape: tuple[int, ...]

    def map(self, interval: Interval, with_bias: bool) -> Interval:
        bias = self.bias if with_bias else None
        return affine_map(interval, self.apply, self.apply_absolute, bias, self.n_terms)


@dataclass
class _ChannelAffine:
    """Batch norm in eval mode: x -> factor x + shift, per channel."""

    name: str
    factor: Interval
    shift: Interval

    def map(self, interval: Interval, with_bias: bool) -> Interval:
        image = interval * self.factor
        return image + self.shift if with_bias else image


@dataclass
class _Reshape:
    output_shape: tuple[int, ...]


@dataclass
class _MaxPool:
    name: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    output_shape: tuple[int, ...]


@dataclass
class _Activation:
    name: str
    activation: Activation


@dataclass
class _Residual:
    name: str
    branches: tuple[list, list]


@dataclass
class StageJet(LayerJet):
    """A stage's ``LayerJet`` with the enclosures at every tightening point.

    ``checkpoints`` contains the flattened enclosures of orders 0 to 3 and the
    smoothness per segment after every step that is not a reshape, in the
    order the steps ran. The segment's propagation tightens its enclosures
    against the centre's checkpoints.
    """

    checkpoints: list[tuple[list[Interval], torch.Tensor]] = field(default_factory=list)


@dataclass
class OperatorJetChain:
    """Float64 steps of a discovered operator chain, for interval propagation.

    Attributes
    ----------
    input_shape
        Shape of one example as the model takes it.
    stages
        Per reported layer, its converted steps.
    names, widths
        The layers' names, and the input width followed by every layer's
        width, as ``OperatorChain`` gives them.
    entries_per_row
        Entries of one segment's enclosure of one order over all steps, to
        size the batches.
    """

    input_shape: tuple[int, ...]
    stages: list[list]
    names: list[str]
    widths: list[int]
    entries_per_row: int

    @classmethod
    def from_operator_chain(cls, chain: OperatorChain) -> OperatorJetChain:
        """Convert every step to float64, or raise ConfigurationError naming it."""
        stages = [[_convert(step) for step in stage.steps] for stage in chain.stages]
        entries = math.prod(chain.input_shape) + sum(
            _entries(stage.steps) for stage in chain.stages
        )
        return cls(
            tuple(chain.input_shape),
            stages,
            list(chain.names),
            list(chain.widths),
            entries,
        )

    @property
    def depth(self) -> int:
        return len(self.stages)

    def propagate(
        self,
        inputs: list[Interval],
        half_width: torch.Tensor,
        centre: list[StageJet] | None = None,
    ) -> list[StageJet]:
        """Enclose every stage's output and its t-derivatives over each segment.

        Arguments are those of ``taylor.propagate``; ``centre`` is this
        method's result at the segment centres.

        Raises
        ------
        NumericalError
            When an enclosure of order 0 or 1 is not finite, naming the layer.
        """
        n_rows = inputs[0].lower.shape[0]
        points = None
        if centre is not None:
            points = iter([point for stage in centre for point in stage.checkpoints])
        walk = _Walk(half_width, points)
        jet = [_reshape(interval, self.input_shape) for interval in inputs]
        smooth = torch.ones(n_rows, dtype=torch.bool)
        results = []
        for k, steps in enumerate(self.stages):
            walk.checkpoints = []
            jet, smooth = walk.run(steps, jet, smooth)
            flat = [_flatten(interval) for interval in jet]
            for order, interval in enumerate(flat[:2]):
                if not interval.is_finite():
                    raise NumericalError(
                        f"non-finite enclosure of the order-{order} derivative at "
                        f"layer {k + 1} ({self.names[k]}): the values overflow "
                        "float64; use a shorter path or smaller weights",
                        layer=k + 1,
                    )
            results.append(StageJet([], None, flat, smooth, walk.checkpoints))
        return results


class _Walk:
    """Runs steps on jets, tightening against the centre's checkpoints."""

    def __init__(self, half_width: torch.Tensor, centre_points) -> None:
        self.half_width = half_width
        self.centre_points = centre_points
        self.checkpoints: list[tuple[list[Interval], torch.Tensor]] = []

    def run(self, steps: Sequence, jet: list[Interval], smooth: torch.Tensor):
        for step in steps:
            if isinstance(step, _Reshape):
                jet = [_reshape(interval, step.output_shape) for interval in jet]
                continue
            if isinstance(step, _Residual):
                first, first_smooth = self.run(step.branches[0], jet, smooth)
                second, second_smooth = self.run(step.branches[1], jet, smooth)
                jet = [a + b for a, b in zip(first, second, strict=True)]
                smooth = first_smooth & second_smooth
            elif isinstance(step, _Activation):
                shape = jet[0].lower.shape[1:]
                u = [_flatten(interval) for interval in jet]
                phi, crossing = activation_jet(step.activation, u[0])
                smooth = smooth & ~crossing
                jet = [_reshape(z, shape) for z in compose_jet(phi, u)]
            elif isinstance(step, _MaxPool):
                jet, unique = _max_pool_jet(step, jet)
                smooth = smooth & unique
            else:
                jet = _map_orders(step, jet)
            jet = self._checkpoint(jet, smooth)
        return jet, smooth

    def _checkpoint(self, jet: list[Interval], smooth: torch.Tensor):
        shape = jet[0].lower.shape[1:]
        flat = [_flatten(interval) for interval in jet]
        if self.centre_points is not None:
            centre_jet, centre_smooth = next(self.centre_points)
            flat = tighten_jet(
                flat, centre_jet, self.half_width, smooth & centre_smooth
            )
        self.checkpoints.append((flat, smooth))
        return [_reshape(interval, shape) for interval in flat]


def _map_orders(step, jet: list[Interval]) -> list[Interval]:
    """Apply an affine step to order 0 and its linear part to orders 1 to 3."""
    value = step.map(jet[0], True)
    # One batched call for the three derivative orders.
    stacked = Interval(
        torch.cat([interval.lower for interval in jet[1:]]),
        torch.cat([interval.upper for interval in jet[1:]]),
    )
    image = step.map(stacked, False)
    lowers = torch.chunk(image.lower, 3)
    uppers = torch.chunk(image.upper, 3)
    return [value] + [Interval(a, b) for a, b in zip(lowers, uppers, strict=True)]


def _max_pool_jet(step: _MaxPool, jet: list[Interval]):
    """Enclose max pooling and its derivatives; also return the smooth rows.

    In a window w with L_w = max_i lower_i, only inputs with upper_i >= L_w can
    attain the maximum anywhere on the segment. Where such an input is
    unique in every window of a row, the pooled output equals it over the
    whole segment, so every order passes through. Elsewhere the output is
    Lipschitz, and its derivative, where it exists, equals that of an input
    attaining the maximum. So order 1 lies in the hull over the candidates,
    and the row is marked not smooth because orders 2 and 3 do not hold.
    """
    n_rows, channels = jet[0].lower.shape[:2]
    lower = _windows(step, jet[0].lower, -math.inf)
    upper = _windows(step, jet[0].upper, -math.inf)
    threshold = lower.max(dim=2, keepdim=True).values
    candidate = upper >= threshold
    unique = (candidate.sum(dim=2) == 1).reshape(n_rows, -1).all(dim=1)

    pooled = [Interval(lower.max(dim=2).values, upper.max(dim=2).values)]
    for interval in jet[1:]:
        low = _windows(step, interval.lower, 0.0)
        high = _windows(step, interval.upper, 0.0)
        pooled.append(
            Interval(
                torch.where(candidate, low, math.inf).min(dim=2).values,
                torch.where(candidate, high, -math.inf).max(dim=2).values,
            )
        )
    shape = (n_rows, *step.output_shape)
    return [Interval(i.lower.reshape(shape), i.upper.reshape(shape)) for i in pooled], (
        unique
    )


def _windows(step: _MaxPool, values: torch.Tensor, fill: float) -> torch.Tensor:
    """Return the pooling windows as (n_rows, channels, window size, n_windows)."""
    n_rows, channels = values.shape[:2]
    if values.ndim == 3:
        values = values.unsqueeze(2)
    pad_h, pad_w = step.padding
    padded = F.pad(values, (pad_w, pad_w, pad_h, pad_h), value=fill)
    columns = F.unfold(padded, step.kernel, dilation=step.dilation, stride=step.stride)
    return columns.reshape(n_rows, channels, math.prod(step.kernel), -1)


def _flatten(interval: Interval) -> Interval:
    n_rows = interval.lower.shape[0]
    return Interval(
        interval.lower.reshape(n_rows, -1), interval.upper.reshape(n_rows, -1)
    )


def _reshape(interval: Interval, shape: Sequence[int]) -> Interval:
    n_rows = interval.lower.shape[0]
    return Interval(
        interval.lower.reshape(n_rows, *shape), interval.upper.reshape(n_rows, *shape)
    )


# Conversion -------------------------------------------------------------------


def _convert(step: Step):
    if isinstance(step, ResidualStep):
        branches = tuple([_convert(s) for s in branch] for branch in step.branches)
        return _Residual(step.name, branches)
    if isinstance(step, ActivationStep):
        return _Activation(step.name, step.activation)
    if isinstance(step, MaxPoolStep):
        return _max_pool(step)
    if step.kind == "reshape":
        return _Reshape(step.output_shape)
    if step.kind == "batchnorm":
        return _batchnorm(step)
    return _affine(step)


def _affine(step: LinearStep) -> _Affine:
    # Float32 parameters convert to float64 exactly, so the enclosure is of
    # the model's own map.
    module = copy.deepcopy(step.module).to(torch.float64)
    n_axes = len(step.output_shape)
    if step.kind == "linear":
        weight = module.weight.detach()
        absolute = weight.abs()
        return _Affine(
            step.name,
            lambda x: F.linear(x, weight),
            lambda x: F.linear(x, absolute),
            None if module.bias is None else module.bias.detach(),
            weight.shape[1],
            step.output_shape,
        )
    if step.kind == "conv":
        # Every output entry of a convolution is a dot product of
        # (in_channels / groups) * prod(kernel_size) weights with inputs (or
        # zeros of the padding), so ``affine_map``'s dot-product bound holds.
        # NOTE: this assumes the float64 convolution computes those dot
        # products (im2col and GEMM in PyTorch's CPU kernel), not a
        # Winograd or FFT transform, whose errors are not bounded this way.
        weight = module.weight.detach()
        absolute = weight.abs()
        bias = None
        if module.bias is not None:
            bias = module.bias.detach().reshape(-1, *([1] * (n_axes - 1)))
        return _Affine(
            step.name,
            lambda x: module._conv_forward(x, weight, None),
            lambda x: module._conv_forward(x, absolute, None),
            bias,
            math.prod(weight.shape[1:]),
            step.output_shape,
        )
    # Average pooling: a non-negative operator, so abs(A) = A. Each output is
    # a sum of at most n_terms inputs followed by one division, whose error
    # is within gamma_{n_terms + 2} times the pooled absolute values.
    if isinstance(module, _AVERAGE_POOL):
        n_axes_pooled = len(step.input_shape) - 1
        n_terms = math.prod(_per_axis(module.kernel_size, n_axes_pooled))
    else:
        n_terms = math.prod(step.input_shape[1:])
    return _Affine(step.name, module, module, None, n_terms, step.output_shape)


def _batchnorm(step: LinearStep) -> _ChannelAffine:
    module = step.module
    shape = (-1, *([1] * (len(step.input_shape) - 1)))

    def parameter(tensor: torch.Tensor) -> Interval:
        return Interval.point(tensor.detach().to(torch.float64).reshape(shape))

    # var + eps, sqrt and the reciprocal are each correctly rounded (IEEE
    # 754), so widening every result by 2u encloses the exact value.
    variance = module.running_var.detach().to(torch.float64).reshape(shape)
    total = Interval.around(variance + module.eps)
    root = Interval(
        round_down(torch.sqrt(torch.clamp(total.lower, min=0.0))),
        round_up(torch.sqrt(total.upper)),
    )
    factor = Interval(round_down(1.0 / root.upper), round_up(1.0 / root.lower))
    if module.weight is not None:
        factor = factor * parameter(module.weight)
    shift = Interval.zeros_like(factor) - parameter(module.running_mean) * factor
    if module.bias is not None:
        shift = shift + parameter(module.bias)
    if not (factor.is_finite() and shift.is_finite()):
        raise ConfigurationError(
            f"batch norm {step.name!r} has a non-finite scale (running_var + eps "
            "is 0 or a statistic is not finite); certified bounds need finite "
            "running statistics and eps > 0"
        )
    return _ChannelAffine(step.name, factor, shift)


def _max_pool(step: MaxPoolStep) -> _MaxPool:
    module = step.module
    n_axes = len(step.input_shape) - 1
    if n_axes not in (1, 2) or module.ceil_mode:
        reason = "3-d pooling" if n_axes not in (1, 2) else "ceil_mode=True"
        raise ConfigurationError(
            f"certified bounds do not support max pooling {step.name!r} "
            f"({type(module).__name__} with {reason}); use MaxPool1d or MaxPool2d "
            "with ceil_mode=False, or average pooling"
        )
    kernel = _per_axis(module.kernel_size, n_axes)
    stride = _per_axis(module.stride or module.kernel_size, n_axes)
    padding = _per_axis(module.padding, n_axes)
    dilation = _per_axis(module.dilation, n_axes)
    if n_axes == 1:
        kernel, stride = (1, *kernel), (1, *stride)
        padding, dilation = (0, *padding), (1, *dilation)
    return _MaxPool(step.name, kernel, stride, padding, dilation, step.output_shape)


def _entries(steps: Sequence[Step]) -> int:
    total = 0
    for step in steps:
        if isinstance(step, ResidualStep):
            total += _entries(step.branches[0]) + _entries(step.branches[1])
        elif isinstance(step, LinearStep | MaxPoolStep):
            total += 2 * math.prod(step.output_shape)
    return total
