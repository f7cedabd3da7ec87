"""Options and helpers shared by the commands that build a network."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer

from expressivity.errors import ExpressivityError
from expressivity.models import (
    FullyConnected,
    NetworkSpec,
    build_network,
    load_network,
    make_activation,
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one ``error:`` line to standard error and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the package's own errors into one ``error:`` line and exit code 2."""
    try:
        yield
    except ExpressivityError as error:
        fail(str(error))


def parse_widths(text: str) -> tuple[int, ...]:
    """Parse ``64,64,10`` (or ``64-64-10``) into a tuple of widths."""
    separator = "," if "," in text else "-"
    parts = text.replace(" ", "").split(separator)
    if parts and not parts[-1] and len(parts) > 1:
        parts = parts[:-1]  # a trailing separator, as in 64,64,
    if not text.strip() or "" in parts:
        fail(
            f"invalid --widths {text!r}: a width is missing; give positive "
            "integers separated by commas, for example 64,64,10"
        )
    widths = []
    for part in parts:
        try:
            widths.append(int(part))
        except ValueError:
            fail(
                f"invalid width {part!r} in --widths {text!r}; give positive "
                "integers separated by commas, for example 64,64,10"
            )
    if any(w < 1 for w in widths):
        bad = next(w for w in widths if w < 1)
        fail(
            f"invalid width {bad} in --widths {text!r}; every width must be a "
            "positive integer"
        )
    return tuple(widths)


def parse_coefficients(text: str | None) -> tuple[float, ...]:
    """Parse ``0,1,0.5`` into polynomial coefficients c_0, c_1, ..."""
    if not text:
        return ()
    try:
        coefficients = tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        fail(
            f"invalid --coefficients {text!r}; give numbers c_0,c_1,... "
            "separated by commas"
        )
    for index, value in enumerate(coefficients):
        if not math.isfinite(value):
            fail(
                f"invalid coefficient c_{index} = {value} in --coefficients "
                f"{text!r}; every coefficient must be a finite number"
            )
    return coefficients


def network_from_options(
    *,
    input_dim: int,
    widths: str,
    activation: str,
    coefficients: str | None,
    bias: bool,
    init: str,
    sigma_w: float,
    sigma_b: float,
    seed: int,
    dtype: str,
    weights: Path | None,
) -> FullyConnected:
    """Build the network a command's options describe.

    ``widths`` lists the hidden and output widths; the input width is
    ``input_dim`` (the data's feature dimension). With ``weights`` the
    network is loaded from that file instead and must take ``input_dim``
    inputs.
    """
    with clear_errors():
        act = make_activation(activation, parse_coefficients(coefficients))
        if weights is not None:
            network = load_network(weights, act, dtype)
            if network.widths[0] != input_dim:
                fail(
                    f"weights file {str(weights)!r} expects input dimension "
                    f"{network.widths[0]} but the data has dimension {input_dim}"
                )
            return network
        spec = NetworkSpec(
            widths=(input_dim, *parse_widths(widths)),
            activation=act.name,
            coefficients=act.coefficients,
            bias=bias,
            init=init,
            sigma_w=sigma_w,
            sigma_b=sigma_b,
            seed=seed,
            dtype=dtype,
        )
        return build_network(spec)


def write_json(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` as indented JSON, failing with one line on error."""
    try:
        path.write_text(json.dumps(payload, indent=2, default=_json_default))
    except OSError as error:
        fail(f"could not write JSON to {str(path)!r}: {error.strerror}")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot serialise {type(value).__name__}")


# Typer options shared by every command that builds a network. Each command
# declares its own parameters with these defaults so that help text matches.
WIDTHS_HELP = (
    "Hidden and output widths after the input, comma-separated "
    "(the input width comes from the data)."
)
ACTIVATION_HELP = "Activation: quadratic, polynomial, relu, tanh, hardtanh, linear."
COEFFICIENTS_HELP = "Polynomial coefficients c_0,c_1,... for --activation polynomial."
INIT_HELP = "Initialisation: normal (sigma_w, sigma_b), he, glorot, lecun."
SIGMA_W_HELP = "Weight scale: Wk entries are N(0, sigma_w^2 / n_{k-1})."
SIGMA_B_HELP = "Bias standard deviation: bk entries are N(0, sigma_b^2)."
WEIGHTS_HELP = "Load W1, b1, W2, ... from a .safetensors or .npz file instead."
