"""HTML report of a results database: figures, tables and exported data.

``write_report`` writes ``index.html`` with PNG figures beside it, plus the
measurement table as CSV (and Parquet when pyarrow is installed), so the
page opens without a network. Every string that comes from the database,
configs and error messages included, is HTML-escaped.
"""

from __future__ import annotations

import html
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expressivity.errors import ConfigurationError
from expressivity.experiments import figures
from expressivity.experiments.store import (
    ExperimentRecord,
    ResultStore,
    export_csv,
    export_parquet,
)

logger = logging.getLogger(__name__)

MAX_PANELS = 4
SUMMARY_BOUNDS = ("U1", "U2", "U3", "U4", "Lc", "L1", "L2", "L3")


@dataclass
class Report:
    """Files a report wrote.

    Attributes
    ----------
    index
        The HTML page.
    figures
        PNG files, in page order.
    tables
        Titles of the tables on the page.
    exports
        Data files (CSV, Parquet) beside the page.
    """

    index: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    exports: list[Path] = field(default_factory=list)


@dataclass
class _Data:
    records: list[ExperimentRecord]
    rows: dict[int, list[dict[str, Any]]]

    def done(self) -> list[ExperimentRecord]:
        return [r for r in self.records if r.status in ("finished", "diverged")]

    def select(self, experiment_id: int, **match: Any) -> list[dict[str, Any]]:
        return [
            row
            for row in self.rows.get(experiment_id, [])
            if all(row[key] == value for key, value in match.items())
        ]


def write_report(database: str | Path, out_dir: str | Path) -> Report:
    """Write ``index.html``, its figures and the exported table into ``out_dir``.

    Raises
    ------
    ConfigurationError
        If the database does not exist or contains no experiments.
    """
    database = Path(database)
    if not database.is_file():
        raise ConfigurationError(f"results database {str(database)!r} not found")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    with ResultStore(database) as store:
        records = store.experiments()
        if not records:
            raise ConfigurationError(
                f"results database {str(database)!r} has no experiments; "
                "run expressivity sweep first"
            )
        rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in store.measurements():
            rows[row["experiment_id"]].append(row)
        data = _Data(records, rows)
        report = Report(index=out / "index.html")
        sections = _figure_sections(data, store, out, report)
        report.exports.append(out / "measurements.csv")
        export_csv(store, report.exports[-1])
        try:
            export_parquet(store, out / "measurements.parquet")
            report.exports.append(out / "measurements.parquet")
        except ConfigurationError as error:
            logger.warning("skipping the Parquet export: %s", error)

    sections += _table_sections(data, report)
    report.index.write_text(_page(database.name, data, sections, report))
    logger.info("wrote %s with %d figures", report.index, len(report.figures))
    return report


