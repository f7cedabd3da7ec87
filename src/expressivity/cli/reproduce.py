"""``expressivity reproduce NAME``: rerun a published experiment and compare."""

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
)
from rich.table import Table

from expressivity.cli import common
from expressivity.cli.main import app

VERDICT_STYLES = {"pass": "green", "FAIL": "bold red", "info": "dim"}


FAILED_CHECK_STATUS = 3

@app.command()
def reproduce(
    name: str = typer.Argument(
        ..., help="raghu2017, hanin2022, quadratic or naitzat2020."
    ),
    full: bool = typer.Option(
        False, "--full", help="Run the paper's sizes instead of the small default."
    ),
    db: Path = typer.Option(
        Path("reproductions.sqlite"),
        "--db",
        help="SQLite results database; finished experiments there are skipped.",
    ),
    workers: int = typer.Option(
        1, "--workers", help="Processes of the local pool; 0 runs in this process."
    ),
    figures: Path | None = typer.Option(
        Path("reproductions"),
        "--figures",
        help="Folder for the PNG figures.",
    ),
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Also write the verdict table as Markdown here."
    ),
) -> None:
    """Run a published experiment end to end and print the paper's values beside
    the tool's, with a verdict per row and the tolerance used.

    Exits with status 3 when a checked row fails, 2 on bad options.
    Rerunning the command resumes from the database.
    """
    from expressivity.reproductions import RunOptions, get_reproduction

    if workers < 0:
        common.fail(f"--workers must be >= 0, got {workers}")
    with common.clear_errors():
        module = get_reproduction(name)

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: list = []

    def on_start(summary) -> None:
        tasks.append(
            progress.add_task(
                f"{name} sweep {len(tasks) + 1}",
                total=summary.total - summary.skipped,
                note=f"({summary.skipped} already done)",
            )
        )

    def on_result(result, summary) -> None:
        progress.update(tasks[-1], advance=1)
        if result.status != "finished":
            progress.console.print(
                f"[yellow]{result.status}[/yellow] {escape(result.error)}",
                highlight=False,
            )

    options = RunOptions(
        full=full,
        database=db,
        workers=workers,
        figures=figures,
        on_start=on_start,
        on_result=on_result,
    )
    with progress, common.clear_errors():
        report = module.run(options)

    # Rich falls back to 80 columns when output is piped, which wraps every
    # cell of the per-network tables.
    print_report(report, Console(width=max(Console().width, 200)))
    if markdown is not None:
        markdown.write_text(report.to_markdown())
    if report.checked and not report.passed:
        # Not 1, which Python uses for an uncaught exception, so that a
        # script can tell a failed check from a crash.
        raise typer.Exit(FAILED_CHECK_STATUS)


def print_report(report, console: Console) -> None:
    """Print the verdict table, the notes, the per-run tables, the failures and
    the figure files."""
    kind = (
        "reproduction of"
        if report.kind == "reproduction"
        else "new result, method after"
    )
    table = Table(
        title=f"{report.name} ({report.size}): {report.title}\n"
        f"{kind}: {report.reference}",
        title_justify="left",
    )
    for column in ("row", "paper", "tool", "verdict", "tolerance"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        style = VERDICT_STYLES[row.verdict]
        table.add_row(
            escape(row.label),
            escape(row.paper),
            escape(row.tool),
            f"[{style}]{row.verdict}[/{style}]",
            escape(row.tolerance),
        )
    console.print(table)
    checked = report.checked
    passed = sum(bool(row.passed) for row in checked)
    console.print(f"{passed} of {len(checked)} checked rows pass.")
    for note in report.notes:
        console.print(escape(note), highlight=False)
    for detail in report.tables:
        details = Table(title=detail.title, title_justify="left")
        for column in detail.columns:
            details.add_column(column, overflow="fold")
        for cells in detail.rows:
            details.add_row(*(escape(cell) for cell in cells))
        console.print(details)
    for label, error in report.failed_experiments:
        console.print(f"[yellow]failed[/yellow] {escape(label)}: {escape(error)}")
    for path in report.figures:
        console.print(f"figure: {path}")
