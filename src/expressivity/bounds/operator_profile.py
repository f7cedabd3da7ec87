"""Per-stage factors of the product bounds for chains of operators and residual blocks.

For a chain of stages f = F_h o ... o F_1 the Jacobian is the product of the
stage Jacobians, so ||J_k|| <= prod_{j<=k} u_j(x) and, when every factor is
injective, sigma_min(J_k) >= prod_{j<=k} l_j(x). Within a stage:

* a linear operator A contributes ||A|| to u and sigma_min(A) to l;
  consecutive operators are merged into one dense matrix when small, else
  their bounds multiply (a batch norm folded into the convolution or Linear
  layer before it);
* an activation contributes max_i |phi'(u_i)| to u and min_i |phi'(u_i)| to l;
* max pooling contributes sqrt(c) to u, c the largest number of windows that
  contain one input, and makes l unavailable (it is not injective);
* a residual block a(x) + b(x) contributes u_a + u_b to u, from
  ||J_a + J_b|| <= ||J_a|| + ||J_b||, and max(l_a - u_b, l_b - u_a) to l, from
  sigma_min(J_a + J_b) >= sigma_min(J_a) - ||J_b||; for the identity shortcut
  these are 1 + ||J_g|| and 1 - ||J_g||.

Factors are evaluated at the sample points of the path and kept in log space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from expressivity.bounds.operators import (
    DENSE_MAX_ENTRIES,
    OperatorNorms,
    batchnorm_scale,
    conv_norms,
    dense_matrix,
    linear_map_norms,
    linear_norms,
    norms_from_dense,
)
from expressivity.length.speed import check_finite
from expressivity.models.discovery import (
    ActivationStep,
    LinearStep,
    MaxPoolStep,
    OperatorChain,
    ResidualStep,
)
from expressivity.paths import Path


@dataclass
class OperatorProfile:
    """Per-stage factors of the product bounds at the sample parameters t.

    Attributes
    ----------
    widths
        (n_0, ..., n_h) with n_k the flattened width of stage k's output.
    log_upper
        log of an upper bound on the stage Jacobian's norm, shape
        (n_stages, n_points).
    log_lower
        log of a lower bound on its smallest singular value, shape
        (n_stages, n_points); -inf where ``lower_problems`` gives a reason.
    lower_problems
        Per stage, why no lower factor exists, or None.
    methods
        Per stage, how its operator norms were computed.
    """

    widths: list[int]
    log_upper: torch.Tensor
    log_lower: torch.Tensor
    lower_problems: list[str | None]
    methods: list[str]

    def upper_sup_of_product(self, layer: int) -> float:
        """log sup_t prod_{j<=layer} u_j(t)."""
        return float(self.log_upper[:layer].sum(dim=0).max())

    def upper_product_of_sups(self, layer: int) -> float:
        """log prod_{j<=layer} sup_t u_j(t)."""
        return float(self.log_upper[:layer].max(dim=1).values.sum())

    def lower_inf_of_product(self, layer: int) -> float:
        """log inf_t prod_{j<=layer} l_j(t)."""
        return float(self.log_lower[:layer].sum(dim=0).min())

    def lower_problem(self, layer: int) -> str | None:
        """Return the first reason, up to ``layer``, why the lower product fails."""
        for problem in self.lower_problems[:layer]:
            if problem is not None:
                return problem
        return None

    def method_summary(self, layer: int) -> str:
        """Join the distinct operator-norm methods used up to ``layer``."""
        methods = []
        for method in self.methods[:layer]:
            for part in method.split("; "):
                if part and part not in methods:
                    methods.append(part)
        return "; ".join(methods)


@dataclass
class _Factors:
    log_upper: torch.Tensor
    log_lower: torch.Tensor
    problem: str | None
    methods: list[str]


def operator_profile(
    chain: OperatorChain,
    path: Path,
    t: torch.Tensor,
    *,
    dense_max_entries: int = DENSE_MAX_ENTRIES,
) -> OperatorProfile:
    """Evaluate every stage's factors of the product bounds along the path."""
    dtype = _chain_dtype(chain)
    x = path.position(t).to(dtype)
    with torch.no_grad():
        outputs, records = chain.forward_all(x)
    check_finite(outputs, chain.names, "layer output")

    evaluator = _Evaluator(records, t.numel(), dense_max_entries)
    stages = [evaluator.factors(stage.steps) for stage in chain.stages]
    return OperatorProfile(
        widths=chain.widths,
        log_upper=torch.stack([s.log_upper for s in stages]),
        log_lower=torch.stack([s.log_lower for s in stages]),
        lower_problems=[s.problem for s in stages],
        methods=["; ".join(dict.fromkeys(s.methods)) for s in stages],
    )


