"""Benchmark certified length enclosures against the core quadrature and AutoLip.

For each example network and path, one adaptive refinement runs to the
smallest target gap. Its history gives the time and the interval
evaluations at which the largest relative gap over the layers first fell
to 1e-2, 1e-3 and 1e-4. Two baselines run in the same process:

* time: the core length quadrature at rtol 1e-6 (``trajectory_lengths``),
  so the ratio reads "certified costs this many measurements";
* tightness: the plain product of spectral norms (AutoLip-style, U5 over
  the ball that contains the circle) times the input length, whose gap
  (U5 - lower) / U5 against the same certified lower bound is printed next
  to the gap reached.

Examples: the default of ``expressivity run`` (quadratic 64-64-64-64-10 on
the circle through two digit images), 784-256x6-10 networks (quadratic
and tanh with sigma_w = 1, relu with He initialisation) and the zoo's
MNIST CNN (``expressivity.models.zoo:mnist_cnn``: two blocks of conv 3x3,
batch norm, quadratic activation and 2x2 average pooling, then 784-32-10
Linear layers) on the circle through two random points with entries
uniform in [0, 1], the pixel range of MNIST. AutoLip needs a chain of
Linear layers, so the CNN has no AutoLip row.

Run: ``python benchmarks/bench_certified.py`` (``--quick`` for a smoke run,
``--cnn`` for the CNN alone).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from expressivity.certified import Ball, certified_lengths, global_bounds
from expressivity.data import load_dataset
from expressivity.length import trajectory_lengths
from expressivity.models import LayeredModel, NetworkSpec, build_network
from expressivity.models.zoo import mnist_cnn
from expressivity.paths import circle_through

TARGETS = (1e-2, 1e-3, 1e-4)


def default_example():
    """Network and path of ``expressivity run`` with no options."""
    digits = load_dataset("digits")
    features = torch.as_tensor(digits.features, dtype=torch.float64)
    network = build_network(NetworkSpec((64, 64, 64, 64, 10), seed=0))
    return network, circle_through(features[0], features[1])


def pixel_circle():
    """Circle through two random points with entries uniform in [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    first = torch.rand(784, generator=generator, dtype=torch.float64)
    second = torch.rand(784, generator=generator, dtype=torch.float64)
    return circle_through(first, second)


def wide_example(activation: str):
    """784-256x6-10 network on a circle through two random pixel-range points."""
    spec = NetworkSpec(
        (784,) + (256,) * 6 + (10,),
        activation=activation,
        init="he" if activation == "relu" else "normal",
        seed=0,
    )
    return build_network(spec), pixel_circle()


def cnn_example():
    """Return the zoo's MNIST CNN (float64, eval mode) and the same circle."""
    return LayeredModel(mnist_cnn().eval()), pixel_circle()


def first_reaching(history, target: float):
    """Return the first refinement step whose largest gap is <= target, or None."""
    for step in history:
        if max(step.gaps) <= target:
            return step
    return None


def autolip_gap(network, path, lower: float) -> tuple[float, float]:
    """Return log10 of U5 on the output length over the path's ball, and its gap."""
    radius = float(torch.linalg.vector_norm(path.a))
    bound = global_bounds(network, Ball(path.centre, radius))[-1]
    log10_upper = bound.log10_length_bound(path.exact_length())
    gap = 1.0 - lower / 10.0**log10_upper if log10_upper < 300 else 1.0
    return log10_upper, gap


def run_example(name: str, network, path, budget: int) -> list[str]:
    """Return the Markdown rows of one example."""
    start = time.perf_counter()
    baseline = trajectory_lengths(network, path, rtol=1e-6)
    baseline_seconds = time.perf_counter() - start

    result = certified_lengths(network, path, gap=min(TARGETS), max_evaluations=budget)
    output = result.enclosures[-1]

    rows = []
    for target in TARGETS:
        step = first_reaching(result.history, target)
        if step is None:
            last = result.history[-1]
            reached = (
                f"not reached: gap {max(last.gaps):.2g} after "
                f"{last.n_evaluations} evaluations, {last.elapsed_seconds:.1f} s"
            )
            rows.append(f"| {name} | {target:g} | {reached} | | | |")
            continue
        rows.append(
            f"| {name} | {target:g} | {step.elapsed_seconds:.2f} s "
            f"({step.elapsed_seconds / baseline_seconds:.1f}x quadrature) | "
            f"{step.n_evaluations} | {step.n_segments} | "
            f"{max(step.gaps):.2g} |"
        )
    if isinstance(network, LayeredModel):
        rows.append(
            f"| {name} | output | certified [{output.lower:.6g}, {output.upper:.6g}] "
            f"(quadrature {baseline.output_length:.6g}) | | | |"
        )
        return rows
    log10_autolip, gap_autolip = autolip_gap(network, path, output.lower)
    rows.append(
        f"| {name} | AutoLip | output length <= 1e{log10_autolip:.2f} versus "
        f"certified [{output.lower:.6g}, {output.upper:.6g}] (quadrature "
        f"{baseline.output_length:.6g}); AutoLip gap "
        f"{gap_autolip:.6g} | | | |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Run with an evaluation budget of 4000 for the wide networks.",
    )
    parser.add_argument(
        "--cnn", action="store_true", help="Run the MNIST CNN example alone."
    )
    arguments = parser.parse_args()
    wide_budget = 4000 if arguments.quick else 60_000

    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| example | target gap | time (ratio) | evaluations | segments | gap |")
    print("| --- | --- | --- | --- | --- | --- |")
    examples = [("default (quadratic 64-64-64-64-10)", *default_example(), 200_000)]
    for activation in ("quadratic", "tanh", "relu"):
        examples.append(
            (f"784-256x6-10 {activation}", *wide_example(activation), wide_budget)
        )
    examples.append(("MNIST CNN quadratic", *cnn_example(), wide_budget))
    if arguments.cnn:
        examples = examples[-1:]
    for name, network, path, budget in examples:
        for row in run_example(name, network, path, budget):
            print(row, flush=True)


if __name__ == "__main__":
    main()
