"""Experiments at scale: configs, training, sweeps, a results database, reports.

A YAML config names a dataset, a network (or a training recipe), paths and
measurements; ``grid`` turns it into a sweep. ``run_sweep`` runs the sweep on
a process pool or a Dask cluster and stores each result in SQLite as it
arrives. ``expressivity.experiments.report.write_report`` turns the
database into an HTML page of figures.
"""

from expressivity.experiments.config import (
    GRID_ALIASES,
    DatasetConfig,
    ExperimentConfig,
    MeasurementsConfig,
    NetworkConfig,
    PathsConfig,
    SweepConfig,
    TrainingConfig,
    expand_grid,
    load_config,
)
from expressivity.experiments.experiment import (
    Artifact,
    ExperimentResult,
    MeasurementRow,
    build_paths,
    load_data_and_network,
    run_experiment,
)
from expressivity.experiments.store import (
    ExperimentRecord,
    ResultStore,
    StoredArray,
    export_csv,
    export_parquet,
)
from expressivity.experiments.sweep import SweepSummary, run_sweep
from expressivity.experiments.training import (
    DataSplit,
    EpochRecord,
    TrainingResult,
    split_dataset,
    train_network,
)

__all__ = [
    "GRID_ALIASES",
    "Artifact",
    "DataSplit",
    "DatasetConfig",
    "EpochRecord",
    "ExperimentConfig",
    "ExperimentRecord",
    "ExperimentResult",
    "MeasurementRow",
    "MeasurementsConfig",
    "NetworkConfig",
    "PathsConfig",
    "ResultStore",
    "StoredArray",
    "SweepConfig",
    "SweepSummary",
    "TrainingConfig",
    "TrainingResult",
    "build_paths",
    "load_data_and_network",
    "expand_grid",
    "export_csv",
    "export_parquet",
    "load_config",
    "run_experiment",
    "run_sweep",
    "split_dataset",
    "train_network",
]