def _chain_dtype(chain: OperatorChain) -> torch.dtype:
    for stage in chain.stages:
        for step in _linear_steps(stage.steps):
            if step.module is not None:
                for parameter in step.module.parameters():
                    return parameter.dtype
    return torch.get_default_dtype()


def _linear_steps(steps):
    for step in steps:
        if isinstance(step, ResidualStep):
            for branch in step.branches:
                yield from _linear_steps(branch)
        elif isinstance(step, LinearStep):
            yield step


class _Evaluator:
    def __init__(self, records, n_points: int, dense_max_entries: int) -> None:
        self.records = records
        self.n_points = n_points
        self.dense_max_entries = dense_max_entries

    def factors(self, steps) -> _Factors:
        """Factors of a list of steps, composed left to right."""
        zeros = torch.zeros(self.n_points, dtype=torch.float64)
        total = _Factors(zeros.clone(), zeros.clone(), None, [])
        index = 0
        while index < len(steps):
            step = steps[index]
            if isinstance(step, LinearStep):
                run = [step]
                while index + 1 < len(steps) and isinstance(
                    steps[index + 1], LinearStep
                ):
                    index += 1
                    run.append(steps[index])
                part = self._linear_run(run)
            elif isinstance(step, ActivationStep):
                part = self._activation(step)
            elif isinstance(step, MaxPoolStep):
                part = self._max_pool(step)
            else:
                part = self._residual(step)
            total.log_upper = total.log_upper + part.log_upper
            total.log_lower = total.log_lower + part.log_lower
            total.problem = total.problem or part.problem
            total.methods.extend(part.methods)
            index += 1
        if total.problem is not None:
            total.log_lower = torch.full_like(total.log_lower, -math.inf)
        return total

    def _constant(self, upper: float, lower: float, problem, method) -> _Factors:
        full = lambda value: torch.full(  # noqa: E731
            (self.n_points,), _log(value), dtype=torch.float64
        )
        return _Factors(full(upper), full(lower), problem, [method])

    def _linear_run(self, run: list[LinearStep]) -> _Factors:
        names = ", ".join(repr(step.name) for step in run if step.kind != "reshape")
        names = names or repr(run[0].name)
        n_in = math.prod(run[0].input_shape)
        n_out = math.prod(run[-1].output_shape)
        if n_in * n_out <= self.dense_max_entries:
            norms = norms_from_dense(
                dense_matrix(lambda x: _compose(run, x), run[0].input_shape),
                "exact: dense SVD",
            )
        else:
            norms = _product_norms(run, self.dense_max_entries)

        problem = None
        if norms.sigma_min is None:
            problem = (
                f"not applicable: sigma_min of {names} was not computed "
                f"({n_in} inputs is too many for a dense SVD)"
            )
        elif n_out < n_in:
            problem = (
                f"not applicable: {names} maps R^{n_in} to R^{n_out}, so it is "
                "not injective"
            )
        elif norms.sigma_min <= 0:
            problem = f"not applicable: {names} is not injective (sigma_min = 0)"
        lower = norms.sigma_min if problem is None else 0.0
        return self._constant(norms.upper, lower, problem, norms.method)

    def _activation(self, step: ActivationStep) -> _Factors:
        u = self.records[step.index].to(torch.float64)
        derivative = step.activation.derivative(u)
        magnitude = derivative.abs()
        problem = None
        sign_change = bool((derivative[1:] * derivative[:-1] < 0).any())
        if bool((magnitude == 0).any()) or sign_change:
            problem = (
                f"not applicable: the derivative of activation {step.name!r} "
                "vanishes on the path"
            )
        return _Factors(
            torch.log(magnitude.max(dim=1).values),
            torch.log(magnitude.min(dim=1).values),
            problem,
            [],
        )

    def _max_pool(self, step: MaxPoolStep) -> _Factors:
        upper = math.sqrt(step.coverage_bound)
        problem = f"not applicable: max pooling {step.name!r} is not injective"
        return self._constant(
            upper, 0.0, problem, "max pooling: sqrt of the windows per input"
        )

    def _residual(self, step: ResidualStep) -> _Factors:
        first = self.factors(step.branches[0])
        second = self.factors(step.branches[1])
        log_upper = torch.logaddexp(first.log_upper, second.log_upper)

        candidates = []
        for lower, other in ((first, second), (second, first)):
            if lower.problem is None:
                candidates.append(
                    torch.exp(lower.log_lower) - torch.exp(other.log_upper)
                )
        problem = None
        if not candidates:
            problem = (
                f"not applicable: residual block {step.name!r} has no branch with "
                "a lower bound on its smallest singular value"
            )
            log_lower = torch.full_like(log_upper, -math.inf)
        else:
            best = torch.stack(candidates).max(dim=0).values
            if bool((best <= 0).any()):
                problem = (
                    f"not applicable: in residual block {step.name!r} the bound "
                    "on ||J_g|| reaches sigma_min of the shortcut on the path, so "
                    "1 - ||J_g|| gives no positive lower bound"
                )
            log_lower = torch.log(best.clamp(min=0.0))
        methods = first.methods + second.methods
        return _Factors(log_upper, log_lower, problem, methods)


