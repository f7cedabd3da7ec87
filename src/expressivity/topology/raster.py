"""Rasterisation of a network's decision regions on a slice grid.

Each grid cell is labelled by argmax_j f_j(x) at its centre, with ties broken
to the lowest class index, and stores the margins

    g_i(x) = f_i(x) - max_{j != i} f_j(x)

which are positive exactly on the decision region of class i (away from ties).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from expressivity.errors import ConfigurationError, NumericalError
from expressivity.topology.slices import AffineSlice

logger = logging.getLogger(__name__)

MAX_RESOLUTION = {2: 2048, 3: 256}
# Upper bound on the bytes of one chunk's widest activation tensor.
CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Raster:
    """Labels and margins of a network on a regular grid over a slice.

    Attributes
    ----------
    plane
        The slice the grid covers.
    resolution
        Cells per slice axis; the grid has ``resolution ** k`` cells.
    labels
        Class of each cell, of shape (resolution,) * k, dtype int16. Axis j
        runs along slice coordinate j from ``lo_j`` to ``hi_j``.
    margins
        g_i at each cell, of shape (n_classes,) + (resolution,) * k, float64.
    """

    plane: AffineSlice
    resolution: int
    labels: np.ndarray
    margins: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.margins.shape[0])

    def class_fractions(self) -> np.ndarray:
        """Fraction of the cells labelled with each class."""
        counts = np.bincount(self.labels.ravel(), minlength=self.n_classes)
        return counts / self.labels.size


def rasterize(
    network: nn.Module,
    plane: AffineSlice,
    resolution: int,
    *,
    chunk_size: int | None = None,
) -> Raster:
    """Evaluate ``network`` at the centre of every cell of a grid over ``plane``.

    The grid is evaluated in chunks of rows under ``torch.no_grad`` so that
    memory stays bounded at any resolution: the labels take 2 bytes per cell
    and the margins 8 bytes per cell and class.

    Parameters
    ----------
    network
        Maps inputs of shape (N, n_features) to outputs of shape (N, m), m >= 2.
    plane
        The slice and its bounding box.
    resolution
        Cells per axis, from 2 up to 2048 for 2-D slices and 256 for 3-D.
    chunk_size
        Points per forward pass. By default it is chosen so that the widest
        layer of one chunk takes about 64 MiB.

    Raises
    ------
    NumericalError
        When an output is not finite; the message names the fix.
    """
    k = plane.dimension
    _check_resolution(resolution, k)
    dtype = _network_dtype(network)
    n_cells = resolution**k
    if chunk_size is None:
        chunk_size = _default_chunk_size(network, dtype, plane.n_features)

    axes = [torch.as_tensor(a, dtype=dtype) for a in plane.axis_points(resolution)]
    labels = np.empty(n_cells, dtype=np.int16)
    margins: np.ndarray | None = None

    with torch.no_grad():
        for start in range(0, n_cells, chunk_size):
            stop = min(start + chunk_size, n_cells)
            coordinates = _cell_coordinates(axes, resolution, start, stop)
            outputs = network(plane.to_input(coordinates))
            _check_outputs(outputs, start)
            if margins is None:
                margins = np.empty((outputs.shape[1], n_cells), dtype=np.float64)
            chunk_labels, chunk_margins = labels_and_margins(outputs)
            labels[start:stop] = chunk_labels.numpy()
            margins[:, start:stop] = chunk_margins.numpy().T
            logger.debug("rasterised cells %d to %d of %d", start, stop, n_cells)

    shape = (resolution,) * k
    assert margins is not None
    return Raster(plane, resolution, labels.reshape(shape), margins.reshape(-1, *shape))


def labels_and_margins(outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax labels (ties to the lowest index) and margins g_i of outputs.

    ``outputs`` has shape (N, m); the margins have the same shape and dtype
    float64.
    """
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        raise ConfigurationError(
            f"network output of shape {tuple(outputs.shape)} is invalid; "
            "decision regions need outputs of shape (N, m) with m >= 2 classes"
        )
    outputs = outputs.to(torch.float64)
    top2 = torch.topk(outputs, 2, dim=1)
    best, second = top2.values[:, 0:1], top2.values[:, 1:2]
    # max over j != i of f_j is the runner-up for the top class, else the top.
    others = torch.where(outputs == best, second, best)
    margins = outputs - others
    # torch.argmax returns the first maximal index, which breaks ties to the
    # lowest class index.
    labels = torch.argmax(outputs, dim=1).to(torch.int16)
    return labels, margins


def _cell_coordinates(
    axes: list[torch.Tensor], resolution: int, start: int, stop: int
) -> torch.Tensor:
    # Row-major (C order) cell index -> per-axis indices.
    index = torch.arange(start, stop)
    columns = []
    for axis in reversed(axes):
        columns.append(axis[index % resolution])
        index = index // resolution
    return torch.stack(list(reversed(columns)), dim=1)


def _check_resolution(resolution: int, k: int) -> None:
    limit = MAX_RESOLUTION[k]
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise ConfigurationError(f"resolution must be an integer, got {resolution!r}")
    if not 2 <= resolution <= limit:
        raise ConfigurationError(
            f"resolution {resolution} is out of range for a {k}-D slice; use "
            f"2 to {limit} cells per axis"
        )


def _check_outputs(outputs: torch.Tensor, start: int) -> None:
    if not torch.isfinite(outputs).all():
        row = int((~torch.isfinite(outputs)).any(dim=1).nonzero()[0, 0]) + start
        raise NumericalError(
            f"network output is not finite at grid cell {row}; use dtype "
            "float64, a smaller bounding box or a smaller sigma_w"
        )


def _network_dtype(network: nn.Module) -> torch.dtype:
    for parameter in network.parameters():
        return parameter.dtype
    return torch.float64


def _default_chunk_size(network: nn.Module, dtype: torch.dtype, n_features: int) -> int:
    widths = [
        module.out_features
        for module in network.modules()
        if isinstance(module, nn.Linear)
    ]
    widest = max([*widths, n_features, 16])
    bytes_per_value = torch.finfo(dtype).bits // 8
    return max(1024, CHUNK_BYTES // (bytes_per_value * widest))
