"""Experiment and sweep configurations read from YAML and validated by pydantic.

An experiment names a dataset, a network (and optionally a training recipe),
the paths to measure along and the measurements to make. A sweep is the same
mapping plus ``grid``: a mapping from field names to lists of values, whose
Cartesian product gives one experiment per combination::

    name: depth-scan
    dataset: digits
    network: {depth: 3, width: 32, activation: quadratic}
    paths: {kind: circle, count: 2}
    grid:
      network.depth: [2, 4, 6]
      network.sigma_w: [0.5, 1.0]
      seed: [0, 1, 2]

Grid keys are dotted field paths; the short names in ``GRID_ALIASES``
(``depth``, ``width``, ``sigma_w``, ``activation``, ...) stand for their
``network.`` fields. Every expanded experiment is validated before any work
starts, so a bad value anywhere in the grid fails at once.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from expressivity.errors import ConfigurationError
from expressivity.models import ACTIVATION_NAMES, INIT_SCHEMES

ActivationName = Literal[
    "quadratic", "polynomial", "relu", "tanh", "hardtanh", "linear"
]
InitScheme = Literal["normal", "he", "glorot", "lecun"]
PathKind = Literal["circle", "ellipse", "line", "polyline"]

GRID_ALIASES = {
    "depth": "network.depth",
    "width": "network.width",
    "widths": "network.widths",
    "sigma_w": "network.sigma_w",
    "sigma_b": "network.sigma_b",
    "activation": "network.activation",
    "init": "network.init",
    "dtype": "network.dtype",
    "lr": "training.lr",
    "optimizer": "training.optimizer",
}

# The Literal types above must list the names the models package accepts.
assert set(ActivationName.__args__) == set(ACTIVATION_NAMES)
assert set(InitScheme.__args__) == set(INIT_SCHEMES)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkConfig(_Strict):
    """Architecture and initialisation of a fully connected network.

    Give either ``widths`` (hidden widths and the output width, after the
    input) or ``depth`` and ``width``: ``depth`` affine layers, the first
    ``depth - 1`` of ``width`` units and a last layer of ``outputs`` units.
    ``outputs`` defaults to the dataset's number of classes.
    """

    widths: list[int] | None = None
    depth: int | None = Field(default=None, ge=1)
    width: int | None = Field(default=None, ge=1)
    outputs: int | None = Field(default=None, ge=1)
    activation: ActivationName = "quadratic"
    coefficients: list[float] = Field(default_factory=list)
    sigma_w: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    sigma_b: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    init: InitScheme = "normal"
    bias: bool = True
    dtype: Literal["float32", "float64"] = "float64"

    @model_validator(mode="after")
    def _check_shape(self) -> NetworkConfig:
        if self.widths is not None:
            if self.depth is not None or self.width is not None:
                raise ValueError("give either widths or depth and width, not both")
            if not self.widths or any(w < 1 for w in self.widths):
                raise ValueError(
                    f"widths {self.widths} must be a non-empty list of positive "
                    "integers (hidden widths, then the output width)"
                )
        elif self.depth is None or (self.depth > 1 and self.width is None):
            raise ValueError(
                "give widths (for example [32, 32, 10]) or depth and width"
            )
        if self.activation == "polynomial" and not self.coefficients:
            raise ValueError("activation polynomial needs coefficients c_0, c_1, ...")
        return self

    def layer_widths(self, n_features: int, n_classes: int | None) -> tuple[int, ...]:
        """Return (n_0, ..., n_h) for inputs of dimension ``n_features``."""
        if self.widths is not None:
            return (n_features, *self.widths)
        outputs = self.outputs or n_classes
        if outputs is None:
            raise ConfigurationError(
                "network.outputs is required for a dataset without labels"
            )
        hidden = [self.width] * (self.depth - 1)
        return (n_features, *hidden, outputs)


class TrainingConfig(_Strict):
    """A supervised training recipe: cross-entropy loss on the dataset labels.

    ``checkpoint_epochs`` lists the epochs after which the weights are saved
    and the measurements are made; epoch 0 is the initialisation.
    """

    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = Field(default=1e-3, gt=0, allow_inf_nan=False)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=64, ge=1)
    clip_grad_norm: float | None = Field(default=None, gt=0)
    normalize_inputs: bool = True
    test_fraction: float = Field(default=0.25, gt=0, lt=1)
    checkpoint_epochs: list[int] | None = None

    @model_validator(mode="after")
    def _check_epochs(self) -> TrainingConfig:
        for epoch in self.checkpoint_epochs or []:
            if not 0 <= epoch <= self.epochs:
                raise ValueError(
                    f"checkpoint epoch {epoch} is outside 0 .. {self.epochs} "
                    "(training.epochs)"
                )
        return self

    def measured_epochs(self) -> list[int]:
        """Epochs at which to measure: the chosen ones, else 0 and the last."""
        epochs = self.checkpoint_epochs
        if epochs is None:
            epochs = [0, self.epochs]
        return sorted(set(epochs))


class PathsConfig(_Strict):
    """Input paths to measure along.

    ``circle``, ``ellipse`` and ``line`` pass through two examples of
    different classes; ``polyline`` is closed through ``n_points`` examples.
    Path i uses the examples chosen with seed ``seed + i``. With ``random``
    the directions are Gaussian instead of examples.
    """

    kind: PathKind = "circle"
    count: int = Field(default=1, ge=1)
    n_points: int = Field(default=4, ge=2)
    random: bool = False


class MeasurementsConfig(_Strict):
    """Measurements to make on each path (and each slice, for topology)."""

    length: bool = True
    bounds: bool = True
    certified: bool = False
    topology: bool = False
    rtol: float = Field(default=1e-6, gt=0, lt=1)
    samples: int = Field(default=257, ge=2)
    topology_resolutions: list[int] = Field(default_factory=lambda: [32, 64])

    @model_validator(mode="after")
    def _check_resolutions(self) -> MeasurementsConfig:
        values = self.topology_resolutions
        if not values or any(b <= a for a, b in itertools.pairwise(values)):
            raise ValueError(
                f"topology_resolutions {values} must be strictly increasing"
            )
        if self.bounds and not self.length:
            raise ValueError("bounds need the lengths; set length: true")
        return self


class DatasetConfig(_Strict):
    """Options passed to ``expressivity.data.load_dataset``."""

    split: str | None = None
    max_examples: int | None = Field(default=None, ge=1)


class ExperimentConfig(_Strict):
    """One experiment: everything needed to reproduce its measurements."""

    name: str = "experiment"
    dataset: str = "digits"
    dataset_options: DatasetConfig = Field(default_factory=DatasetConfig)
    network: NetworkConfig
    training: TrainingConfig | None = None
    paths: PathsConfig = Field(default_factory=PathsConfig)
    measurements: MeasurementsConfig = Field(default_factory=MeasurementsConfig)
    seed: int = Field(default=0, ge=0)

    @field_validator("dataset")
    @classmethod
    def _check_dataset(cls, name: str) -> str:
        try:
            from expressivity.data import dataset_names
        except ImportError:
            return name
        names = dataset_names()
        if name not in names:
            raise ValueError(f"unknown dataset; use one of {', '.join(names)}")
        return name

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of the config: the experiment's key."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


class SweepConfig(_Strict):
    """A base experiment and the grid of fields to vary."""

    base: ExperimentConfig
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    def experiments(self) -> list[ExperimentConfig]:
        """Expand the grid into validated experiments, in grid order."""
        return expand_grid(self.base, self.grid)


def expand_grid(
    base: ExperimentConfig, grid: dict[str, list[Any]]
) -> list[ExperimentConfig]:
    """Return one validated experiment per combination of the grid values.

    Raises
    ------
    ConfigurationError
        If a grid key names no field, a value list is empty, or a combination
        gives an invalid experiment; the message names the field.
    """
    fields = {key: resolve_grid_key(key) for key in grid}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigurationError(
                f"grid.{key} must be a non-empty list of values, got {values!r}"
            )

    base_payload = base.model_dump(mode="json")
    experiments = []
    for combination in itertools.product(*grid.values()):
        payload = copy.deepcopy(base_payload)
        for key, value in zip(grid, combination, strict=True):
            _set_field(payload, fields[key], value)
        _drop_conflicting_shape(payload, set(fields.values()))
        where = ", ".join(f"{k}={v!r}" for k, v in zip(grid, combination, strict=True))
        experiments.append(_validate(ExperimentConfig, payload, f"grid point {where}"))
    return experiments


def resolve_grid_key(key: str) -> tuple[str, ...]:
    """Map a grid key (dotted path or alias) to the path of an existing field."""
    dotted = GRID_ALIASES.get(key, key)
    parts = tuple(dotted.split("."))
    model: type[BaseModel] | None = ExperimentConfig
    for position, part in enumerate(parts):
        if model is None or part not in model.model_fields:
            allowed = sorted(model.model_fields) if model is not None else []
            where = ".".join(parts[:position]) or "the experiment"
            raise ConfigurationError(
                f"grid field {key!r} does not exist: {part!r} is not a field of "
                f"{where}; allowed fields there: {', '.join(allowed) or 'none'}"
                + (f"; short names: {', '.join(GRID_ALIASES)}" if position == 0 else "")
            )
        model = _nested_model(model.model_fields[part].annotation)
    return parts


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    candidates = getattr(annotation, "__args__", (annotation,))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _set_field(payload: dict, parts: tuple[str, ...], value: Any) -> None:
    target = payload
    for part in parts[:-1]:
        if target.get(part) is None:
            target[part] = {}
        target = target[part]
    target[parts[-1]] = value


def _drop_conflicting_shape(payload: dict, varied: set[tuple[str, ...]]) -> None:
    # A grid over depth/width replaces explicit widths of the base and the
    # other way round, so either form of the base can be swept.
    network = payload.get("network") or {}
    if {("network", "depth"), ("network", "width")} & varied:
        network["widths"] = None
    if ("network", "widths") in varied:
        network["depth"] = None
        network["width"] = None


def load_config(source: str | Path | dict) -> SweepConfig:
    """Read and validate an experiment or sweep config (YAML file or mapping).

    A config without ``grid`` is a sweep of one experiment. Every experiment
    of the grid is validated here.

    Raises
    ------
    ConfigurationError
        If the file is missing or not YAML, its top level is not a mapping,
        or a field is invalid. The message names the field and the allowed
        values.
    """
    label = "config"
    if isinstance(source, dict):
        payload = copy.deepcopy(source)
    else:
        label = str(source)
        payload = _read_yaml(Path(source))

    grid = payload.pop("grid", None) or {}
    if not isinstance(grid, dict):
        raise ConfigurationError(
            f"{label}: grid must be a mapping from field names to lists of "
            f"values, got {type(grid).__name__}"
        )
    base = _validate(ExperimentConfig, payload, label)
    sweep = SweepConfig(base=base, grid=grid)
    try:
        sweep.experiments()
    except ConfigurationError as error:
        raise ConfigurationError(f"{label}: {error}") from None
    return sweep


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(
            f"cannot read config {str(path)!r}: {error.strerror}"
        ) from None
    try:
        payload = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigurationError(
            f"config {str(path)!r} is not valid YAML: {error}"
        ) from None
    if not isinstance(payload, dict):
        raise ConfigurationError(
            f"config {str(path)!r} must be a YAML mapping of fields (dataset, "
            f"network, paths, ...), got {type(payload).__name__}"
        )
    return payload


def _validate(model: type[BaseModel], payload: Any, label: str) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise ConfigurationError(f"{label}: {describe_errors(error)}") from None


def describe_errors(error: ValidationError) -> str:
    """Format each pydantic error as the dotted field, the problem and the value."""
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "config"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field; check its spelling"
        elif item["type"] == "missing":
            message = "missing required field"
        value = item.get("input")
        shown = "" if item["type"] == "missing" else f" (got {value!r})"
        lines.append(f"field {field}: {message}{shown}")
    return "; ".join(lines)
