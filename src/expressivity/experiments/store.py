"""Results store: one SQLite file with experiments, measurements and arrays.

Tables
------
``experiments``
    One row per experiment, keyed by the SHA-256 of its config: the config
    as JSON, status (``finished``, ``diverged`` or ``failed``), the error,
    start and end times, duration, the worker and the software versions.
``measurements``
    One row per number: per layer, per bound, per class, per epoch and path.
``artifacts``
    Arrays (s(t) and r(t) along a path, region images, persistence pairs) as
    ``.npy`` bytes, read back with ``allow_pickle=False``.

Each experiment is written in one transaction, so a crash (even SIGKILL)
leaves either all of an experiment's rows or none. The database runs in WAL
mode; only the driver process writes to it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from expressivity.errors import ConfigurationError
from expressivity.experiments.experiment import ExperimentResult

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Statuses whose experiments a rerun skips; failed ones are run again.
DONE_STATUSES = ("finished", "diverged")

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY,
    config_hash TEXT NOT NULL UNIQUE,
    sweep TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    duration_s REAL NOT NULL,
    worker TEXT NOT NULL,
    versions TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    path_index INTEGER,
    layer INTEGER,
    class_index INTEGER,
    family TEXT NOT NULL,
    name TEXT NOT NULL,
    quantity TEXT,
    value REAL,
    log10_value REAL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_experiment
    ON measurements(experiment_id, family, name);
CREATE TABLE IF NOT EXISTS artifacts (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    path_index INTEGER,
    layer INTEGER,
    class_index INTEGER,
    name TEXT NOT NULL,
    array BLOB NOT NULL,
    meta TEXT NOT NULL
);
"""

MEASUREMENT_COLUMNS = (
    "epoch",
    "path_index",
    "layer",
    "class_index",
    "family",
    "name",
    "quantity",
    "value",
    "log10_value",
    "kind",
    "reason",
)


@dataclass(frozen=True)
class ExperimentRecord:
    """One row of the ``experiments`` table, with its config decoded."""

    id: int
    config_hash: str
    sweep: str
    config: dict[str, Any]
    status: str
    error: str
    started_at: float
    finished_at: float
    duration_s: float
    worker: str
    versions: dict[str, str]


@dataclass(frozen=True)
class StoredArray:
    """One row of the ``artifacts`` table with its array loaded."""

    experiment_id: int
    epoch: int
    path_index: int | None
    layer: int | None
    class_index: int | None
    name: str
    array: np.ndarray
    meta: dict[str, Any]


