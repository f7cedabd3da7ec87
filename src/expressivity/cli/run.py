"""``expressivity run``: lengths and bounds through every layer."""

from __future__ import annotations

from expressivity.cli.main import app


@app.command()
def run() -> None:
    """Measure the trajectory length and bounds through every layer."""
    raise NotImplementedError
