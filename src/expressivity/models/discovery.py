"""Chains of linear operators, activations and residual blocks read off any module.

The per-layer product bounds need a network written as a composition of
linear (affine) operators, elementwise activations, max pooling and residual
blocks x -> S x + g(x). ``discover_chain`` traces a module with ``torch.fx``
(``nn.Sequential`` containers trace as well) and recognises those parts. It
groups them into stages, each ending at an activation or a residual block,
and every stage is a reported layer. Supported operators: Linear, Conv1d/2d/3d,
BatchNorm in eval mode (the affine map x -> gamma (x - mean) / sqrt(var + eps)
+ beta), average pooling, Flatten/Unflatten and reshapes, Identity, Dropout in
eval mode, and MaxPool (piecewise linear). Anything else raises
``ChainUnavailable`` naming the module; measurements then fall back to the
Jacobian-only figures.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from expressivity.models.activations import Activation, make_activation
from expressivity.models.chain import ChainUnavailable, activation_of_module
from expressivity.models.network import ActivationModule

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_AVERAGE_POOL = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)
_MAX_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_RESHAPE_METHODS = ("view", "reshape", "flatten", "squeeze", "unsqueeze")


@dataclass
class LinearStep:
    """An affine operator on inputs of one shape.

    Attributes
    ----------
    name
        The module's name in the model, or the traced node's name.
    kind
        ``linear``, ``conv``, ``batchnorm``, ``pool`` or ``reshape``.
    module
        The layer, or None for a reshape.
    input_shape, output_shape
        Shapes of one example, without the batch axis.
    """

    name: str
    kind: str
    module: nn.Module | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.module is None:
            return x.reshape(x.shape[0], *self.output_shape)
        return self.module(x)

    def linear_part(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator without its bias or shift."""
        module = self.module
        if self.kind == "linear":
            return F.linear(x, module.weight.to(x.dtype))
        if self.kind == "conv":
            return module._conv_forward(x, module.weight.to(x.dtype), None)
        if self.kind == "batchnorm":
            return x * batchnorm_factor(module, x.ndim - 1).to(x.dtype)
        return self.forward(x)

    @property
    def nonnegative(self) -> bool:
        """Whether every entry of the operator's matrix is >= 0."""
        return self.kind in ("pool", "reshape")