class ResultStore:
    """The SQLite results database of one or more sweeps.

    Parameters
    ----------
    path
        Database file; created with its tables when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise ConfigurationError(
                f"folder {str(self.path.parent)!r} of the database does not exist"
            )
        self.connection = sqlite3.connect(self.path, timeout=30.0)
        try:
            self.connection.execute("PRAGMA foreign_keys = ON")
            self.connection.execute("PRAGMA journal_mode = WAL")
            self.connection.execute("PRAGMA synchronous = NORMAL")
            with self.connection:
                self.connection.executescript(SCHEMA)
                self.connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise ConfigurationError(
                f"{str(self.path)!r} is not a results database: {error}"
            ) from None

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def done_hashes(self) -> set[str]:
        """Config hashes of experiments that finished or diverged."""
        placeholders = ",".join("?" * len(DONE_STATUSES))
        cursor = self.connection.execute(
            f"SELECT config_hash FROM experiments WHERE status IN ({placeholders})",
            DONE_STATUSES,
        )
        return {row[0] for row in cursor}

    def write(self, result: ExperimentResult, sweep: str = "") -> int:
        """Write one experiment with all its rows in a single transaction.

        A previous row with the same config hash (a failed attempt) is
        replaced together with its measurements. Returns the experiment id.
        """
        with self.connection:
            self.connection.execute(
                "DELETE FROM experiments WHERE config_hash = ?", (result.config_hash,)
            )
            cursor = self.connection.execute(
                "INSERT INTO experiments (config_hash, sweep, config, status, error,"
                " started_at, finished_at, duration_s, worker, versions)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.config_hash,
                    sweep,
                    json.dumps(result.config, sort_keys=True),
                    result.status,
                    result.error,
                    result.started_at,
                    result.finished_at,
                    result.duration_s,
                    result.worker,
                    json.dumps(result.versions, sort_keys=True),
                ),
            )
            experiment_id = int(cursor.lastrowid)
            self.connection.executemany(
                "INSERT INTO measurements (experiment_id, "
                + ", ".join(MEASUREMENT_COLUMNS)
                + ") VALUES (?"
                + ", ?" * len(MEASUREMENT_COLUMNS)
                + ")",
                [
                    (experiment_id, *(getattr(row, c) for c in MEASUREMENT_COLUMNS))
                    for row in result.rows
                ],
            )
            self.connection.executemany(
                "INSERT INTO artifacts (experiment_id, epoch, path_index, layer,"
                " class_index, name, array, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        experiment_id,
                        a.epoch,
                        a.path_index,
                        a.layer,
                        a.class_index,
                        a.name,
                        _array_bytes(a.array),
                        json.dumps(a.meta, sort_keys=True),
                    )
                    for a in result.artifacts
                ],
            )
        return experiment_id

    def experiments(self, status: str | None = None) -> list[ExperimentRecord]:
        """Return all experiments (or those with ``status``) in insertion order."""
        query = (
            "SELECT id, config_hash, sweep, config, status, error, started_at,"
            " finished_at, duration_s, worker, versions FROM experiments"
        )
        parameters: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            parameters = (status,)
        records = []
        for row in self.connection.execute(query + " ORDER BY id", parameters):
            values = list(row)
            values[3] = json.loads(values[3])
            values[10] = json.loads(values[10])
            records.append(ExperimentRecord(*values))
        return records

    def measurements(self, experiment_id: int | None = None) -> list[dict[str, Any]]:
        """Measurement rows as mappings, with ``experiment_id``."""
        query = (
            "SELECT experiment_id, "
            + ", ".join(MEASUREMENT_COLUMNS)
            + " FROM measurements"
        )
        parameters: tuple = ()
        if experiment_id is not None:
            query += " WHERE experiment_id = ?"
            parameters = (experiment_id,)
        cursor = self.connection.execute(query + " ORDER BY rowid", parameters)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def arrays(
        self, name: str | None = None, experiment_id: int | None = None
    ) -> Iterator[StoredArray]:
        """Stored arrays, optionally only those named ``name`` or of one experiment."""
        query = (
            "SELECT experiment_id, epoch, path_index, layer, class_index, name,"
            " array, meta FROM artifacts WHERE 1 = 1"
        )
        parameters: list = []
        if name is not None:
            query += " AND name = ?"
            parameters.append(name)
        if experiment_id is not None:
            query += " AND experiment_id = ?"
            parameters.append(experiment_id)
        for row in self.connection.execute(query + " ORDER BY rowid", parameters):
            values = list(row)
            values[6] = np.load(io.BytesIO(values[6]), allow_pickle=False)
            values[7] = json.loads(values[7])
            yield StoredArray(*values)

    def table(self) -> list[dict[str, Any]]:
        """Measurements joined with their experiment, one row per number.

        Config fields become columns named ``config.<dotted field>``.
        """
        configs = {}
        for record in self.experiments():
            flat = flatten_config(record.config, prefix="config.")
            flat.update(
                experiment_id=record.id,
                config_hash=record.config_hash,
                sweep=record.sweep,
                status=record.status,
            )
            configs[record.id] = flat
        return [{**configs[row["experiment_id"]], **row} for row in self.measurements()]


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested config mappings to dotted keys; lists become JSON text."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_config(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def export_csv(store: ResultStore, path: str | Path) -> int:
    """Write the joined measurement table as CSV; returns the number of rows."""
    rows = store.table()
    columns = _columns(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def export_parquet(store: ResultStore, path: str | Path) -> int:
    """Write the joined measurement table as Parquet (needs pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigurationError(
            "Parquet export needs pyarrow; install it with "
            "pip install 'expressivity[parquet]'"
        ) from None
    rows = store.table()
    columns = _columns(rows)
    table = pa.table({column: [row.get(column) for row in rows] for column in columns})
    pq.write_table(table, path)
    return len(rows)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()
