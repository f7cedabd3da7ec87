"""Results store: round trips, one transaction per experiment, exports."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from expressivity.errors import ConfigurationError
from expressivity.experiments import (
    Artifact,
    ExperimentResult,
    MeasurementRow,
    ResultStore,
    export_csv,
    export_parquet,
)


def make_result(key: str, status: str = "finished", n_layers: int = 3):
    rows = [
        MeasurementRow("length", "length", 2.0**layer, layer=layer, path_index=0)
        for layer in range(n_layers)
    ]
    rows.append(
        MeasurementRow(
            "bound",
            "U4",
            None,
            layer=2,
            path_index=0,
            quantity="length",
            log10_value=400.0,
            kind="estimate",
            reason="beyond float64 <range>",
        )
    )
    rows.append(MeasurementRow("topology", "b1", 3.0, class_index=7, epoch=5))
    profile = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    return ExperimentResult(
        config_hash=key,
        config={"name": "n<1>", "network": {"widths": [4, 3], "sigma_w": 1.5}},
        status=status,
        error="" if status == "finished" else "NumericalError: layer 2",
        started_at=100.0,
        finished_at=101.5,
        worker="host:1",
        versions={"torch": "x"},
        rows=rows,
        artifacts=[
            Artifact("singular_profile", profile, path_index=0, meta={"n": 4}),
            Artifact("region_labels", np.eye(3, dtype=np.int16), epoch=5),
        ],
    )


def test_round_trip_keeps_every_value(tmp_path):
    result = make_result("a" * 64)
    with ResultStore(tmp_path / "r.sqlite") as store:
        identifier = store.write(result, sweep="demo")
        record = store.experiments()[0]
        rows = store.measurements(identifier)
        arrays = list(store.arrays(experiment_id=identifier))

    assert record.config == result.config
    assert record.status == "finished"
    assert record.sweep == "demo"
    assert record.duration_s == pytest.approx(1.5)
    assert record.versions == {"torch": "x"}
    assert [row["value"] for row in rows] == [1.0, 2.0, 4.0, None, 3.0]
    assert rows[3]["log10_value"] == 400.0
    assert rows[3]["reason"] == "beyond float64 <range>"
    assert rows[4]["class_index"] == 7
    assert rows[4]["epoch"] == 5
    assert np.array_equal(arrays[0].array, result.artifacts[0].array)
    assert arrays[0].meta == {"n": 4}
    assert arrays[1].array.dtype == np.int16
    assert np.array_equal(arrays[1].array, np.eye(3))


def test_rewrite_replaces_failed_attempt(tmp_path):
    key = "b" * 64
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write(make_result(key, status="failed"))
        assert store.done_hashes() == set()

        store.write(make_result(key, n_layers=5))

        assert store.done_hashes() == {key}
        records = store.experiments()
        assert len(records) == 1
        assert len(store.measurements()) == 5 + 2
        assert len(list(store.arrays())) == 2


def test_failed_write_leaves_nothing(tmp_path):
    result = make_result("c" * 64)
    # Object arrays cannot be stored without pickle, so the write fails after
    # the experiment and measurement rows were inserted.
    result.artifacts.append(Artifact("bad", np.array([{}, 1], dtype=object)))

    with ResultStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ValueError):
            store.write(result)

        assert store.experiments() == []
        assert store.measurements() == []


def test_diverged_counts_as_done(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write(make_result("d" * 64, status="diverged"))

        assert store.done_hashes() == {"d" * 64}


def test_csv_export_matches_store(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write(make_result("e" * 64))
        count = export_csv(store, tmp_path / "out.csv")

    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert count == len(rows) == 5
    assert rows[0]["config.network.sigma_w"] == "1.5"
    assert rows[0]["config.network.widths"] == "[4, 3]"
    assert rows[0]["config.name"] == "n<1>"
    assert [float(r["value"]) for r in rows[:3]] == [1.0, 2.0, 4.0]
    assert rows[3]["value"] == ""


def test_parquet_export_matches_store(tmp_path):
    parquet = pytest.importorskip("pyarrow.parquet")
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write(make_result("f" * 64))
        store.write(make_result("0" * 64, status="failed"))
        count = export_parquet(store, tmp_path / "out.parquet")

    table = parquet.read_table(tmp_path / "out.parquet").to_pydict()
    assert count == 10
    assert table["value"][:3] == [1.0, 2.0, 4.0]
    assert table["value"][3] is None
    assert table["status"].count("failed") == 5
    assert math.isclose(table["config.network.sigma_w"][0], 1.5)


def test_non_database_file_is_rejected(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("this is not SQLite " * 100)

    with pytest.raises(ConfigurationError, match="not a results database"):
        ResultStore(path)


def test_missing_folder_is_rejected(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        ResultStore(tmp_path / "absent" / "r.sqlite")
