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
}
# Reproductions that are planned but not implemented, with the reason.
UNAVAILABLE = {
    "naitzat2020": (
        "not implemented yet: it needs ReLU and tanh networks trained to perfect "
        "training accuracy on D-I, D-II and D-III, then the Betti numbers of "
        "each class at every layer (expressivity.topology.topology_through_layers "
        "computes the latter); no result of it is available"
    ),
}


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
