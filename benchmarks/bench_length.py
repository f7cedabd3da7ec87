"""Benchmark the core measurements against plain baselines in the same process.

Three ratios, each printed as a Markdown table row:

1. Cost of the exact length of every layer (jvp speeds inside adaptive
   quadrature) against plain forward passes on the same number of points.
2. Network evaluations that the adaptive quadrature needs for a relative error
   against the evaluations that a polyline (chord sum) needs for the same error.
3. The vmapped s(t), r(t) profile against a per-point loop of
   ``torch.autograd.functional.jacobian`` and ``torch.linalg.svdvals``.

Run: ``python benchmarks/bench_length.py`` (add ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from expressivity.bounds import singular_profile
from expressivity.data import load_dataset
from expressivity.length import (
    integrate,
    layer_speeds,
    polyline_lengths,
    trajectory_lengths,
)
from expressivity.models import LayeredModel, NetworkSpec, build_network
from expressivity.paths import circle_through, random_circle


def best_time(function, repeats: int) -> float:
    """Return the fastest of ``repeats`` wall-clock runs of ``function``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def default_example():
    """Build the default network and path of ``expressivity run``."""
    digits = load_dataset("digits")
    features = torch.as_tensor(digits.features, dtype=torch.float64)
    network = build_network(
        NetworkSpec(widths=[64, 64, 64, 64, 10], activation="quadratic", seed=0)
    )
    return network, circle_through(features[0], features[1])


def length_cost(network, path, repeats: int) -> dict:
    """Compare the length measurement with forward passes on the same batches.

    The baseline evaluates the network, without derivatives, on exactly the
    batches of parameters that the adaptive quadrature evaluated, so both
    sides make the same number of calls on the same number of points.
    """
    layered = LayeredModel(network)
    batches: list[torch.Tensor] = []

    def recording(t: torch.Tensor) -> torch.Tensor:
        batches.append(t)
        speeds = layer_speeds(layered, path, t)
        return torch.cat([speeds, speeds**2])

    result = integrate(recording, path.breakpoints, rtol=1e-6)
    points = [path.position(t) for t in batches]

    def forward_only():
        with torch.no_grad():
            for batch in points:
                layered.outputs(batch)

    def measured():
        trajectory_lengths(layered, path, rtol=1e-6, n_polyline_points=2)

    forward_seconds = best_time(forward_only, repeats)
    length_seconds = best_time(measured, repeats)
    return {
        "evaluations": result.n_evaluations,
        "batches": len(batches),
        "forward_s": forward_seconds,
        "length_s": length_seconds,
        "ratio": length_seconds / forward_seconds,
    }


def polyline_points_for(network, path, reference: float, target: float) -> int:
    """Return the fewest polyline points (doubling) whose error is <= target."""
    n_points = 16
    while n_points < 2**22:
        polyline = polyline_lengths(network, path, n_points)[0][-1].item()
        if abs(polyline - reference) / reference <= target:
            return n_points
        n_points *= 2
    return n_points


def quadrature_against_polyline(network, path) -> dict:
    """Compare evaluations for the same relative error of the output length."""
    reference = trajectory_lengths(network, path, rtol=1e-12).output_length
    rows = []
    for rtol in (1e-4, 1e-6, 1e-8):
        result = trajectory_lengths(network, path, rtol=rtol, n_polyline_points=2)
        error = abs(result.output_length - reference) / reference
        # The polyline must reach the error the quadrature actually achieved;
        # a floor of 1e-12 keeps the doubling search finite.
        polyline_points = polyline_points_for(
            network, path, reference, max(error, 1e-12)
        )
        rows.append(
            {
                "rtol": rtol,
                "error": error,
                "quadrature": result.n_evaluations,
                "polyline": polyline_points,
                "ratio": polyline_points / result.n_evaluations,
            }
        )
    return {"reference": reference, "rows": rows}


