"""``expressivity train``: train one network and measure it at chosen epochs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from expressivity.cli import common
from expressivity.cli.main import app


@app.command()
def train(
    config: Path = typer.Argument(
        ..., help="YAML experiment config with a training section."
    ),
    db: Path | None = typer.Option(
        None, "--db", help="Also store the result in this SQLite results database."
    ),
    checkpoints: Path | None = typer.Option(
        None,
        "--checkpoints",
        help="Folder for safetensors checkpoints at training.checkpoint_epochs.",
    ),
) -> None:
    """Train the network a config describes, printing accuracy and length growth.

    Measurements (lengths, bounds, topology) are made at the epochs listed in
    training.checkpoint_epochs (default: 0 and the last epoch).
    """
    from expressivity.experiments import ResultStore, load_config, run_experiment

    with common.clear_errors():
        parsed = load_config(config)
    if parsed.grid:
        common.fail(
            f"{config} has a grid of {len(parsed.experiments())} experiments; "
            "run it with expressivity sweep"
        )
    if parsed.base.training is None:
        common.fail(f"{config} has no training section; add one, e.g. training: {{}}")

    console = Console()
    with console.status("training"):
        result = run_experiment(
            parsed.base,
            checkpoint_dir=None if checkpoints is None else str(checkpoints),
        )
    console.print(history_table(result))
    if db is not None:
        with common.clear_errors(), ResultStore(db) as store:
            store.write(result, sweep=parsed.base.name)
    if result.status != "finished":
        common.fail(result.error, code=1)
    typer.echo(f"trained in {result.duration_s:.1f} s")


def history_table(result) -> Table:
    """Per-epoch loss and accuracies, with the output growth where measured."""
    values: dict[int, dict[str, float | None]] = {}
    output_layer = max(
        (row.layer for row in result.rows if row.family == "length"), default=None
    )
    for row in result.rows:
        if row.family == "training":
            values.setdefault(row.epoch, {})[row.name] = row.value
        elif (
            row.family == "length"
            and row.name == "growth"
            and row.layer == output_layer
            and row.path_index == 0
        ):
            values.setdefault(row.epoch, {})["growth"] = row.value

    table = Table(title="Training history")
    for column in ("epoch", "loss", "train accuracy", "test accuracy", "growth"):
        table.add_column(column, justify="right")
    for epoch in sorted(values):
        entry = values[epoch]
        table.add_row(
            str(epoch),
            *(
                _format(entry.get(name))
                for name in ("loss", "train_accuracy", "test_accuracy", "growth")
            ),
        )
    return table


def _format(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
