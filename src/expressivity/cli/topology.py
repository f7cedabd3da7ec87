"""``expressivity topology``: Betti numbers of decision regions on a slice."""

from __future__ import annotations

import logging
import math
from pathlib import Path as FilePath

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from expressivity.cli import common
from expressivity.cli.main import app
from expressivity.cli.run import _default_examples
from expressivity.data import Dataset
from expressivity.errors import ConfigurationError, NumericalError
from expressivity.topology import (
    CONSTRUCTIONS,
    SYNTHETIC_SETS,
    AffineSlice,
    SliceTopology,
    analyze_slice,
    input_space_slice,
    make_synthetic,
    principal_slice,
    random_slice,
    slice_through_points,
    topology_through_layers,
)
from expressivity.topology.layers import METHODS

logger = logging.getLogger(__name__)

SLICE_KINDS = ("auto", "input", "points", "principal", "random")
CONNECTIVITY = {
    "top": "regions 8-connected (26 in 3-D), holes and voids 4-connected (6 in 3-D)",
    "vertex": "regions 4-connected (6 in 3-D), holes and voids 8-connected (26 in 3-D)",
}


@app.command()
def topology(
    dataset: str = typer.Option(
        "nine_disks",
        help="Dataset whose examples place the slice: a registered dataset or a "
        f"synthetic set ({', '.join(SYNTHETIC_SETS)}).",
    ),
    data_dir: FilePath | None = typer.Option(None, help="Folder with dataset files."),
    slice_kind: str = typer.Option(
        "auto",
        "--slice",
        help="Slice: input (the whole 2-D or 3-D input space), points (through "
        "--examples), principal (principal directions through the mean), random "
        "(random directions through the first example); auto is input for 2-D "
        "and 3-D data, else points.",
    ),
    dimension: int = typer.Option(
        2, help="Slice dimension, 2 or 3 (points: 3 or 4 examples)."
    ),
    examples: str | None = typer.Option(
        None,
        help="Comma-separated indices of the 3 (2-D) or 4 (3-D) examples the "
        "slice passes through (default: first examples of different classes).",
    ),
    box: str | None = typer.Option(
        None,
        help="Box of slice coordinates lo1,hi1,lo2,hi2[,lo3,hi3] "
        "(default: the data or chosen examples with --margin).",
    ),
    margin: float = typer.Option(
        0.25, help="Box margin as a fraction of the data extent on every side."
    ),
    resolution: str = typer.Option(
        "64,128,256",
        help="Cells per axis, comma-separated and increasing; the Betti numbers "
        "are compared across them and reported at the finest (2-D up to 2048, "
        "3-D up to 256).",
    ),
    threshold: float = typer.Option(
        0.0,
        help="Margin persistence above which a feature counts as robust, and "
        "the change of the margin that surviving region features withstand, in "
        "units of the network output.",
    ),
    construction: str = typer.Option(
        "top", help="Cubical construction: top (8-connected regions) or vertex."
    ),
    persistence: bool = typer.Option(
        True, "--persistence/--no-persistence", help="Compute margin persistence."
    ),
    layers: bool = typer.Option(
        False,
        "--layers",
        help="Also report Betti numbers of each class's data "
        "point cloud at the input and after every layer.",
    ),
    neighbors: int = typer.Option(14, help="k of the k-nearest-neighbour graph."),
    method: str = typer.Option(
        "knn",
        help="Complex for --layers: knn (Vietoris-Rips of the hop distance on the "
        "k-nearest-neighbour graph) or rips (of the Euclidean distance).",
    ),
    scale: float = typer.Option(
        2.0, help="Rips scale for --layers: graph hops (knn) or a distance (rips)."
    ),
    max_points: int = typer.Option(500, help="Points per class for --layers."),
    widths: str | None = typer.Option(
        None, help=common.WIDTHS_HELP + " Default: 16,16 and one output per class."
    ),
    activation: str = typer.Option("quadratic", help=common.ACTIVATION_HELP),
    coefficients: str | None = typer.Option(None, help=common.COEFFICIENTS_HELP),
    init: str = typer.Option("normal", help=common.INIT_HELP),
    sigma_w: float = typer.Option(1.0, help=common.SIGMA_W_HELP),
    sigma_b: float = typer.Option(0.5, help=common.SIGMA_B_HELP),
    bias: bool = typer.Option(True, "--bias/--no-bias", help="Layers have biases."),
    seed: int = typer.Option(0, help="Seed of the weights and of random slices."),
    dtype: str = typer.Option("float64", help="float32 or float64."),
    weights: FilePath | None = typer.Option(None, help=common.WEIGHTS_HELP),
    png: FilePath | None = typer.Option(
        None, help="Write the labelled slice and persistence diagrams to this PNG."
    ),
    json_path: FilePath | None = typer.Option(
        None, "--json", help="Write the full result as JSON to this file."
    ),
) -> None:
    """Count components, holes and voids of every class region on a slice.

    With no options: the synthetic set D-I (nine disks in the plane), a
    random quadratic network 2-16-16-2 in float64 (seed 0), and its decision
    regions on the whole plane at 64, 128 and 256 cells per axis.
    """
    resolutions = _parse_resolutions(resolution)
    _check_options(slice_kind, dimension, margin, threshold, construction)
    if method not in METHODS:
        common.fail(f"unknown --method {method!r}; use knn or rips")
    with common.clear_errors():
        data = _load(dataset, data_dir)
    n_classes = max(len(data.class_names), 2)
    network = common.network_from_options(
        input_dim=data.n_features,
        widths=widths or f"16,16,{n_classes}",
        activation=activation,
        coefficients=coefficients,
        bias=bias,
        init=init,
        sigma_w=sigma_w,
        sigma_b=sigma_b,
        seed=seed,
        dtype=dtype,
        weights=weights,
    )
    with common.clear_errors():
        plane, chosen = _build_slice(
            data, slice_kind, dimension, examples, _parse_box(box), margin, seed
        )

    console = Console(width=max(Console().width, 120))
    try:
        with console.status("rasterising the slice and computing homology"):
            with common.clear_errors():
                result = analyze_slice(
                    network,
                    plane,
                    resolutions,
                    construction=construction,
                    threshold=threshold,
                    persistence=persistence,
                    class_names=data.class_names,
                )
    except NumericalError as error:
        common.fail(str(error), code=1)
    print_topology(console, result)

    layer_result = None
    if layers:
        if data.labels is None:
            common.fail(f"--layers needs labels, and dataset {data.name!r} has none")
        with console.status("Betti numbers of the data through the layers"):
            with common.clear_errors():
                layer_result = topology_through_layers(
                    network,
                    data.features,
                    data.labels,
                    class_names=data.class_names,
                    method=method,
                    n_neighbors=neighbors,
                    scale=scale,
                    max_points=max_points,
                    seed=seed,
                )
        console.print(_layers_table(layer_result))

    if png is not None:
        _write_figure(result, png, data, plane, chosen)
    if json_path is not None:
        payload = {
            "network": {
                "widths": network.widths,
                "activation": network.activation.activation.to_dict(),
                "init": init,
                "sigma_w": sigma_w,
                "sigma_b": sigma_b,
                "bias": bias,
                "seed": seed,
                "dtype": dtype,
                "weights": str(weights) if weights else None,
            },
            "dataset": data.name,
            "examples": chosen,
            "connectivity": CONNECTIVITY[construction],
            **result.to_dict(),
            "layers": None if layer_result is None else layer_result.to_dict(),
        }
        common.write_json(payload, json_path)


