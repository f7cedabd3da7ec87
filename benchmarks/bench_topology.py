"""Benchmark decision-region topology on a slice against its forward passes.

For each example network, one slice at the given resolution is analysed
(rasterisation, Betti numbers of every class region in the box and with the
box boundary ignored, margin persistence diagrams). The baseline, run in the
same process, is the forward passes alone: the network evaluated at every
cell centre in the same chunks, with no labels, margins or homology. The
ratio reads "the whole analysis costs this many forward sweeps".

Examples: the default network of ``expressivity topology`` (quadratic
2-16-16-2 on the whole plane), a quadratic 2-64-64-64-10 on the plane, and a
quadratic 784-256-256-10 on the plane through three random points with
entries uniform in [0, 1] (the pixel range of MNIST).

The largest grids (2048^2 in 2-D, 256^3 in 3-D) run in child processes, so
that each reports its own peak resident memory and whether its Betti numbers
came from persistence or from labelling.

Run: ``python benchmarks/bench_topology.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from expressivity.models import NetworkSpec, build_network
from expressivity.topology import (
    analyze_slice,
    input_space_slice,
    slice_through_points,
)
from expressivity.topology.analysis import MAX_COMPLEX_CELLS_GUDHI
from expressivity.topology.raster import _default_chunk_size


def examples():
    """(name, network, slice) of each benchmarked case."""
    plane = input_space_slice(2, bounds=np.tile([-3.0, 3.0], (2, 1)))
    small = build_network(NetworkSpec((2, 16, 16, 2), sigma_b=0.5, seed=0))
    medium = build_network(NetworkSpec((2, 64, 64, 64, 10), sigma_b=0.5, seed=0))
    points = np.random.default_rng(0).uniform(0.0, 1.0, (3, 784))
    wide = build_network(NetworkSpec((784, 256, 256, 10), sigma_b=0.5, seed=0))
    return [
        ("quadratic 2-16-16-2, plane", small, plane),
        ("quadratic 2-64-64-64-10, plane", medium, plane),
        ("quadratic 784-256-256-10, 3 points", wide, slice_through_points(points)),
    ]


def forward_only(network, plane, resolution: int) -> float:
    """Seconds to evaluate ``network`` at every cell centre, chunked as rasterize."""
    dtype = next(network.parameters()).dtype
    chunk = _default_chunk_size(network, dtype, plane.n_features)
    axes = [torch.as_tensor(a, dtype=dtype) for a in plane.axis_points(resolution)]
    n_cells = resolution**plane.dimension
    start_time = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n_cells, chunk):
            index = torch.arange(start, min(start + chunk, n_cells))
            columns = []
            for axis in reversed(axes):
                columns.append(axis[index % resolution])
                index = index // resolution
            coordinates = torch.stack(list(reversed(columns)), dim=1)
            network(plane.to_input(coordinates))
    return time.perf_counter() - start_time


def ratio_table(resolution: int) -> None:
    print(f"\n{resolution}^2 slice, one resolution, Betti numbers and persistence\n")
    print("| network | classes | forward (s) | topology total (s) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, network, plane in examples():
        forward = min(forward_only(network, plane, resolution) for _ in range(2))
        start = time.perf_counter()
        result = analyze_slice(network, plane, (resolution,), persistence=True)
        total = time.perf_counter() - start
        n_classes = len(result.classes)
        print(
            f"| {name} | {n_classes} | {forward:.2f} | {total:.2f} | "
            f"{total / forward:.1f} |"
        )


def child(dimension: int, resolution: int, max_complex_cells: int) -> None:
    """Analyse one grid and print seconds and peak memory (run as a child).

    ``max_complex_cells`` 0 keeps the default of the installed backends.
    """
    plane = input_space_slice(dimension, bounds=np.tile([-3.0, 3.0], (dimension, 1)))
    network = build_network(NetworkSpec((dimension, 16, 16, 3), sigma_b=0.5, seed=0))
    start = time.perf_counter()
    result = analyze_slice(
        network,
        plane,
        (resolution,),
        persistence=True,
        max_complex_cells=max_complex_cells or None,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    betti = " ".join(
        "(" + ",".join(str(b) for b in c.homology.betti_in_box) + ")"
        for c in result.classes
    )
    method = result.classes[0].homology.method
    print(f"{seconds:.1f} {peak:.2f} {method} {betti}")


def largest_grids(grids: list[tuple[int, int, int]]) -> None:
    print("\nLargest grids, quadratic k-16-16-3 on the whole input space\n")
    print(
        "| grid | cells | total (s) | peak memory (GiB) | method "
        "| Betti numbers in box |"
    )
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for dimension, resolution, max_cells in grids:
        command = [
            sys.executable,
            __file__,
            "--child",
            str(dimension),
            str(resolution),
            str(max_cells),
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True)
        seconds, peak, method, betti = output.stdout.split(maxsplit=3)
        grid = "^".join([str(resolution), str(dimension)])
        print(
            f"| {grid} | {resolution**dimension:,} | {seconds} | {peak} | {method} | "
            f"{betti.strip()} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids only")
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(*arguments.child)
        return

    torch.set_num_threads(2)
    print(f"python {platform.python_version()}, torch {torch.__version__}")
    if arguments.quick:
        ratio_table(128)
        largest_grids([(2, 256, 0), (3, 32, 0), (3, 32, 2**14)])
        return
    ratio_table(1024)
    # The last row uses the limit that applies when only GUDHI is installed,
    # so its Betti numbers come from labelling.
    largest_grids(
        [(2, 2048, 0), (3, 128, 0), (3, 256, 0), (3, 256, MAX_COMPLEX_CELLS_GUDHI)]
    )


if __name__ == "__main__":
    main()
