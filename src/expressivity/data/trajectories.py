"""Natural trajectories: polylines through samples that the data itself orders.

Path kinds
----------
``sequence``
    consecutive examples ``start, start + 1, ...`` of any dataset, in file
    order (for example successive windows of a text, or nodes).
``frames``
    consecutive frames of a video clip; the same construction, restricted
    to video sets.
``windows``
    sliding windows over one example's signal. For a time series each
    point is a window of ``window`` consecutive values (all dimensions,
    dimension by dimension), so the points lie in R^(window x n_dimensions).
    For an audio clip each point is a window of ``window`` consecutive
    feature frames pooled by the dataset's own rule, so the points lie in
    the dataset's feature space.

Consecutive points that coincide are dropped, because a zero-length piece has
no direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch

from expressivity.data.dataset import Dataset
from expressivity.errors import ConfigurationError
from expressivity.paths import Polyline

PATH_KINDS = ("sequence", "frames", "windows")
DEFAULT_AUDIO_WINDOW = 8


@dataclass
class NaturalTrajectory:
    """A polyline through data samples and where the samples came from.

    Attributes
    ----------
    path
        Open polyline through the samples.
    kind
        One of :data:`PATH_KINDS`.
    source
        Dataset name, example indices or window starts, window and stride.
    """

    path: Polyline
    kind: str
    source: dict[str, Any] = field(default_factory=dict)


def natural_path(
    dataset: Dataset,
    kind: str,
    *,
    start: int = 0,
    n_points: int | None = None,
    window: int | None = None,
    stride: int | None = None,
) -> NaturalTrajectory:
    """Build the natural trajectory ``kind`` of ``dataset``.

    Parameters
    ----------
    dataset
        Loaded dataset.
    kind
        One of :data:`PATH_KINDS`.
    start
        First example for ``sequence`` and ``frames``; the example whose
        signal is windowed for ``windows``.
    n_points
        Number of samples on the polyline; None takes every example from
        ``start`` on, or every window of the signal.
    window, stride
        Window length and step for ``windows``, in values (time series) or
        feature frames (audio). Defaults: a quarter of the series and half a
        window for time series, 8 frames and 4 frames for audio.

    Raises
    ------
    ConfigurationError
        If the kind does not fit the dataset's modality, an index is out of
        range, or fewer than two distinct points remain.
    """
    if kind not in PATH_KINDS:
        raise ConfigurationError(
            f"path kind {kind!r} not found; use one of {', '.join(PATH_KINDS)}"
        )
    if n_points is not None and n_points < 2:
        raise ConfigurationError(
            f"n_points={n_points} is invalid; a polyline needs at least 2 points"
        )
    if not 0 <= start < len(dataset):
        raise ConfigurationError(
            f"example index {start} is out of range; {dataset.name} has "
            f"{len(dataset)} examples (0 .. {len(dataset) - 1})"
        )

    if kind in ("sequence", "frames"):
        if kind == "frames" and dataset.modality != "video":
            raise ConfigurationError(
                f"path kind 'frames' needs a video dataset, but {dataset.name} is "
                f"{dataset.modality}; use 'sequence' for consecutive examples"
            )
        stop = len(dataset) if n_points is None else min(len(dataset), start + n_points)
        points = dataset.features[start:stop]
        source = {"examples": list(range(start, stop))}
    elif dataset.modality == "timeseries":
        points, source = _series_windows(dataset, start, window, stride, n_points)
    elif dataset.modality == "audio":
        points, source = _audio_windows(dataset, start, window, stride, n_points)
    else:
        raise ConfigurationError(
            f"path kind 'windows' needs a time-series or audio dataset, but "
            f"{dataset.name} is {dataset.modality}; use 'sequence'"
        )

    points = _drop_repeats(torch.as_tensor(points, dtype=torch.float64))
    if points.shape[0] < 2:
        raise ConfigurationError(
            f"the {kind} trajectory of {dataset.name} from example {start} has "
            "fewer than 2 distinct points; choose more points or another start"
        )
    source = {"dataset": dataset.name, **source, "n_points": int(points.shape[0])}
    return NaturalTrajectory(Polyline(points), kind, source)


def sliding_windows(signal: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Return the windows of ``signal`` (shape (n_dimensions, length)).

    Window ``j`` covers times ``j * stride`` to ``j * stride + window - 1``;
    the result has shape (n_windows, n_dimensions * window).
    """
    length = signal.shape[1]
    _check_window(window, stride, length)
    starts = range(0, length - window + 1, stride)
    return np.stack([signal[:, s : s + window].reshape(-1) for s in starts])


def _check_window(window: int, stride: int, length: int) -> None:
    if not 1 <= window <= length:
        raise ConfigurationError(
            f"window={window} is invalid; give 1 to {length}, the signal length"
        )
    if stride < 1:
        raise ConfigurationError(f"stride={stride} is invalid; give an integer >= 1")


def _series_windows(
    dataset: Dataset,
    example: int,
    window: int | None,
    stride: int | None,
    n_points: int | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    n_dimensions = int(dataset.provenance.get("n_dimensions", 1))
    signal = dataset.features[example].numpy().reshape(n_dimensions, -1)
    window = window or max(2, signal.shape[1] // 4)
    stride = stride or max(1, window // 2)
    windows = sliding_windows(signal, window, stride)[:n_points]
    return windows, {"example": example, "window": window, "stride": stride}


def _audio_windows(
    dataset: Dataset,
    example: int,
    window: int | None,
    stride: int | None,
    n_points: int | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    from expressivity.data.audio import clip_frames, pool_frames

    files = dataset.metadata.get("file")
    if files is None:
        raise ConfigurationError(
            f"dataset {dataset.name} records no audio file per example, so its "
            "clips cannot be windowed"
        )
    provenance = dataset.provenance
    frames, _ = clip_frames(FilePath(files[example]), provenance["feature_kind"])
    window = window or DEFAULT_AUDIO_WINDOW
    stride = stride or max(1, window // 2)
    _check_window(window, stride, frames.shape[0])
    starts = range(0, frames.shape[0] - window + 1, stride)
    pooled = [
        pool_frames(
            frames[s : s + window], provenance["pooling_rule"], provenance["n_frames"]
        )
        for s in starts
    ]
    return np.stack(pooled)[:n_points], {
        "example": example,
        "file": FilePath(files[example]).name,
        "window_frames": window,
        "stride_frames": stride,
    }


def _drop_repeats(points: torch.Tensor) -> torch.Tensor:
    keep = torch.ones(points.shape[0], dtype=torch.bool)
    keep[1:] = torch.any(points[1:] != points[:-1], dim=1)
    return points[keep]