def print_topology(console: Console, result: SliceTopology) -> None:
    """Print the per-class table and the conventions behind it."""
    k = result.raster.plane.dimension
    table = Table(
        title=f"Decision regions on a {k}-D slice ({result.raster.plane.description}), "
        f"{result.raster.resolution} cells per axis"
    )
    table.add_column("class")
    table.add_column("cells", justify="right")
    for d in range(k):
        table.add_column(f"b{d}", justify="right")
    table.add_column("box ignored", justify="right")
    if result.classes and result.classes[0].robust is not None:
        table.add_column(f"persistence > {result.threshold:g}", justify="right")
        if result.threshold > 0:
            table.add_column(f"survive change < {result.threshold:g}", justify="right")
    table.add_column("stable from", justify="right")
    table.add_column("max sum (Milnor)", justify="right")

    fractions = result.raster.class_fractions()
    for topology in result.classes:
        homology = topology.homology
        row = [topology.class_name, f"{100 * fractions[topology.class_index]:.1f}%"]
        row += [str(b) for b in homology.betti_in_box]
        row.append(
            " ".join("?" if b is None else str(b) for b in homology.betti_interior)
        )
        if topology.robust is not None:
            row.append(" ".join(str(c) for c in topology.robust))
            if result.threshold > 0:
                row.append(" ".join(str(c) for c in topology.surviving))
        row.append(
            "not settled" if topology.stable_from is None else str(topology.stable_from)
        )
        row.append(_format_bound(topology.bound))
        table.add_row(*row)
    console.print(table)

    console.print(
        f"[dim]Connectivity: {CONNECTIVITY[result.construction]}. b_k count the "
        "region inside the box; 'box ignored' counts only components that do "
        "not touch the box boundary and loops or voids that the outside of the "
        "box does not fill. 'persistence > t' counts features of the margin "
        "diagram at any level; 'survive change < t' counts features of the "
        "region that stay for every change of the margin below t (of the "
        "outputs below t/2). Milnor: region in the box / whole region "
        "(polynomial networks only). Resolutions "
        f"{', '.join(str(r) for r in result.convergence.resolutions)}.[/dim]"
    )
    for note in result.notes:
        console.print(f"[yellow]Note: {note}.[/yellow]")


