"""``expressivity run``: trajectory length and bounds through every layer."""

from __future__ import annotations

import logging
import math
from pathlib import Path as FilePath

import torch
import typer
from rich.console import Console
from rich.table import Table

from expressivity.cli import common
from expressivity.cli.certified import (
    CERTIFIED_HELP,
    GAP_HELP,
    CertifiedReport,
    add_to_payload,
    format_enclosure,
    measure_certified,
    print_summary,
)
from expressivity.cli.datasets import (
    DATASET_HELP,
    NATURAL_PATH_KINDS,
    natural_path_from_options,
)
from expressivity.cli.main import app
from expressivity.errors import ConfigurationError, NumericalError
from expressivity.length.trajectory import MIN_RTOL
from expressivity.measurement import Measurement, measure
from expressivity.paths import (
    PATH_KINDS,
    Path,
    circle_through,
    ellipse_through,
    polyline_through,
    random_circle,
    random_line,
)

logger = logging.getLogger(__name__)

KIND_MARKS = {"exact": "x", "estimate": "e", "certified": "c"}
BOUND_COLUMNS = ("U1", "U2", "U3", "U4", "L1", "L2", "L3", "Lc")


@app.command()
def run(
    dataset: str = typer.Option(
        "digits", help="Dataset whose examples define the path."
    ),
    data_dir: FilePath | None = typer.Option(None, help="Folder with dataset files."),
    split: str | None = typer.Option(None, help=DATASET_HELP["split"]),
    max_examples: int | None = typer.Option(None, help=DATASET_HELP["max_examples"]),
    window: int | None = typer.Option(None, help=DATASET_HELP["window"]),
    stride: int | None = typer.Option(None, help=DATASET_HELP["stride"]),
    path_kind: str = typer.Option(
        "circle",
        "--path",
        help="Path kind: circle (diameter between two examples), ellipse "
        "(a cos t + b sin t), line, polyline (closed, through --n-points examples); "
        + DATASET_HELP["path"],
    ),
    examples: str | None = typer.Option(
        None,
        help="Comma-separated example indices the path passes through "
        "(default: the first example and the first of another class).",
    ),
    n_points: int = typer.Option(4, help="Examples on a polyline path."),
    random_path: bool = typer.Option(
        False, "--random-path", help="Use random directions instead of examples."
    ),
    widths: str = typer.Option("64,64,64,10", help=common.WIDTHS_HELP),
    activation: str = typer.Option("quadratic", help=common.ACTIVATION_HELP),
    coefficients: str | None = typer.Option(None, help=common.COEFFICIENTS_HELP),
    init: str = typer.Option("normal", help=common.INIT_HELP),
    sigma_w: float = typer.Option(1.0, help=common.SIGMA_W_HELP),
    sigma_b: float = typer.Option(0.0, help=common.SIGMA_B_HELP),
    bias: bool = typer.Option(True, "--bias/--no-bias", help="Layers have biases."),
    seed: int = typer.Option(0, help="Seed of the weights and of random paths."),
    dtype: str = typer.Option("float64", help="float32 or float64."),
    weights: FilePath | None = typer.Option(None, help=common.WEIGHTS_HELP),
    tolerance: float = typer.Option(
        1e-6, help="Relative tolerance of the length quadrature."
    ),
    samples: int = typer.Option(
        257, help="Samples per smooth piece of the path for sampled sup and inf."
    ),
    bounds: bool = typer.Option(True, "--bounds/--no-bounds", help="Evaluate bounds."),
    energy: bool = typer.Option(False, help="Also print the energy table."),
    json_path: FilePath | None = typer.Option(
        None, "--json", help="Write the full result as JSON to this file."
    ),
    certified: bool = typer.Option(False, "--certified", help=CERTIFIED_HELP),
    gap: float = typer.Option(1e-3, help=GAP_HELP),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Measure the model that module:factory builds (importable, called "
        "with no argument) instead of a fully connected network, e.g. "
        "expressivity.models.zoo:mnist_cnn.",
    ),
    state_dict: FilePath | None = typer.Option(
        None, "--state-dict", help="Weights of --model: a .safetensors state dict."
    ),
    input_shape: str | None = typer.Option(
        None,
        "--input-shape",
        help="Shape of one example as --model takes it, comma-separated (e.g. "
        "1,8,8); the flat path points are reshaped to it. Default: flat inputs.",
    ),
) -> None:
    """Measure the length of a path after every layer and evaluate every bound.

    With no options: the 8x8 digits bundled with scikit-learn, a random
    quadratic network 64-64-64-64-10 in float64 (seed 0), and the circle whose
    diameter joins two digit images of different classes.
    """
    _check_options(tolerance, samples, n_points, path_kind)
    if certified and not (math.isfinite(gap) and 0 < gap < 1):
        common.fail(f"--gap {gap} is invalid; give a relative gap in (0, 1), e.g. 1e-3")
    if data_dir is not None and not data_dir.is_dir():
        common.fail(
            f"--data-dir {data_dir} is not a folder; give the folder that holds "
            "the dataset, or omit it to use $EXPRESSIVITY_DATA or the cache"
        )
    with common.clear_errors():
        from expressivity.data import load_dataset

        data = load_dataset(
            dataset, split=split, data_dir=data_dir, max_examples=max_examples
        )
        path, chosen = _build_path(
            data, path_kind, examples, n_points, random_path, seed, window, stride
        )
    if model is not None:
        network, description = _user_model(
            model, state_dict, input_shape, dtype, path.dim
        )
        description.update({"dataset": data.name, "examples": chosen})
    elif state_dict is not None or input_shape is not None:
        common.fail("--state-dict and --input-shape apply only with --model")
    else:
        # A natural path may live in another space than the examples (windows of
        # a time series), so the input width is the path's dimension.
        network = common.network_from_options(
            input_dim=path.dim,
            widths=widths,
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

        description = {
            "widths": network.widths,
            "activation": network.activation.activation.to_dict(),
            "init": init,
            "sigma_w": sigma_w,
            "sigma_b": sigma_b,
            "bias": bias,
            "seed": seed,
            "dtype": dtype,
            "weights": str(weights) if weights else None,
            "dataset": data.name,
            "examples": chosen,
        }
    # Rich falls back to 80 columns when output is not a terminal, which
    # truncates the bound columns; 150 fits the table.
    console = Console(width=max(Console().width, 190 if certified else 150))
    try:
        result = measure(
            network,
            path,
            rtol=tolerance,
            bounds=False,
            network_description=description,
        )
    except NumericalError as error:
        if json_path is not None:
            # Keep the run's description with the error, so that a sweep
            # driven by these files records what failed and where.
            common.write_json(
                {
                    "network": description,
                    "path": path.describe(),
                    "tolerance": tolerance,
                    "error": {"message": str(error), "layer": error.layer},
                },
                json_path,
            )
        common.fail(str(error), code=1)

    bounds_error = None
    if bounds:
        try:
            with_bounds = measure_bounds(network, path, result, samples)
            result.bounds = with_bounds
        except NumericalError as error:
            bounds_error = str(error)

    report = None
    certified_error = None
    if certified:
        try:
            report = measure_certified(network, path, gap)
        except ConfigurationError as error:
            common.fail(str(error))
        except NumericalError as error:
            certified_error = str(error)

    # Lengths and bounds already computed are printed and written before a
    # later failure is reported.
    print_tables(console, result, energy, report)
    if json_path is not None:
        payload = result.to_dict()
        if bounds_error:
            payload["bounds_error"] = bounds_error
        if certified_error:
            payload["certified_error"] = certified_error
        if report is not None:
            add_to_payload(payload, report)
        common.write_json(payload, json_path)
    if bounds_error:
        common.fail(f"bounds not evaluated: {bounds_error}", code=1)
    if certified_error:
        common.fail(f"certified bounds not evaluated: {certified_error}", code=1)


def _user_model(spec, state_dict, input_shape, dtype, n_inputs):
    """Build --model with its --state-dict, and its JSON description."""
    from expressivity.models.factory import user_network

    shape = None
    if input_shape is not None:
        try:
            shape = tuple(int(part) for part in input_shape.split(",") if part.strip())
        except ValueError:
            shape = ()
        if not shape or min(shape) < 1:
            common.fail(
                f"--input-shape {input_shape!r} is invalid; give positive integers "
                "separated by commas, e.g. 1,8,8"
            )
    with common.clear_errors():
        network = user_network(
            spec, state_dict, input_shape=shape, dtype=dtype, n_inputs=n_inputs
        )
    description = {
        "model": spec,
        "type": type(network.model).__name__,
        "state_dict": str(state_dict) if state_dict else None,
        "input_shape": list(shape) if shape else None,
        "layers": network.names,
        "widths": network.widths,
        "dtype": dtype,
        "product_bounds": network.chain_reason or "available",
    }
    return network, description


def measure_bounds(network, path: Path, result: Measurement, samples: int):
    """Evaluate the bounds on a measurement whose lengths are already known."""
    from expressivity.bounds import evaluate_bounds

    return evaluate_bounds(network, path, result.lengths, n_samples=samples)


def _check_options(tolerance: float, samples: int, n_points: int, kind: str) -> None:
    if not (math.isfinite(tolerance) and tolerance > 0):
        common.fail(f"--tolerance {tolerance} is invalid; give a number > 0, e.g. 1e-6")
    if tolerance >= 1:
        common.fail(f"--tolerance {tolerance} is a relative tolerance and must be < 1")
    if tolerance < MIN_RTOL:
        common.fail(
            f"--tolerance {tolerance} is below what float64 quadrature can "
            f"resolve; give {MIN_RTOL:g} or more"
        )
    if samples < 2:
        common.fail(f"--samples {samples} is invalid; give an integer >= 2")
    if n_points < 2:
        common.fail(f"--n-points {n_points} is invalid; a polyline needs >= 2 points")
    if kind not in PATH_KINDS + NATURAL_PATH_KINDS:
        kinds = ", ".join(PATH_KINDS + NATURAL_PATH_KINDS)
        common.fail(f"unknown --path {kind!r}; use one of {kinds}")


def _build_path(
    data, kind, examples, n_points, random_path, seed, window=None, stride=None
):
    """Return the path and the example indices it passes through."""
    if kind in NATURAL_PATH_KINDS:
        if random_path:
            common.fail(
                f"--random-path does not apply to --path {kind}, which follows "
                "the data; drop --random-path or use --path line, circle, "
                "ellipse or polyline"
            )
        return natural_path_from_options(data, kind, examples, n_points, window, stride)
    features = data.features
    generator = torch.Generator().manual_seed(seed)
    dim = features.shape[1]
    if random_path:
        if kind == "line":
            return random_line(dim, generator=generator), []
        if kind in ("circle", "ellipse"):
            return random_circle(dim, generator=generator), []
        points = torch.randn(n_points, dim, generator=generator, dtype=torch.float64)
        return polyline_through(points, closed=True), []

    needed = n_points if kind == "polyline" else 2
    indices = _parse_examples(examples, len(data), needed) or _default_examples(
        data, needed
    )
    points = features[indices]
    if kind == "circle":
        return circle_through(points[0], points[1], generator=generator), indices
    if kind == "ellipse":
        return ellipse_through(points[0], points[1]), indices
    if kind == "line":
        from expressivity.paths import LineSegment

        return LineSegment(points[0], points[1]), indices
    return polyline_through(points, closed=True), indices


def _parse_examples(text: str | None, size: int, needed: int) -> list[int] | None:
    if text is None:
        return None
    try:
        indices = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError(
            f"invalid --examples {text!r}; give comma-separated integer indices"
        ) from None
    if len(indices) != needed:
        raise ConfigurationError(
            f"--examples {text!r} lists {len(indices)} indices; "
            f"this path needs {needed}"
        )
    for index in indices:
        if not 0 <= index < size:
            raise ConfigurationError(
                f"example index {index} is out of range; the dataset has {size} "
                f"examples (0 .. {size - 1})"
            )
    return indices


def _default_examples(data, needed: int) -> list[int]:
    """First example, then first examples of classes not yet used."""
    if data.labels is None:
        return list(range(needed))
    chosen: list[int] = []
    seen: set[int] = set()
    for index, label in enumerate(data.labels.tolist()):
        if label not in seen:
            chosen.append(index)
            seen.add(label)
        if len(chosen) == needed:
            return chosen
    extra = [i for i in range(len(data)) if i not in chosen]
    return chosen + extra[: needed - len(chosen)]


def format_bound(bound) -> str:
    """Render a bound as ``value mark`` with x exact, e estimate, c certified."""
    if bound.kind == "not_applicable":
        return "n/a"
    if bound.value is None:
        return f"1e{bound.log10_value:.1f} {KIND_MARKS[bound.kind]}"
    return f"{bound.value:.4g} {KIND_MARKS[bound.kind]}"


def print_tables(
    console: Console,
    result: Measurement,
    energy: bool,
    certified: CertifiedReport | None = None,
) -> None:
    """Print the per-layer length table (and energy table), notes and summary."""
    quantities = ["length", "energy"] if energy else ["length"]
    for quantity in quantities:
        console.print(_layer_table(result, quantity, certified))

    if result.bounds is not None:
        notes = sorted(
            {
                f"{b.name} layer {b.layer}: {b.reason}"
                for b in result.bounds.bounds
                if b.quantity == "length"
                and (
                    b.kind == "not_applicable"
                    or "vacuous" in b.reason
                    or "not a valid bound here" in b.reason
                )
            }
        )
        for note in notes:
            console.print(f"[dim]{note}[/dim]")
        console.print(
            "[dim]x exact (U1, L1 to rtol; singular values "
            f"{_singular_method(result.bounds.profile)}), e estimate "
            f"(sampled sup/inf over {result.bounds.n_samples} points), c certified, "
            "n/a not applicable[/dim]"
        )
    lengths = result.lengths
    status = "converged" if lengths.converged else "NOT converged"
    console.print(
        f"input length {lengths.input_length:.6g}, output length "
        f"{lengths.output_length:.6g}, growth {lengths.layers[-1].growth:.4g}; "
        f"quadrature {status} at rtol {lengths.tolerance:g} (largest relative error "
        f"estimate {lengths.error_estimate:.2g}, {lengths.n_evaluations} evaluations)"
    )
    if certified is not None:
        print_summary(console, certified)


def _layer_table(
    result: Measurement, quantity: str, certified: CertifiedReport | None = None
) -> Table:
    table = Table(title=f"Trajectory {quantity} through every layer")
    table.add_column("k", justify="right")
    table.add_column("layer")
    table.add_column("width", justify="right")
    table.add_column(quantity, justify="right")
    table.add_column("growth", justify="right")
    table.add_column("ratio", justify="right")
    show_bounds = result.bounds is not None
    if show_bounds:
        for name in BOUND_COLUMNS:
            table.add_column(name, justify="right", no_wrap=True)
    if certified is not None:
        table.add_column("certified", justify="right", no_wrap=True)

    for layer in result.lengths.layers:
        value = layer.length if quantity == "length" else layer.energy
        base = result.lengths.layers[0]
        base_value = base.length if quantity == "length" else base.energy
        row = [
            str(layer.index),
            layer.name,
            str(layer.width) if layer.width is not None else "?",
            f"{value:.6g}",
            f"{value / base_value:.4g}" if base_value > 0 else "nan",
            f"{layer.layer_ratio:.4g}" if quantity == "length" else "",
        ]
        if show_bounds:
            if layer.index == 0:
                row += [""] * len(BOUND_COLUMNS)
            else:
                row += [
                    format_bound(result.bounds.get(name, layer.index, quantity))
                    for name in BOUND_COLUMNS
                ]
        if certified is not None:
            row.append(
                ""
                if layer.index == 0
                else format_enclosure(certified, layer.index, quantity)
            )
        table.add_row(*row)
    return table


def _singular_method(profile) -> str:
    """Describe how the output layer's singular values were computed."""
    if profile.exact[-1]:
        return "exact, from the dense jacobian"
    return "by power iteration"
