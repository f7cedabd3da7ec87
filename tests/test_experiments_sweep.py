"""Sweeps: resume after SIGKILL, failures recorded, Dask matches the local pool."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from expressivity.experiments import ResultStore, load_config, run_sweep

SMALL = {
    "name": "small",
    "dataset": "digits",
    "network": {"depth": 2, "width": 6},
    "paths": {"kind": "circle", "count": 1},
    "measurements": {"samples": 9, "rtol": 1e-5},
    "grid": {"depth": [2, 3], "seed": [0, 1]},
}


def comparable_rows(database) -> dict[str, list[tuple]]:
    """Measurement rows per config hash, without ids and timings."""
    with ResultStore(database) as store:
        by_id = {record.id: record.config_hash for record in store.experiments()}
        rows: dict[str, list[tuple]] = {key: [] for key in by_id.values()}
        for row in store.measurements():
            key = by_id[row.pop("experiment_id")]
            rows[key].append(tuple(row.values()))
    return rows


def assert_same_rows(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key in first:
        assert len(first[key]) == len(second[key])
        for a, b in zip(first[key], second[key], strict=True):
            assert a[:7] == b[:7]
            for x, y in zip(a[7:9], b[7:9], strict=True):
                assert x == pytest.approx(y, rel=1e-12, abs=0)
            assert a[9:] == b[9:]


def test_failure_recorded_and_sweep_continues(tmp_path):
    config = {
        **SMALL,
        "network": {"depth": 6, "width": 8, "dtype": "float32"},
        "grid": {"sigma_w": [1.0, 1e6]},
    }
    database = tmp_path / "results.sqlite"

    summary = run_sweep(load_config(config), database, workers=0)

    assert summary.counts == {"finished": 1, "failed": 1}
    with ResultStore(database) as store:
        failed = store.experiments(status="failed")
        finished = store.experiments(status="finished")
        assert len(failed) == 1
        assert "NumericalError" in failed[0].error
        assert "layer" in failed[0].error
        assert failed[0].config["network"]["sigma_w"] == 1e6
        assert store.measurements(failed[0].id) == []
        assert len(finished) == 1
        assert store.measurements(finished[0].id)

    rerun = run_sweep(load_config(config), database, workers=0)

    assert rerun.skipped == 1
    assert rerun.counts == {"failed": 1}
    with ResultStore(database) as store:
        assert len(store.experiments()) == 2


def test_local_pool_matches_in_process(tmp_path):
    sweep = load_config(SMALL)
    run_sweep(sweep, tmp_path / "serial.sqlite", workers=0)
    summary = run_sweep(sweep, tmp_path / "pool.sqlite", workers=2)

    assert summary.counts == {"finished": 4}
    assert_same_rows(
        comparable_rows(tmp_path / "serial.sqlite"),
        comparable_rows(tmp_path / "pool.sqlite"),
    )


def test_dask_cluster_matches_in_process(tmp_path):
    # With the test above, this also shows that Dask matches the local pool.
    distributed = pytest.importorskip("dask.distributed")
    sweep = load_config(SMALL)
    run_sweep(sweep, tmp_path / "serial.sqlite", workers=0)

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        summary = run_sweep(
            sweep, tmp_path / "dask.sqlite", scheduler=cluster.scheduler_address
        )

    assert summary.counts == {"finished": 4}
    assert_same_rows(
        comparable_rows(tmp_path / "serial.sqlite"),
        comparable_rows(tmp_path / "dask.sqlite"),
    )


def test_unreachable_scheduler_is_reported(tmp_path):
    pytest.importorskip("dask.distributed")
    from expressivity.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="cannot connect"):
        run_sweep(
            load_config(SMALL),
            tmp_path / "dask.sqlite",
            scheduler="tcp://127.0.0.1:1",
            scheduler_timeout_s=2,
        )


KILL_CONFIG = """
name: killed
dataset: digits
network: {depth: 2, width: 24}
paths: {kind: circle, count: 2}
measurements: {samples: 129}
grid:
  depth: [2, 3, 4, 5]
  seed: [0, 1, 2]
"""


def finished_experiments(database) -> dict[str, tuple]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        rows = connection.execute(
            "SELECT config_hash, id, finished_at FROM experiments "
            "WHERE status = 'finished'"
        ).fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        connection.close()
    return {row[0]: row[1:] for row in rows}


def sweep_command(config, database) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from expressivity.cli.main import app; app()",
        "sweep",
        str(config),
        "--db",
        str(database),
        "--workers",
        "1",
    ]


def test_sigkill_then_rerun_completes_once(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text(KILL_CONFIG)
    database = tmp_path / "results.sqlite"
    total = 12

    # The sweep runs in its own process group so that the kill also takes
    # the pool's worker process, as a crash of the machine would.
    process = subprocess.Popen(
        sweep_command(config, database),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    before: dict[str, tuple] = {}
    while time.monotonic() < deadline and process.poll() is None:
        if database.exists():
            before = finished_experiments(database)
            if len(before) >= 3:
                break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = finished_experiments(database)

    assert 1 <= len(before) < total

    rerun = subprocess.run(
        sweep_command(config, database), capture_output=True, text=True, timeout=300
    )

    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} already done" in rerun.stdout
    after = finished_experiments(database)
    assert len(after) == total
    for key, identity in before.items():
        assert after[key] == identity
    with ResultStore(database) as store:
        records = store.experiments()
        assert len(records) == total
        assert len({r.config_hash for r in records}) == total
        for record in records:
            depth = record.config["network"]["depth"]
            rows = [
                row
                for row in store.measurements(record.id)
                if row["family"] == "length"
            ]
            # Two paths; per layer six quantities, the input has no layer ratio.
            assert len(rows) == 2 * ((depth + 1) * 6 - 1)