def _format_bound(bound) -> str:
    if bound.in_box is None:
        return "n/a"
    return f"{bound.in_box} / {bound.several} (d={bound.degree})"


def _layers_table(result) -> Table:
    if result.method == "knn":
        complex_ = f"k-NN graph, k = {result.n_neighbors}, {result.scale:g} hops"
    else:
        complex_ = f"Vietoris-Rips at distance {result.scale:g}"
    table = Table(
        title=f"Betti numbers of each class's data through the layers ({complex_})"
    )
    table.add_column("layer")
    for name, count in zip(result.class_names, result.n_points, strict=True):
        table.add_column(f"{name} ({count})", justify="right")
    for index, layer_name in enumerate(result.layer_names):
        cells = [
            " ".join(str(b) for b in per_class[index]) for per_class in result.betti
        ]
        table.add_row(layer_name, *cells)
    return table


def _load(name: str, data_dir: FilePath | None) -> Dataset:
    if name in SYNTHETIC_SETS:
        return make_synthetic(name)
    from expressivity.data import get_info, load_dataset

    try:
        get_info(name)
    except ConfigurationError as error:
        raise ConfigurationError(
            f"{error}; synthetic topology sets: {', '.join(SYNTHETIC_SETS)}"
        ) from None
    return load_dataset(name, data_dir=data_dir)


def _build_slice(
    data: Dataset,
    kind: str,
    dimension: int,
    examples: str | None,
    bounds: np.ndarray | None,
    margin: float,
    seed: int,
) -> tuple[AffineSlice, list[int]]:
    """Return the slice the options describe and the examples it passes through."""
    features = data.features.numpy()
    if kind == "auto":
        kind = "input" if data.n_features in (2, 3) and examples is None else "points"
    if kind == "input":
        return input_space_slice(
            data.n_features, data=features, bounds=bounds, margin=margin
        ), []
    if kind == "principal":
        return principal_slice(features, dimension, bounds=bounds, margin=margin), []

    needed = 1 if kind == "random" else dimension + 1
    chosen = _parse_examples(examples, len(data), needed, kind)
    if kind == "random":
        point_index = chosen[0] if chosen else 0
        plane = random_slice(
            features[point_index],
            dimension,
            seed=seed,
            data=features,
            bounds=bounds,
            margin=margin,
        )
        return plane, [point_index]
    chosen = chosen or _default_examples(data, needed)
    plane = slice_through_points(features[chosen], bounds=bounds, margin=margin)
    return plane, chosen


def _write_figure(
    result: SliceTopology,
    path: FilePath,
    data: Dataset,
    plane: AffineSlice,
    chosen: list[int],
) -> None:
    from expressivity.topology.plotting import save_topology_figure

    features = data.features.numpy()
    points = features[chosen] if chosen else features[:: max(1, len(features) // 2000)]
    diagrams = [c.diagram for c in result.classes if c.diagram is not None]
    try:
        save_topology_figure(
            result.raster,
            diagrams,
            path,
            class_names=[c.class_name for c in result.classes],
            points=plane.project(points)[:, :2],
        )
    except OSError as error:
        common.fail(f"could not write PNG to {str(path)!r}: {error.strerror}")


def _parse_examples(
    text: str | None, size: int, needed: int, kind: str
) -> list[int] | None:
    if text is None:
        return None
    try:
        indices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        indices = []
    if len(indices) != needed:
        raise ConfigurationError(
            f"invalid --examples {text!r}; a {kind} slice needs {needed} "
            "comma-separated example indices"
        )
    for index in indices:
        if not 0 <= index < size:
            raise ConfigurationError(
                f"example index {index} is out of range; the dataset has {size} "
                f"examples (0 .. {size - 1})"
            )
    return indices


def _parse_resolutions(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        common.fail(
            f"invalid --resolution {text!r}; give increasing integers separated "
            "by commas, for example 64,128,256"
        )


def _parse_box(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if len(values) not in (4, 6):
        raise ConfigurationError(
            f"invalid --box {text!r}; give lo1,hi1,lo2,hi2 for a 2-D slice or "
            "lo1,hi1,lo2,hi2,lo3,hi3 for a 3-D slice"
        )
    return np.array(values).reshape(-1, 2)


def _check_options(
    kind: str, dimension: int, margin: float, threshold: float, construction: str
) -> None:
    if kind not in SLICE_KINDS:
        common.fail(f"unknown --slice {kind!r}; use one of {', '.join(SLICE_KINDS)}")
    if dimension not in (2, 3):
        common.fail(f"--dimension {dimension} is invalid; use 2 or 3")
    if not (math.isfinite(margin) and margin >= 0):
        common.fail(f"--margin {margin} is invalid; give a number >= 0, e.g. 0.25")
    if not (math.isfinite(threshold) and threshold >= 0):
        common.fail(f"--threshold {threshold} is invalid; give a number >= 0")
    if construction not in CONSTRUCTIONS:
        common.fail(f"unknown --construction {construction!r}; use top or vertex")
