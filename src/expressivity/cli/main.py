"""The ``expressivity`` command line: one Typer app with a module per command."""

from __future__ import annotations

import logging
import sys

import typer

app = typer.Typer(
    name="expressivity",
    help="Trajectory length, Jacobian bounds and decision-region topology of "
    "neural networks.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress."),
) -> None:
    """Measure what neural networks can express."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


# Each command module registers itself on ``app`` when imported.
from expressivity.cli import datasets as _datasets  # noqa: E402,F401
from expressivity.cli import report as _report  # noqa: E402,F401
from expressivity.cli import reproduce as _reproduce  # noqa: E402,F401
from expressivity.cli import run as _run  # noqa: E402,F401
from expressivity.cli import sweep as _sweep  # noqa: E402,F401
from expressivity.cli import topology as _topology  # noqa: E402,F401
from expressivity.cli import train as _train  # noqa: E402,F401

INTERRUPTED = "interrupted: results written so far are kept"


def entry_point() -> None:
    """Run the command line, turning Ctrl-C into a one-line message.

    Results already written stay where they are: the --json file of a
    finished measurement and the rows of a sweep in its SQLite store. An
    interrupted sweep resumes from its store.
    """
    try:
        app()
    except SystemExit as exit_request:
        # Typer turns KeyboardInterrupt into a silent exit with status 130.
        if exit_request.code == 130:
            print(INTERRUPTED, file=sys.stderr)
        raise
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