@dataclass
class MaxPoolStep:
    """Max pooling: at almost every input, a selection of one input per window.

    Its Jacobian has one unit entry per row, so ||J|| = sqrt(max_i c_i) with
    c_i the number of windows that select input i. ``coverage_bound`` bounds
    c_i by the windows that can contain an input: per axis at most
    min(k, ceil(((k - 1) d + 1) / s)).
    """

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    @property
    def coverage_bound(self) -> int:
        n_axes = len(self.input_shape) - 1
        kernel = _per_axis(self.module.kernel_size, n_axes)
        stride = _per_axis(self.module.stride or self.module.kernel_size, n_axes)
        dilation = _per_axis(self.module.dilation, n_axes)
        return math.prod(
            min(k, -(-((k - 1) * d + 1) // s))
            for k, s, d in zip(kernel, stride, dilation, strict=True)
        )


@dataclass
class ActivationStep:
    """An elementwise activation; ``index`` keys its recorded pre-activation."""

    name: str
    activation: Activation
    index: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x)


@dataclass
class ResidualStep:
    """A block x -> a(x) + b(x) whose two branches are chains of steps.

    A branch with no steps is the identity shortcut.
    """

    name: str
    branches: tuple[list, list]


Step = LinearStep | MaxPoolStep | ActivationStep | ResidualStep


@dataclass
class Stage:
    """The steps between two reported layers, named as the model names them."""

    name: str
    steps: list[Step]
    output_shape: tuple[int, ...] = ()

    @property
    def width(self) -> int:
        return math.prod(self.output_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map a batch of the previous stage's outputs (unflattened) to this stage's."""
        return _run_steps(self.steps, z, {})


@dataclass
class OperatorChain:
    """A model as stages of linear operators, activations and residual blocks.

    Attributes
    ----------
    input_shape
        Shape of one example as the model takes it (without the batch axis).
    stages
        The reported layers in order.
    """

    input_shape: tuple[int, ...]
    stages: list[Stage]
    n_activations: int = field(default=0)

    @property
    def widths(self) -> list[int]:
        return [math.prod(self.input_shape)] + [stage.width for stage in self.stages]

    @property
    def names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def forward_all(
        self, x: torch.Tensor
    ) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
        """Run flat inputs (..., n_0) through every stage.

        Returns every stage's output, flattened to (..., n_k), and the
        pre-activation of every activation step by its index, flattened to
        (n_inputs, width).
        """
        batch_shape = x.shape[:-1]
        z = x.reshape(-1, *self.input_shape)
        outputs, records = [], {}
        for stage in self.stages:
            z = _run_steps(stage.steps, z, records)
            outputs.append(z.reshape(*batch_shape, -1))
        return outputs, records


def _run_steps(steps: Sequence[Step], z: torch.Tensor, records: dict) -> torch.Tensor:
    for step in steps:
        if isinstance(step, ResidualStep):
            first = _run_steps(step.branches[0], z, records)
            second = _run_steps(step.branches[1], z, records)
            z = first + second
        elif isinstance(step, ActivationStep):
            records[step.index] = z.reshape(z.shape[0], -1)
            z = step.forward(z)
        else:
            z = step.forward(z)
    return z


def batchnorm_factor(norm: nn.Module, n_axes: int) -> torch.Tensor:
    """Per-channel factor gamma / sqrt(running_var + eps), shaped to broadcast."""
    scale = 1.0 / torch.sqrt(norm.running_var.detach() + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.detach()
    return scale.reshape(-1, *([1] * (n_axes - 1)))


def _per_axis(value, n_axes: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, Sequence) else (int(value),) * n_axes


# Tracing --------------------------------------------------------------------


class _Tracer(fx.Tracer):
    """Keeps the package's activation modules as single nodes."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        if isinstance(module, ActivationModule):
            return True
        return super().is_leaf_module(module, qualified_name)


def discover_chain(
    model: nn.Module, input_shape: Sequence[int] | None = None
) -> OperatorChain:
    """Read the chain of operators, activations and residual blocks off ``model``.

    Parameters
    ----------
    model
        Any module that ``torch.fx`` can trace, in eval mode where it has
        batch norm or dropout.
    input_shape
        Shape of one input example without the batch axis, e.g. (1, 28, 28).
        Needed unless the model's first layer fixes it: ``nn.Unflatten`` on
        axis 1 (the model takes flat inputs) or ``nn.Linear``.

    Raises
    ------
    ChainUnavailable
        Naming the model and the first module or operation that does not fit.
    """
    label = type(model).__name__
    try:
        graph = _Tracer().trace(model)
    except Exception as error:  # fx raises many types on data-dependent code
        raise ChainUnavailable(
            f"{label}: torch.fx could not trace the model ({type(error).__name__}: "
            f"{error}); data-dependent control flow has no fixed chain"
        ) from error
    traced = fx.GraphModule(model, graph)
    input_shape = _input_shape(model, traced, input_shape, label)

    dtype = _parameter_dtype(model)
    example = torch.zeros((2, *input_shape), dtype=dtype)
    try:
        with torch.no_grad():
            ShapeProp(traced).propagate(example)
    except Exception as error:  # shape errors surface as several types
        raise ChainUnavailable(
            f"{label}: the model does not run on inputs of shape {tuple(input_shape)} "
            f"({type(error).__name__}: {error})"
        ) from error

    # Name the first unsupported operation in forward order, not the last.
    _Builder(traced, label).validate()
    builder = _Builder(traced, label)
    output = next(node for node in traced.graph.nodes if node.op == "output")
    result = output.args[0]
    if not isinstance(result, fx.Node) or not _is_tensor(result):
        raise ChainUnavailable(f"{label}: the model does not return a single tensor")
    placeholder = next(node for node in traced.graph.nodes if node.op == "placeholder")
    steps = builder.parse(result, placeholder)
    chain = OperatorChain(
        tuple(input_shape), _group_stages(steps), n_activations=builder.n_activations
    )
    z = example
    with torch.no_grad():
        for stage in chain.stages:
            z = _run_steps(stage.steps, z, {})
            stage.output_shape = tuple(z.shape[1:])
    _check_reproduces(model, chain, label, dtype)
    return chain


def _parameter_dtype(model: nn.Module) -> torch.dtype:
    for parameter in model.parameters():
        return parameter.dtype
    return torch.get_default_dtype()


def _input_shape(model, traced, input_shape, label) -> tuple[int, ...]:
    if input_shape is not None:
        return tuple(int(n) for n in input_shape)
    for node in traced.graph.nodes:
        if node.op != "call_module":
            continue
        first = traced.get_submodule(node.target)
        if isinstance(first, nn.Unflatten) and first.dim == 1:
            return (math.prod(first.unflattened_size),)
        if isinstance(first, nn.Linear):
            return (first.in_features,)
        break
    raise ChainUnavailable(
        f"{label}: the input shape is unknown; pass input_shape (one example's "
        "shape without the batch axis, e.g. (1, 28, 28))"
    )


def _is_tensor(node: fx.Node) -> bool:
    return "tensor_meta" in node.meta and hasattr(node.meta["tensor_meta"], "shape")


def _shape(node: fx.Node) -> tuple[int, ...]:
    return tuple(node.meta["tensor_meta"].shape[1:])


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in (operator.add, operator.iadd, torch.add)
    return node.op == "call_method" and node.target in ("add", "add_")


class _Builder:
    """Turns a traced graph, read backwards from the output, into steps."""

    def __init__(self, traced: fx.GraphModule, label: str) -> None:
        self.traced = traced
        self.label = label
        self.n_activations = 0
        self.order = {node: index for index, node in enumerate(traced.graph.nodes)}

    def parse(self, end: fx.Node, start: fx.Node) -> list[Step]:
        """Steps mapping the value of ``start`` to the value of ``end``."""
        steps: list[Step] = []
        node = end
        while node is not start:
            if node.op == "placeholder":
                raise ChainUnavailable(
                    f"{self.label}: a branch does not return to the value it "
                    "started from; only residual blocks x -> a(x) + b(x) are supported"
                )
            inputs = [n for n in node.all_input_nodes if _is_tensor(n)]
            if _is_add(node) and len(inputs) == 2:
                fork = self._nearest_common_ancestor(*inputs)
                first = self.parse(inputs[0], fork)
                second = self.parse(inputs[1], fork)
                steps.append(
                    ResidualStep(
                        self._block_name(node, first + second), (first, second)
                    )
                )
                node = fork
                continue
            if len(inputs) != 1:
                raise ChainUnavailable(
                    f"{self.label}: {self._describe(node)} combines "
                    f"{len(inputs)} tensors; only sums of two branches are supported"
                )
            step = self._step(node, inputs[0])
            if step is not None:
                steps.append(step)
            node = inputs[0]
        steps.reverse()
        return steps

    def validate(self) -> None:
        """Raise ChainUnavailable at the first operation no step represents."""
        output = next(n for n in self.traced.graph.nodes if n.op == "output")
        used, pending = set(), [output]
        while pending:
            node = pending.pop()
            if node not in used:
                used.add(node)
                pending.extend(node.all_input_nodes)
        for node in self.traced.graph.nodes:
            if node not in used or node.op in ("placeholder", "output"):
                continue
            if node.op == "call_module":
                self._module_step(node, (), ())
                continue
            inputs = [n for n in node.all_input_nodes if _is_tensor(n)]
            if _is_tensor(node) and len(inputs) == 1 and not _is_add(node):
                self._step(node, inputs[0])

    def _nearest_common_ancestor(self, first: fx.Node, second: fx.Node) -> fx.Node:
        ancestors = self._ancestors(first)
        common = [n for n in self._ancestors(second) if n in ancestors]
        if not common:
            raise ChainUnavailable(
                f"{self.label}: a sum adds a tensor that does not depend on the "
                "input (a parameter or constant); only residual sums are supported"
            )
        return max(common, key=self.order.__getitem__)

    def _ancestors(self, node: fx.Node) -> set[fx.Node]:
        seen, pending = set(), [node]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            pending.extend(n for n in current.all_input_nodes if _is_tensor(n))
        return seen

    def _describe(self, node: fx.Node) -> str:
        if node.op == "call_module":
            module = self.traced.get_submodule(node.target)
            return f"module {node.target!r} ({type(module).__name__})"
        target = getattr(node.target, "__name__", str(node.target))
        return f"operation {node.name!r} ({node.op} {target})"

    def _block_name(self, node: fx.Node, steps: list[Step]) -> str:
        names = [step.name.split(".") for step in _flatten(steps) if "." in step.name]
        if not names:
            return node.name
        prefix = []
        for parts in zip(*names, strict=False):
            if len(set(parts)) != 1:
                break
            prefix.append(parts[0])
        return ".".join(prefix) if prefix else node.name

    def _step(self, node: fx.Node, source: fx.Node) -> Step | None:
        in_shape, out_shape = _shape(source), _shape(node)
        if node.op == "call_module":
            return self._module_step(node, in_shape, out_shape)
        activation = _function_activation(node, source)
        if activation is not None:
            return self._activation(node.name, activation)
        reshape = (node.op == "call_method" and node.target in _RESHAPE_METHODS) or (
            node.op == "call_function" and node.target in (torch.flatten, torch.reshape)
        )
        if reshape:
            return LinearStep(node.name, "reshape", None, in_shape, out_shape)
        raise ChainUnavailable(
            f"{self.label}: {self._describe(node)} is not a supported linear "
            "operator, elementwise activation or residual sum"
        )

    def _module_step(self, node, in_shape, out_shape) -> Step | None:
        module = self.traced.get_submodule(node.target)
        name = node.target
        activation = activation_of_module(module)
        if activation is not None:
            return self._activation(name, activation)

        if isinstance(module, nn.Linear):
            return LinearStep(name, "linear", module, in_shape, out_shape)
        if isinstance(module, _CONV):
            return LinearStep(name, "conv", module, in_shape, out_shape)
        if isinstance(module, _BATCHNORM):
            if module.training or module.running_var is None:
                raise ChainUnavailable(
                    f"{self.label}: batch norm {name!r} normalises by batch "
                    "statistics (training mode or no running statistics); call "
                    "model.eval() so that it is an affine map"
                )
            return LinearStep(name, "batchnorm", module, in_shape, out_shape)

        if isinstance(module, _AVERAGE_POOL):
            return LinearStep(name, "pool", module, in_shape, out_shape)
        if isinstance(module, (nn.Flatten, nn.Unflatten)):
            return LinearStep(name, "reshape", module, in_shape, out_shape)
        if isinstance(module, _MAX_POOL) and not module.return_indices:
            return MaxPoolStep(name, module, in_shape, out_shape)
        if isinstance(module, _IDENTITY):
            if isinstance(module, nn.Identity) or not module.training:
                return None

        raise ChainUnavailable(
            f"{self.label}: {self._describe(node)} is not a supported linear "
            "operator, pooling layer or elementwise activation"
        )

    def _activation(self, name: str, activation: Activation) -> ActivationStep:
        self.n_activations += 1
        return ActivationStep(name, activation, self.n_activations - 1)


def _function_activation(node: fx.Node, source: fx.Node) -> Activation | None:
    """The activation a traced function or method call applies, if any."""
    target = node.target
    if node.op == "call_method":
        names = {"relu": "relu", "tanh": "tanh", "square": "quadratic"}
        return make_activation(names[target]) if target in names else None
    if node.op != "call_function":
        return None
    if target in (torch.relu, F.relu):
        return make_activation("relu")
    if target in (torch.tanh, F.tanh):
        return make_activation("tanh")
    if target is torch.square:
        return make_activation("quadratic")
    if target is F.hardtanh and node.args[1:3] in ((), (-1.0, 1.0)) and not node.kwargs:
        return make_activation("hardtanh")
    if target is operator.mul and list(node.args) == [source, source]:
        return make_activation("quadratic")
    if target in (operator.pow, torch.pow) and list(node.args) == [source, 2]:
        return make_activation("quadratic")
    return None


def _flatten(steps: Sequence[Step]) -> list[Step]:
    flat = []
    for step in steps:
        if isinstance(step, ResidualStep):
            flat.extend(_flatten(step.branches[0]))
            flat.extend(_flatten(step.branches[1]))
        else:
            flat.append(step)
    return flat


# Stages ---------------------------------------------------------------------


def _group_stages(steps: list[Step]) -> list[Stage]:
    """Cut the steps into stages after every activation and around residual blocks.

    An activation right after a residual block belongs to the block's stage,
    and so do reshapes at the end of the model.
    """
    stages: list[Stage] = []
    current: list[Step] = []
    for step in steps:
        if isinstance(step, ResidualStep):
            if current:
                stages.append(_stage(current))
            stages.append(_stage([step]))
            current = []
        elif (
            isinstance(step, ActivationStep) and not current and _ends_in_block(stages)
        ):
            stages[-1].steps.append(step)
        else:
            current.append(step)
            if isinstance(step, ActivationStep):
                stages.append(_stage(current))
                current = []
    reshapes_only = all(
        isinstance(step, LinearStep) and step.kind == "reshape" for step in current
    )
    if current and stages and reshapes_only:
        # A trailing flatten changes no length, so it joins the last stage.
        stages[-1].steps.extend(current)
    elif current:
        stages.append(_stage(current))

    seen: dict[str, int] = {}
    for stage in stages:
        count = seen.get(stage.name, 0)
        seen[stage.name] = count + 1
        if count:
            stage.name = f"{stage.name}#{count + 1}"
    return stages


def _ends_in_block(stages: list[Stage]) -> bool:
    return bool(stages) and [type(s) for s in stages[-1].steps] == [ResidualStep]


def _stage(steps: list[Step]) -> Stage:
    principal = [
        s for s in steps if isinstance(s, LinearStep) and s.kind in ("linear", "conv")
    ]
    if principal:
        name = principal[-1].name
    else:
        name = steps[0].name
    return Stage(name, steps)


def _check_reproduces(model, chain: OperatorChain, label: str, dtype) -> None:
    """Reject a chain whose output differs from the model's on random inputs."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((3, *chain.input_shape), generator=generator, dtype=dtype)
    with torch.no_grad():
        expected = model(x).reshape(3, -1)
        produced = chain.forward_all(x.reshape(3, -1))[0][-1]
    tolerance = (
        1e-4 if dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-9
    )
    scale = float(expected.abs().max()) + 1.0
    if produced.shape != expected.shape or not torch.allclose(
        produced, expected, rtol=tolerance, atol=tolerance * scale
    ):
        raise ChainUnavailable(
            f"{label}: the chain read off the traced graph does not reproduce the "
            "model's output, so no product bound is given for it"
        )
