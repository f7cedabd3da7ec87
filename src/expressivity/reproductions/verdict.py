"""Verdicts of a reproduction: the paper's value beside the tool's, row by row.

A reproduction ends in a ``ReproductionReport``: rows that each compare one
published value or claim with the tool's measurement and say whether they
agree within a stated tolerance. The helpers here are pure functions of
arrays, so the verdict logic is tested on synthetic inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ("reproduction", "result")


@dataclass(frozen=True)
class VerdictRow:
    """One comparison of a published value (or claim) with the tool's.

    Attributes
    ----------
    label
        What is compared, for example ``hardtanh k=128 sigma_w^2=16``.
    paper
        The paper's value or claim, as printed.
    tool
        The tool's value, as printed.
    passed
        True or False for a checked row; None for a row shown for information.
    tolerance
        The tolerance or criterion of the check, in words and numbers.
    note
        Why the values differ, where known.
    """

    label: str
    paper: str
    tool: str
    passed: bool | None
    tolerance: str
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "info"
        return "pass" if self.passed else "FAIL"


@dataclass(frozen=True)
class DetailTable:
    """A table of per-run values printed after the verdict rows.

    Attributes
    ----------
    title
        Caption of the table.
    columns
        Column headers.
    rows
        One tuple of cells (as printed) per line, as long as ``columns``.
    """

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]

    def to_markdown(self) -> str:
        """Return the table as Markdown, preceded by its title."""
        lines = [
            self.title,
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + " --- |" * len(self.columns),
        ]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        return "\n".join(lines)


@dataclass
class ReproductionReport:
    """Everything a reproduction prints and writes.

    Attributes
    ----------
    name, title, reference
        Command name, one-line title and the cited paper.
    kind
        ``reproduction`` of a published result, or ``result`` where no
        published value exists and the tool's measurement is new.
    size
        ``small`` (the default) or ``full`` (the paper's sizes).
    rows
        The verdict rows.
    figures
        Files of the figures written.
    notes
        Method and caveats, one sentence or paragraph each.
    failed_experiments
        ``(label, error)`` of grid points that failed.
    tables
        Per-run tables printed after the verdict rows.
    """

    name: str
    title: str
    reference: str
    kind: str
    size: str
    rows: list[VerdictRow] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed_experiments: list[tuple[str, str]] = field(default_factory=list)
    tables: list[DetailTable] = field(default_factory=list)

    @property
    def checked(self) -> list[VerdictRow]:
        return [row for row in self.rows if row.passed is not None]

    @property
    def passed(self) -> bool:
        """True when every checked row passes (and at least one was checked)."""
        checked = self.checked
        return bool(checked) and all(row.passed for row in checked)

    def to_markdown(self) -> str:
        """Return the rows as a Markdown table, then the notes and the tables."""
        lines = [
            "| row | paper | tool | verdict | tolerance |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in self.rows:
            cells = (row.label, row.paper, row.tool, row.verdict, row.tolerance)
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        summary = sum(bool(row.passed) for row in self.checked)
        lines.append("")
        lines.append(f"{summary} of {len(self.checked)} checked rows pass.")
        for note in self.notes:
            lines.extend(["", note])
        for table in self.tables:
            lines.extend(["", table.to_markdown()])
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


@dataclass(frozen=True)
class LineFit:
    """Least-squares line y = intercept + slope x with the slope's standard error."""

    slope: float
    intercept: float
    slope_stderr: float


def fit_line(x: np.ndarray, y: np.ndarray) -> LineFit:
    """Fit y = a + b x by least squares and return b, a and the standard error of b.

    The standard error is sqrt(residual variance / sum (x - mean x)^2) with
    n - 2 degrees of freedom; it is 0 for two points.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(
            f"fit_line needs two arrays of the same length >= 2, got shapes "
            f"{x.shape} and {y.shape}"
        )
    centred = x - x.mean()
    spread = float(centred @ centred)
    if spread == 0.0:
        raise ValueError("fit_line needs at least two distinct x values")
    slope = float(centred @ (y - y.mean())) / spread
    intercept = float(y.mean() - slope * x.mean())
    residuals = y - (intercept + slope * x)
    dof = x.size - 2
    stderr = float(np.sqrt(residuals @ residuals / dof / spread)) if dof > 0 else 0.0
    return LineFit(slope, intercept, stderr)


def geometric_growth(lengths: np.ndarray, first: int, last: int) -> float:
    """Return the mean per-layer growth (L_last / L_first)^(1 / (last - first)).

    ``lengths`` contains L_0 (the input), L_1, ... The geometric mean of the
    layer ratios L_k / L_(k-1) over k = first + 1 .. last telescopes to this.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    if not 0 <= first < last < lengths.size:
        raise ValueError(
            f"layers first={first}, last={last} must satisfy "
            f"0 <= first < last < {lengths.size} (the number of lengths)"
        )
    start, end = lengths[first], lengths[last]
    if start <= 0 or end <= 0:
        return 0.0 if end <= 0 < start else float("nan")
    return float((end / start) ** (1.0 / (last - first)))


def format_number(value: float | None, digits: int = 3) -> str:
    """Format a number with ``digits`` significant digits; None and NaN as n/a."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"
