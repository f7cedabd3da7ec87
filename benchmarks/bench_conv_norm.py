"""Spectral norm of a 64 -> 64 channel 3x3 convolution: methods compared.

For Conv2d(64, 64, 3, padding=1) in float64 on inputs of several sizes, times
and values of

* power iteration on A^T A with the adjoint through torch.func.vjp, to a
  residual of 1e-7 (a value from below, the baseline of every ratio);
* the certified bound: Gram iteration on the polyphase Fourier symbol;
* the Schur test on |w| (certified, looser);
* the dense matrix of the operator and ``torch.linalg.svdvals`` (exact), on
  the sizes where the matrix fits in memory;
* the norm of the kernel reshaped into a (64, 64 * 9) matrix, which is not
  the operator norm and is printed only as a labelled comparison.

Run: python benchmarks/bench_conv_norm.py [--sizes 4,8,32] [--dense-max 8]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from expressivity.bounds.operators import (
    conv_geometry,
    conv_linear_map,
    conv_symbol,
    dense_matrix,
    gram_iteration_bound,
    power_iteration,
    schur_bound,
)


def timed(function, repeats: int):
    """Return the result of ``function`` and its best wall time over repeats."""
    best, result = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return result, best


def measure_size(conv: nn.Conv2d, size: int, dense_max: int, repeats: int) -> list:
    input_shape = (conv.in_channels, size, size)
    apply = conv_linear_map(conv)
    rows = []

    power, power_time = timed(
        lambda: power_iteration(apply, input_shape, rtol=1e-7, max_iterations=5000),
        1,
    )
    rows.append(
        (
            "power iteration (estimate, from below)",
            power.value,
            power_time,
            f"{power.iterations} steps, residual {power.residual:.1e}",
        )
    )

    def gram() -> float:
        geometry = conv_geometry(conv, input_shape)
        weight = conv.weight.detach().to(torch.float64)
        return float(gram_iteration_bound(conv_symbol(weight, geometry, False)).max())

    value, seconds = timed(gram, repeats)
    rows.append(("Gram iteration on the symbol (certified)", value, seconds, ""))

    absolute = conv_linear_map(conv, conv.weight.detach().abs())
    value, seconds = timed(lambda: schur_bound(absolute, input_shape), repeats)
    rows.append(("Schur test on |w| (certified)", value, seconds, ""))

    if size <= dense_max:

        def dense() -> float:
            matrix = dense_matrix(apply, input_shape)
            return float(torch.linalg.svdvals(matrix)[0])

        value, seconds = timed(dense, 1)
        n = math.prod(input_shape)
        rows.append(("dense matrix + svdvals (exact)", value, seconds, f"{n}x{n}"))

    reshaped = conv.weight.detach().reshape(conv.out_channels, -1)
    value, seconds = timed(
        lambda: float(torch.linalg.matrix_norm(reshaped, ord=2)), repeats
    )
    rows.append(("kernel reshaped to 64x576 (NOT a bound)", value, seconds, ""))
    return [(size, power.value, power_time, *row) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,8,32", help="Input sizes H = W.")
    parser.add_argument(
        "--dense-max", type=int, default=8, help="Largest size given a dense SVD."
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)

    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False).double()
    print(
        f"Conv2d(64, 64, 3, padding=1), float64, He-uniform weights (seed 0), "
        f"{torch.get_num_threads()} threads"
    )
    header = (
        "| H = W | method | value | value / power | time (s) | time / power | note |"
    )
    print(header)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size in (int(s) for s in options.sizes.split(",")):
        for row in measure_size(conv, size, options.dense_max, options.repeats):
            size_, base_value, base_time, name, value, seconds, note = row
            print(
                f"| {size_} | {name} | {value:.6f} | {value / base_value:.6f} | "
                f"{seconds:.3g} | {seconds / base_time:.3g} | {note} |"
            )


if __name__ == "__main__":
    main()
