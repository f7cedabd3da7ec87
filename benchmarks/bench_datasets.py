"""Benchmark the dataset loaders against reading and hashing their files.

For each offline set the loader (parsing and the default feature pipeline,
checksum verification off) is timed against a baseline in the same process:
reading every file the loader read and computing its SHA-256, which is the
floor for any loader that verifies its input. The ratio says how much the
parsing and feature pipeline cost on top of that floor.

Run: ``EXPRESSIVITY_DATA=/path/to/datasets python benchmarks/bench_datasets.py``
(add ``--quick`` for a smoke run with fewer examples).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import time
from pathlib import Path

from expressivity.data import data_root, get_info, load_dataset

# (name, split, max_examples, max_examples with --quick)
CASES = (
    ("mnist", "test", None, 1000),
    ("cifar10-kaggle", "train", None, 50),
    ("sst2", "dev", None, 200),
    ("ag-news", "test", None, 500),
    ("imdb", "test", 2000, 200),
    ("adult", "train", None, 2000),
    ("cora", "all", None, None),
    ("gunpoint", "test", None, None),
    ("fsdd", "all", 300, 30),
    ("bikes", "all", None, 50),
    ("coco-captions", "val", None, 50),
)


def best_time(function, repeats: int) -> float:
    """Return the fastest of ``repeats`` wall-clock runs of ``function``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def hash_files(files: list[str]) -> None:
    """Read every file of ``files`` and compute its SHA-256."""
    for name in files:
        path = Path(name)
        if path.is_file():
            hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer examples.")
    parser.add_argument("--repeats", type=int, default=2, help="Runs per timing.")
    options = parser.parse_args()
    root = data_root()

    print(f"Python {platform.python_version()}, data root {root}")
    print(
        "| set | split | examples | features | load (s) | read + SHA-256 (s) | ratio |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, split, max_examples, quick_examples in CASES:
        if get_info(name).locate(root) is None:
            print(f"| {name} | {split} | no local copy | | | | |")
            continue
        limit = quick_examples if options.quick else max_examples

        def load(name=name, split=split, limit=limit):
            return load_dataset(
                name, split=split, max_examples=limit, verify=False, download=False
            )

        data = load()
        files = data.provenance.get("files", [])
        load_s = best_time(load, options.repeats)
        hash_s = best_time(lambda files=files: hash_files(files), options.repeats)
        print(
            f"| {name} | {split} | {len(data)} | {data.n_features} | {load_s:.3f} "
            f"| {hash_s:.3f} | {load_s / hash_s:.1f} |"
        )


if __name__ == "__main__":
    main()