def _figure_sections(data: _Data, store: ResultStore, out: Path, report: Report):
    sections = []

    def save(figure, name: str, title: str, caption: str) -> None:
        path = out / name
        figure.savefig(path, dpi=110)
        report.figures.append(path)
        sections.append(
            f"<h2>{html.escape(title)}</h2>\n"
            f'<figure><img src="{html.escape(name)}" alt="{html.escape(title)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    layer_series, depth_series = _growth_series(data)
    if layer_series:
        save(
            figures.growth_through_layers(layer_series),
            "growth_through_layers.png",
            "Length growth through the layers",
            "Median over seeds and paths (line) with the min-max spread (band); "
            "bounds of the deepest network as bands. Initialisation (epoch 0).",
        )
    if any(len(c["depths"]) > 1 for curves in depth_series.values() for c in curves):
        save(
            figures.growth_against_depth(depth_series),
            "growth_against_depth.png",
            "Output length growth against depth",
            "Median over seeds and paths with the min-max spread, log10 scale.",
        )

    profiles = _profiles(data, store)
    if profiles:
        save(
            figures.singular_values_along_path(profiles),
            "singular_values.png",
            "s(t) and r(t) along a path",
            "Largest (s) and n-th (r) singular value of the Jacobian of each "
            "layer along path 0; r(t) = 0 where a layer is narrower than the input.",
        )

    slices, diagrams = _topology(data, store)
    if slices:
        save(
            figures.decision_regions(slices),
            "decision_regions.png",
            "Decision regions on a plane through three examples",
            "Class of each cell at the finest resolution; Betti numbers "
            "(b0, b1) per class in the box.",
        )
    if diagrams:
        save(
            figures.persistence_diagrams(diagrams),
            "persistence_diagrams.png",
            "Persistence diagrams of the margins",
            "Superlevel-set persistence of g_i = f_i - max_j f_j per class.",
        )

    histories = _histories(data)
    if histories:
        save(
            figures.training_curves(histories),
            "training.png",
            "Training",
            "Test accuracy per epoch and output length growth at the measured epochs.",
        )
    return sections


def _growth_series(data: _Data):
    layer_series: dict[str, dict[str, dict]] = defaultdict(dict)
    depth_runs: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for record in data.done():
        group = figures.group_label(record.config)
        depth = figures.network_depth(record.config)
        label = f"depth {depth}, {figures.network_label(record.config)}"
        for growth, bounds in _runs(data, record):
            curve = layer_series[group].setdefault(
                label,
                {"label": label, "layers": list(range(depth + 1)), "runs": []},
            )
            curve["runs"].append((growth, bounds))
            depth_runs[group][figures.network_label(record.config)][depth].append(
                growth[-1]
            )

    for curves in layer_series.values():
        for curve in curves.values():
            curve["growth"] = np.array([g for g, _ in curve["runs"]])
            curve["bounds"] = {
                name: np.array([b[name] for _, b in curve["runs"]])
                for name in figures.BAND_BOUNDS
            }
    layer_series = dict(list(layer_series.items())[: MAX_PANELS * 2])
    depth_series = {
        group: [
            {
                "label": label,
                "depths": sorted(by_depth),
                "growth": [by_depth[d] for d in sorted(by_depth)],
            }
            for label, by_depth in curves.items()
        ]
        for group, curves in depth_runs.items()
    }
    return (
        {group: list(curves.values()) for group, curves in layer_series.items()},
        depth_series,
    )


def _runs(data: _Data, record: ExperimentRecord):
    """Per path at epoch 0: log10 growth per layer and log10 bound growth."""
    depth = figures.network_depth(record.config)
    length_rows = data.select(record.id, family="length", epoch=0)
    paths = sorted({row["path_index"] for row in length_rows})
    for path in paths:
        growth = np.full(depth + 1, np.nan)
        input_length = math.nan
        for row in length_rows:
            if row["path_index"] != path or row["layer"] is None:
                continue
            if row["name"] == "growth" and row["value"] and row["value"] > 0:
                growth[row["layer"]] = math.log10(row["value"])
            if row["name"] == "length" and row["layer"] == 0:
                input_length = row["value"]
        bounds = {name: np.full(depth + 1, np.nan) for name in figures.BAND_BOUNDS}
        if input_length and input_length > 0:
            bounds_rows = data.select(
                record.id, family="bound", epoch=0, path_index=path, quantity="length"
            )
            for row in bounds_rows:
                if row["name"] in bounds and row["log10_value"] is not None:
                    bounds[row["name"]][row["layer"]] = row["log10_value"] - math.log10(
                        input_length
                    )
            for values in bounds.values():
                values[0] = 0.0 if not np.all(np.isnan(values)) else np.nan
        yield growth, bounds


def _profiles(data: _Data, store: ResultStore):
    profiles = []
    seen_groups = set()
    for record in data.done():
        group = figures.group_label(record.config)
        if group in seen_groups:
            continue
        for stored in store.arrays("singular_profile", record.id):
            if stored.path_index == 0 and stored.epoch == 0:
                title = f"#{record.id}: {group}, {figures.network_label(record.config)}"
                profiles.append((title, stored.array))
                seen_groups.add(group)
                break
        if len(profiles) == MAX_PANELS:
            break
    return profiles


def _topology(data: _Data, store: ResultStore):
    slices, diagrams = [], []
    for record in data.done():
        for stored in store.arrays("region_labels", record.id):
            betti = _betti_text(data, record.id, stored.epoch)
            title = f"#{record.id} epoch {stored.epoch}: {betti}"
            bounds = stored.meta.get("bounds", [[0, 1], [0, 1]])
            extent = [bounds[0][0], bounds[0][1], bounds[1][0], bounds[1][1]]
            slices.append((title, stored.array, extent))
            entries = [
                (a.class_index, a.meta.get("dimension", 0), a.array)
                for a in store.arrays("persistence", record.id)
                if a.epoch == stored.epoch
            ]
            if entries:
                diagrams.append((f"#{record.id} epoch {stored.epoch}", entries))
            if len(slices) == MAX_PANELS:
                return slices, diagrams
    return slices, diagrams


def _betti_text(data: _Data, experiment_id: int, epoch: int) -> str:
    per_class: dict[int, dict[str, int]] = defaultdict(dict)
    for row in data.select(experiment_id, family="topology", epoch=epoch):
        if row["name"] in ("b0", "b1") and row["value"] is not None:
            per_class[row["class_index"]][row["name"]] = int(row["value"])
    # Classes absent from the slice (b0 = 0) are left out of the title.
    parts = [
        f"{c}:({v.get('b0', '?')},{v.get('b1', '?')})"
        for c, v in sorted(per_class.items())
        if v.get("b0") != 0
    ]
    return "class:(b0,b1) " + " ".join(parts)


def _histories(data: _Data):
    histories = {}
    for record in data.done():
        if record.config.get("training") is None:
            continue
        output = figures.network_depth(record.config)
        series = {
            "test_accuracy": [
                (row["epoch"], row["value"])
                for row in data.select(record.id, name="test_accuracy")
                if row["value"] is not None
            ],
            "growth": [
                (row["epoch"], math.log10(row["value"]))
                for row in data.select(
                    record.id, family="length", name="growth", layer=output
                )
                if row["path_index"] == 0 and row["value"] and row["value"] > 0
            ],
        }
        histories[f"#{record.id} {record.config.get('name', '')}"] = series
    return dict(list(histories.items())[: MAX_PANELS * 2])


def _table_sections(data: _Data, report: Report) -> list[str]:
    sections = []
    experiment_rows = []
    for record in data.records:
        network = record.config["network"]
        experiment_rows.append(
            [
                record.id,
                record.config.get("name", ""),
                record.status,
                record.config.get("dataset", ""),
                figures.network_depth(record.config),
                figures.network_label(record.config),
                network.get("activation", ""),
                network.get("sigma_w", ""),
                record.config.get("seed", ""),
                f"{record.duration_s:.2f}",
                record.error,
            ]
        )
    sections.append(
        _table(
            "Experiments",
            [
                "id",
                "name",
                "status",
                "dataset",
                "depth",
                "network",
                "activation",
                "sigma_w",
                "seed",
                "seconds",
                "error",
            ],
            experiment_rows,
        )
    )
    report.tables.append("Experiments")

    summary = _summary_rows(data)
    if summary:
        sections.append(
            _table(
                "Output growth and bounds (log10, epoch 0, median over paths)",
                ["id", "growth", *SUMMARY_BOUNDS],
                summary,
            )
        )
        report.tables.append("Output growth and bounds")

    topology = [
        [r["experiment_id"], r["epoch"], r["class_index"], r["name"], r["value"]]
        for record in data.done()
        for r in data.select(record.id, family="topology")
    ]
    if topology:
        sections.append(
            _table(
                "Betti numbers per class",
                ["id", "epoch", "class", "measure", "value"],
                topology,
            )
        )
        report.tables.append("Betti numbers per class")
    return sections


def _summary_rows(data: _Data) -> list[list]:
    rows = []
    for record in data.done():
        runs = list(_runs(data, record))
        if not runs:
            continue
        growth = np.nanmedian([g[-1] for g, _ in runs])
        cells: list[Any] = [record.id, f"{growth:.3f}"]
        for name in SUMMARY_BOUNDS:
            values = _output_bound(data, record, name)
            finite = [v for v in values if np.isfinite(v)]
            cells.append(f"{np.median(finite):.3f}" if finite else "n/a")
        rows.append(cells)
    return rows


def _output_bound(data: _Data, record: ExperimentRecord, name: str) -> list:
    """log10 of bound / input length at the output layer, per path at epoch 0."""
    depth = figures.network_depth(record.config)
    inputs = {
        row["path_index"]: row["value"]
        for row in data.select(record.id, family="length", epoch=0, layer=0)
        if row["name"] == "length"
    }
    return [
        row["log10_value"] - math.log10(inputs[row["path_index"]])
        for row in data.select(
            record.id, family="bound", epoch=0, name=name, layer=depth
        )
        if row["quantity"] == "length"
        and row["log10_value"] is not None
        and inputs.get(row["path_index"])
    ]


def _table(title: str, header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f"<h2>{html.escape(title)}</h2>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"
    )


def _page(name: str, data: _Data, sections: list[str], report: Report) -> str:
    counts: dict[str, int] = defaultdict(int)
    for record in data.records:
        counts[record.status] += 1
    status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    exports = " ".join(
        f'<a href="{html.escape(p.name)}">{html.escape(p.name)}</a>'
        for p in report.exports
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(name)}: expressivity report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1300px; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin-bottom: 2em; }}
th, td {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }}
figcaption {{ color: #555; font-size: 0.9em; }}
</style>
</head>
<body>
<h1>Results of {html.escape(name)}</h1>
<p>{len(data.records)} experiments: {html.escape(status)}. Data: {exports}</p>
{chr(10).join(sections)}
</body>
</html>
"""
