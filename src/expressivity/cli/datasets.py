"""``expressivity datasets``: list, describe, verify and download registered sets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from expressivity.cli import common
from expressivity.cli.main import app
from expressivity.data.trajectories import PATH_KINDS

datasets_app = typer.Typer(
    help="List the registered datasets, show one, check or download its files.",
    no_args_is_help=True,
)
app.add_typer(datasets_app, name="datasets")

DATA_DIR_HELP = (
    "Data root (default: $EXPRESSIVITY_DATA, then the user cache directory)."
)


def _console() -> Console:
    # Rich uses 80 columns when output is not a terminal, which would wrap
    # every row of the listing.
    return Console(width=max(Console().width, 160))


@datasets_app.command("list")
def list_command(
    modality: str | None = typer.Option(None, help="Show only this modality."),
    data_dir: Path | None = typer.Option(None, help=DATA_DIR_HELP),
) -> None:
    """List every registered dataset and whether a local copy was found."""
    from expressivity.data import data_root, list_datasets

    with common.clear_errors():
        infos = list_datasets(modality)
        root = data_root(data_dir)
    table = Table(title=f"Datasets (data root {root})")
    for column in ("name", "modality", "splits", "examples", "features", "classes"):
        table.add_column(column, justify="right" if column == "features" else "left")
    table.add_column("licence")
    table.add_column("local")
    for info in infos:
        table.add_row(
            info.name,
            info.modality,
            ",".join(info.splits),
            ", ".join(f"{split} {count}" for split, count in info.n_examples.items()),
            str(info.n_features),
            _classes(info.class_names),
            info.licence,
            _local_status(info, root),
        )
    _console().print(table)


def _classes(names: tuple[str, ...]) -> str:
    if not names:
        return "-"
    shown = ", ".join(names[:4])
    return f"{len(names)}: {shown}" + (", ..." if len(names) > 4 else "")


def _local_status(info, root: Path) -> str:
    if info.bundled:
        return "bundled"
    folder = info.locate(root)
    return "no" if folder is None else f"yes ({folder.relative_to(root)})"


@datasets_app.command("info")
def info_command(
    name: str = typer.Argument(..., help="Registry name, e.g. mnist."),
    data_dir: Path | None = typer.Option(None, help=DATA_DIR_HELP),
) -> None:
    """Show one dataset's description, sizes, files and local copy."""
    from expressivity.data import data_root, get_info

    with common.clear_errors():
        info = get_info(name)
        root = data_root(data_dir)
    console = _console()
    rows = [
        ("name", info.name),
        ("modality", info.modality),
        ("description", info.description),
        ("splits", ", ".join(f"{s} ({info.n_examples[s]})" for s in info.splits)),
        ("features", str(info.n_features)),
        ("classes", ", ".join(info.class_names) or "-"),
        ("licence", info.licence),
        ("source", info.source),
        ("loader", info.loader),
        ("folder", "-" if info.bundled else f"{root / info.folder}"),
        ("local copy", _local_status(info, root)),
    ]
    for key, value in rows:
        console.print(f"[bold]{key}[/bold]: {value}", soft_wrap=True)
    files = info.all_files()
    if files:
        console.print(f"[bold]files[/bold]: {len(files)} recorded")
        for entry in files[:10]:
            digest = entry.sha256 or "no checksum recorded"
            url = f"  {entry.url}" if entry.url else ""
            console.print(f"  {entry.path}  {digest}{url}", soft_wrap=True)
        if len(files) > 10:
            console.print(f"  ... and {len(files) - 10} more")


@datasets_app.command("verify")
def verify_command(
    name: str = typer.Argument(..., help="Registry name, e.g. mnist."),
    data_dir: Path | None = typer.Option(None, help=DATA_DIR_HELP),
) -> None:
    """Check every file of a local copy against its recorded SHA-256.

    Exits with status 1 when a file differs or no local copy is found. Files
    of another layout of the same set (for example the tar.gz when the
    extracted batches are present) are reported as missing but do not fail.
    """
    from expressivity.data import data_root, get_info, verify_files

    with common.clear_errors():
        info = get_info(name)
        root = data_root(data_dir)
    if info.bundled:
        typer.echo(f"{name}: bundled or generated, no files to verify")
        return
    folder = info.locate(root)
    if folder is None:
        common.fail(
            f"no local copy of {name} found below {root}; expected "
            f"{info.folder}/, set --data-dir or EXPRESSIVITY_DATA",
            code=1,
        )
    checks = verify_files(info, root)
    counts = {status: 0 for status in ("ok", "mismatch", "missing", "unrecorded")}
    for check in checks:
        counts[check.status] += 1
        if check.status == "mismatch":
            typer.echo(
                f"MISMATCH {check.path}: expected {check.expected}, got {check.actual}"
            )
        elif check.status == "missing":
            typer.echo(f"missing  {check.path}")
    typer.echo(
        f"{name} in {folder}: {counts['ok']} ok, {counts['mismatch']} mismatched, "
        f"{counts['missing']} missing, {counts['unrecorded']} without checksum"
    )
    if counts["mismatch"]:
        raise typer.Exit(1)


@datasets_app.command("download")
def download_command(
    name: str = typer.Argument(..., help="Registry name, e.g. mnist."),
    data_dir: Path | None = typer.Option(None, help=DATA_DIR_HELP),
    base_url: str | None = typer.Option(
        None, help="Mirror that replaces each recorded URL up to its last '/'."
    ),
) -> None:
    """Download the missing files of a set, each checked before it is kept."""
    from expressivity.data import data_root, download_dataset, get_info

    with common.clear_errors():
        info = get_info(name)
        root = data_root(data_dir)
        if info.bundled:
            typer.echo(f"{name}: bundled or generated, nothing to download")
            return
        written = download_dataset(info, root, base_url=base_url)
    for path in written:
        typer.echo(f"downloaded {path}")
    typer.echo(f"{name}: {len(written)} file(s) downloaded to {root / info.folder}")


# Options of the commands that take ``--dataset`` and trace a natural path.
NATURAL_PATH_KINDS = PATH_KINDS
DATASET_HELP = {
    "split": "Dataset split (default: the first split the registry lists).",
    "max_examples": "Load only the first N examples of the split.",
    "window": "Window length for --path windows: values of a time series, or "
    "feature frames of an audio clip.",
    "stride": "Step between windows for --path windows, in the same unit.",
    "path": "natural paths: sequence (open polyline through --n-points consecutive "
    "examples from --examples START), frames (the same through video frames), "
    "windows (sliding windows over the signal of example --examples INDEX).",
}


def natural_path_from_options(
    data, kind: str, examples: str | None, n_points: int, window, stride
):
    """Build a natural path from command options; return it and its examples.

    ``examples`` is one index: the first example of ``sequence`` and
    ``frames``, the windowed example of ``windows`` (default 0).
    """
    from expressivity.data import natural_path
    from expressivity.errors import ConfigurationError

    start = 0
    if examples is not None:
        try:
            start = int(examples)
        except ValueError:
            raise ConfigurationError(
                f"invalid --examples {examples!r}; --path {kind} takes one "
                "integer index"
            ) from None
    trajectory = natural_path(
        data, kind, start=start, n_points=n_points, window=window, stride=stride
    )
    chosen = trajectory.source.get("examples", [start])
    return trajectory.path, chosen