def _compose(run: list[LinearStep], x: torch.Tensor) -> torch.Tensor:
    for step in run:
        x = step.linear_part(x)
    return x


def _product_norms(run: list[LinearStep], dense_max_entries: int) -> OperatorNorms:
    """Product of per-operator bounds, a batch norm folded into the layer before it."""
    upper, sigma_min, methods = 1.0, 1.0, []
    index = 0
    while index < len(run):
        step = run[index]
        scale = None
        following = run[index + 1] if index + 1 < len(run) else None
        if step.kind in ("conv", "linear") and following is not None:
            if following.kind == "batchnorm":
                scale = batchnorm_scale(following.module)
                index += 1
        norms = _step_norms(step, scale, dense_max_entries)
        upper *= norms.upper
        if sigma_min is not None and norms.sigma_min is not None:
            sigma_min *= norms.sigma_min
        else:
            sigma_min = None
        if norms.method:
            methods.append(norms.method)
        index += 1
    exact = len(methods) == 1 and methods[0].startswith("exact")
    return OperatorNorms(upper, sigma_min, exact, "; ".join(dict.fromkeys(methods)))


def _step_norms(step: LinearStep, scale, dense_max_entries: int) -> OperatorNorms:
    if step.kind == "conv":
        return conv_norms(
            step.module,
            step.input_shape,
            output_scale=scale,
            dense_max_entries=dense_max_entries,
        )
    if step.kind == "linear":
        return linear_norms(step.module, scale)
    if step.kind == "batchnorm":
        values = batchnorm_scale(step.module).abs()
        return OperatorNorms(
            float(values.max()),
            float(values.min()),
            True,
            "exact: batch norm factors gamma / sqrt(var + eps)",
        )
    if step.kind == "reshape":
        return OperatorNorms(1.0, 1.0, True, "")
    return linear_map_norms(
        step.linear_part,
        step.input_shape,
        nonnegative=step.nonnegative,
        dense_max_entries=dense_max_entries,
    )


def _log(value: float) -> float:
    return math.log(value) if value > 0 else -math.inf
