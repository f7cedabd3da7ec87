"""``expressivity sweep``: run a grid of experiments into a results database."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from expressivity.cli import common
from expressivity.cli.main import app


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="YAML experiment or sweep config."),
    db: Path = typer.Option(
        Path("results.sqlite"), "--db", help="SQLite results database file."
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        help="Processes of the local pool; 0 runs in this process.",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786; "
        "replaces the local pool.",
    ),
    checkpoints: Path | None = typer.Option(
        None,
        "--checkpoints",
        help="Folder for safetensors checkpoints of trained networks "
        "(default: DB name + _checkpoints beside the database).",
    ),
) -> None:
    """Run every experiment of a sweep not yet finished in the database.

    Rerunning the same command resumes an interrupted sweep: finished
    experiments are skipped and failed ones are run again.
    """
    from expressivity.experiments import load_config, run_sweep

    if scheduler is not None and workers != 1:
        common.fail("give either --workers or --scheduler, not both")
    with common.clear_errors():
        parsed = load_config(config)
    if checkpoints is None:
        checkpoints = db.with_name(db.stem + "_checkpoints")

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    task = None

    def on_start(summary) -> None:
        nonlocal task
        task = progress.add_task(
            parsed.base.name,
            total=summary.total - summary.skipped,
            counts=f"({summary.skipped} already done)",
        )

    def on_result(result, summary) -> None:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
        progress.update(task, advance=1, counts=counts)
        if result.status != "finished":
            progress.console.print(
                f"[yellow]{result.status}[/yellow] {result.config_hash[:12]}: "
                f"{escape(result.error)}",
                highlight=False,
            )

    with progress, common.clear_errors():
        summary = run_sweep(
            parsed,
            db,
            workers=workers,
            scheduler=scheduler,
            checkpoint_dir=checkpoints,
            on_start=on_start,
            on_result=on_result,
        )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
    typer.echo(
        f"{summary.total} experiments: {summary.skipped} already done, "
        f"ran {summary.completed} ({counts or 'none'}) in {summary.wall_s:.1f} s; "
        f"results in {db}"
    )