def wide_example():
    """Build the 784-256x6-10 tanh network and a random circle in R^784."""
    network = build_network(
        NetworkSpec(widths=[784, *[256] * 6, 10], activation="tanh", seed=0)
    )
    path = random_circle(784, generator=torch.Generator().manual_seed(0))
    return network, path


def profile_against_loop(n_points: int, repeats: int) -> dict:
    """Compare the vmapped profile of every layer with a per-point loop.

    The loop computes the Jacobian of every layer output at one point with
    ``torch.autograd.functional.jacobian`` and its singular values with
    ``torch.linalg.svdvals``, as hand-written code would.
    """
    network, path = wide_example()
    layered = LayeredModel(network)
    n_inputs = path.dim
    t = torch.linspace(0.0, 1.0, n_points, dtype=torch.float64)

    def profile():
        return singular_profile(layered, path, t, layers="all")

    def loop():
        largest, nth = [], []
        for point in path.position(t):
            jacobians = torch.autograd.functional.jacobian(layered.outputs, point)
            values = [torch.linalg.svdvals(j) for j in jacobians]
            largest.append(torch.stack([v[0] for v in values]))
            # r is the n-th singular value: zero when the layer narrows below n.
            nth.append(
                torch.stack(
                    [
                        v[n_inputs - 1] if v.numel() >= n_inputs else v.new_zeros(())
                        for v in values
                    ]
                )
            )
        return torch.stack(largest, dim=1), torch.stack(nth, dim=1)

    fast = profile()
    slow_s, slow_r = loop()
    scale = slow_s.abs().max().item()
    difference = max(
        (fast.s - slow_s).abs().max().item(), (fast.r - slow_r).abs().max().item()
    )
    profile_seconds = best_time(profile, repeats)
    loop_seconds = best_time(loop, repeats)
    return {
        "points": n_points,
        "methods": sorted(set(fast.methods)),
        "profile_s": profile_seconds,
        "loop_s": loop_seconds,
        "ratio": loop_seconds / profile_seconds,
        "max_relative_difference": difference / scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer repeats.")
    arguments = parser.parse_args()
    repeats = 1 if arguments.quick else 5
    torch.manual_seed(0)
    # One thread per process: the figures are ratios, and a single thread
    # keeps them stable when other work shares the cores.
    torch.set_num_threads(1)
    print(f"python {platform.python_version()}, torch {torch.__version__}")
    print(f"threads {torch.get_num_threads()}, {platform.machine()}")

    print("\n| network | batches | evaluations | forward (s) | length (s) | ratio |")
    print("|---|---|---|---|---|---|")
    examples = {
        "64-64x3-10 quadratic": default_example(),
        "784-256x6-10 tanh": wide_example(),
    }
    for label, (network, path) in examples.items():
        cost = length_cost(network, path, repeats)
        print(
            f"| {label} | {cost['batches']} | {cost['evaluations']} "
            f"| {cost['forward_s']:.4f} | {cost['length_s']:.4f} "
            f"| {cost['ratio']:.1f} |"
        )

    network, path = default_example()
    comparison = quadrature_against_polyline(network, path)
    print(f"\nreference output length {comparison['reference']:.12g}")
    print("| rtol | achieved error | quadrature points | polyline points | ratio |")
    print("|---|---|---|---|---|")
    for row in comparison["rows"]:
        print(
            f"| {row['rtol']:.0e} | {row['error']:.1e} | {row['quadrature']} "
            f"| {row['polyline']} | {row['ratio']:.0f} |"
        )

    profile = profile_against_loop(16 if arguments.quick else 64, repeats)
    print(
        "\n| points | method | vmapped profile (s) | per-point loop (s) | ratio "
        "| max relative difference |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {profile['points']} | {', '.join(profile['methods'])} "
        f"| {profile['profile_s']:.3f} | {profile['loop_s']:.3f} "
        f"| {profile['ratio']:.1f} | {profile['max_relative_difference']:.1e} |"
    )


if __name__ == "__main__":
    main()
