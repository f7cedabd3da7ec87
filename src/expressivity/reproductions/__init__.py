"""Published experiments rerun with the toolkit's own sweeps and results store.

Each module reruns one paper's experiment (or, for ``quadratic``, a study
with no published counterpart), compares the tool's numbers with the
paper's row by row and writes figures. ``REPRODUCTIONS`` maps the command
name to the module; every module has ``NAME``, ``TITLE``, ``REFERENCE`` and
``run(options) -> ReproductionReport``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from expressivity.errors import ConfigurationError
from expressivity.reproductions.runner import RunOptions
from expressivity.reproductions.verdict import ReproductionReport, VerdictRow

REPRODUCTIONS = {
    "raghu2017": "expressivity.reproductions.raghu2017",
    "hanin2022": "expressivity.reproductions.hanin2022",
    "quadratic": "expressivity.reproductions.quadratic",
    "naitzat2020": "expressivity.reproductions.naitzat2020",
}
# Reproductions that are planned but not implemented, with the reason.
UNAVAILABLE: dict[str, str] = {}


def get_reproduction(name: str) -> ModuleType:
    """Return the module of reproduction ``name``, or raise ConfigurationError."""
    if name in UNAVAILABLE:
        raise ConfigurationError(
            f"reproduction {name!r} is unavailable: {UNAVAILABLE[name]}"
        )
    if name not in REPRODUCTIONS:
        raise ConfigurationError(
            f"unknown reproduction {name!r}; choose one of {', '.join(REPRODUCTIONS)}"
        )
    return importlib.import_module(REPRODUCTIONS[name])


__all__ = [
    "REPRODUCTIONS",
    "UNAVAILABLE",
    "ReproductionReport",
    "RunOptions",
    "VerdictRow",
    "get_reproduction",
]
