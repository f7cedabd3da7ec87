"""``expressivity report``: an HTML page of figures and tables from a database."""

from __future__ import annotations

from pathlib import Path

import typer

from expressivity.cli import common
from expressivity.cli.main import app


@app.command()
def report(
    db: Path = typer.Argument(
        ..., help="SQLite results database of expressivity sweep."
    ),
    out: Path = typer.Option(
        Path("report"), "--out", help="Folder for index.html, its figures and data."
    ),
) -> None:
    """Write index.html with matplotlib figures, tables, and CSV/Parquet exports.

    The page and its PNG figures sit in one folder and open without a network.
    """
    from expressivity.experiments.report import write_report

    with common.clear_errors():
        written = write_report(db, out)
    typer.echo(
        f"wrote {written.index} with {len(written.figures)} figures and "
        f"{len(written.tables)} tables"
    )
