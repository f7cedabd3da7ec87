"""Certified enclosures for ``expressivity run --certified``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from expressivity.certified import (
    EnclosureResult,
    ExtremesResult,
    certified_extremes,
    certified_lengths,
)
from expressivity.errors import ConfigurationError
from expressivity.paths import Path

logger = logging.getLogger(__name__)

GAP_HELP = (
    "Target relative gap (upper - lower) / upper of the certified length "
    "enclosures (with --certified)."
)
CERTIFIED_HELP = (
    "Also compute certified enclosures [lower, upper] of every layer's length "
    "and energy, and certified bounds on sup s(t) and inf r(t) (for chains of "
    "Linear layers)."
)


@dataclass
class CertifiedReport:
    """Certified length enclosures and extremes of one path through one network.

    ``extremes`` is None where sup s and inf r are not certified (models other
    than chains of Linear layers), and ``extremes_reason`` gives the reason.
    """

    lengths: EnclosureResult
    extremes: ExtremesResult | None
    extremes_reason: str = ""

    def layer_payload(self, layer: int) -> dict[str, Any]:
        """JSON ``enclosure`` entry of one layer (1-based)."""
        enclosure = self.lengths.get(layer)
        payload = {
            "lower": enclosure.lower,
            "upper": enclosure.upper,
            "segments": enclosure.segments,
            "gap": enclosure.gap,
            "energy_lower": enclosure.energy_lower,
            "energy_upper": enclosure.energy_upper,
            "energy_gap": enclosure.energy_gap,
            "sup_s": None,
            "sup_s_sampled_kind": None,
            "inf_r_lower": None,
            "inf_r_reason": self.extremes_reason,
        }
        if self.extremes is not None:
            extremes = self.extremes.get(layer)
            payload.update(
                sup_s=[extremes.sup_sampled, extremes.sup_certified],
                sup_s_sampled_kind=extremes.sup_sampled_kind,
                inf_r_lower=extremes.inf_lower,
                inf_r_reason=extremes.inf_reason,
            )
        return payload

    def summary(self) -> dict[str, Any]:
        """JSON ``certified`` entry: target, gap reached and accounting."""
        extremes = self.extremes
        return {
            "target_gap": self.lengths.target_gap,
            "gap": self.lengths.gap,
            "converged": self.lengths.converged,
            "n_segments": self.lengths.n_segments,
            "n_evaluations": self.lengths.n_evaluations,
            "max_evaluations": self.lengths.max_evaluations,
            "extremes_segments": None if extremes is None else extremes.n_segments,
            "extremes_method": None if extremes is None else extremes.layers[0].method,
            "extremes_reason": self.extremes_reason,
            "rounding": self.lengths.rounding,
        }


def measure_certified(network, path: Path, gap: float) -> CertifiedReport:
    """Compute the certified enclosures and, for Linear chains, the extremes."""
    logger.info("certified enclosures to relative gap %g", gap)
    lengths = certified_lengths(network, path, gap=gap)
    try:
        extremes = certified_extremes(network, path)
    except ConfigurationError as error:
        logger.info("certified extremes skipped: %s", error)
        return CertifiedReport(lengths, None, str(error))
    return CertifiedReport(lengths, extremes)


def format_enclosure(report: CertifiedReport, layer: int, quantity: str) -> str:
    """Render ``[lower, upper] c`` for the table's ``certified`` column."""
    enclosure = report.lengths.get(layer)
    if quantity == "length":
        lower, upper = enclosure.lower, enclosure.upper
    else:
        lower, upper = enclosure.energy_lower, enclosure.energy_upper
    return f"[{lower:.6g}, {upper:.6g}] c"


def add_to_payload(payload: dict[str, Any], report: CertifiedReport) -> None:
    """Add ``enclosure`` to every layer of a ``Measurement.to_dict`` payload."""
    for entry in payload["layers"]:
        entry["enclosure"] = report.layer_payload(entry["index"])
    payload["certified"] = report.summary()


def print_summary(console: Console, report: CertifiedReport) -> None:
    """Print the gap reached, the sup and inf bounds and the rounding used."""
    lengths = report.lengths
    status = "reached" if lengths.converged else "NOT reached (budget spent)"
    console.print(
        f"certified: relative gap {lengths.gap:.3g}, target {lengths.target_gap:g} "
        f"{status}; {lengths.n_segments} segments, {lengths.n_evaluations} "
        "interval evaluations"
    )
    layers = []
    if report.extremes is None:
        console.print(f"[dim]not certified: {report.extremes_reason}[/dim]")
    else:
        layers = report.extremes.layers
    for extremes in layers:
        inf = (
            f"inf r >= {extremes.inf_lower:.4g} c"
            if extremes.inf_lower is not None
            else f"inf r: {extremes.inf_reason}"
        )
        console.print(
            f"[dim]layer {extremes.layer}: sup s in [{extremes.sup_sampled:.6g}, "
            f"{extremes.sup_certified:.6g}] c; {inf}[/dim]"
        )
    console.print(f"[dim]rounding: {lengths.rounding}[/dim]")
