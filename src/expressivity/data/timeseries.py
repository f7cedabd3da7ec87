"""Time-series loader for UCR/UEA archive sets in .ts, .tsv or .txt format.

Formats, tried in this order for ``<Name>_<SPLIT>``:

``.ts`` (sktime/aeon)
    ``#`` comment lines, ``@`` header lines (``@classLabel true 1 2`` lists the
    classes), then after ``@data`` one series per line: comma-separated
    values, ``:`` between dimensions, the class label last.
``.tsv`` (UCR 2018)
    label, then the values, separated by tabs.
``.txt`` (UCR 2015)
    label, then the values, separated by whitespace.

Each series becomes one feature row: its values in time order (dimension by
dimension for multivariate sets). Values are used as stored; UCR series are
already z-normalised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from expressivity.data._common import encode_labels, limit, make_dataset
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

UCR_SUFFIXES = (".ts", ".tsv", ".txt")


def read_ts(path: Path) -> tuple[np.ndarray, list[str], list[str] | None]:
    """Read a .ts file of equal-length series.

    Returns
    -------
    series : numpy.ndarray
        Shape (n_series, n_dimensions, length).
    labels : list of str
    class_labels : list of str or None
        The classes of the ``@classLabel`` header, if it lists them.

    Raises
    ------
    ConfigurationError
        If ``@data`` is missing, a line has no label, a value is not a number,
        or the series differ in length or dimension.
    """
    rows: list[list[list[float]]] = []
    labels: list[str] = []
    class_labels = None
    in_data = False
    with open(path, encoding="utf-8") as stream:
        for number, raw in enumerate(stream, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                words = line.split()
                keyword = words[0].lower()
                if keyword == "@classlabel" and len(words) > 2:
                    class_labels = words[2:]
                in_data = keyword == "@data"
                continue
            *dimensions, label = line.split(":")
            if not dimensions:
                raise ConfigurationError(
                    f".ts file {str(path)!r} line {number} has no ':label' part; "
                    "the file is truncated or not in .ts format"
                )
            rows.append(
                [_numbers(part.split(","), path, number) for part in dimensions]
            )
            labels.append(label.strip())
    if not in_data:
        raise ConfigurationError(
            f".ts file {str(path)!r} has no @data line; it is not a .ts file"
        )
    return _as_array(rows, path), labels, class_labels


def read_ucr_text(path: Path) -> tuple[np.ndarray, list[str]]:
    """Read a UCR .tsv or .txt file: the label, then the values, on each line.

    Returns series of shape (n_series, 1, length) and their labels. Labels
    such as ``1.0000000e+00`` in the old .txt files are written as ``1``.
    """
    separator = "\t" if path.suffix == ".tsv" else None
    rows, labels = [], []
    with open(path, encoding="utf-8") as stream:
        for number, raw in enumerate(stream, start=1):
            fields = raw.strip().split(separator)
            if fields == [""]:
                continue
            rows.append([_numbers(fields[1:], path, number)])
            labels.append(_label_text(fields[0]))
    return _as_array(rows, path), labels


def _label_text(field: str) -> str:
    try:
        value = float(field)
    except ValueError:
        return field
    return str(int(value)) if value.is_integer() else field


def _numbers(fields: list[str], path: Path, number: int) -> list[float]:
    try:
        return [float(field) for field in fields]
    except ValueError as error:
        raise ConfigurationError(
            f"file {str(path)!r} line {number}: {error}; the file is corrupt"
        ) from None


def _as_array(rows: list[list[list[float]]], path: Path) -> np.ndarray:
    if not rows:
        raise ConfigurationError(f"file {str(path)!r} contains no series")
    shapes = {(len(row), len(row[0])) for row in rows}
    if len(shapes) != 1:
        raise ConfigurationError(
            f"file {str(path)!r} has series of different shapes "
            f"{sorted(shapes)[:3]}; only equal-length series are supported"
        )
    return np.array(rows, dtype=np.float64)


def find_ucr_file(folder: Path, stem: str, split: str) -> Path:
    """Return ``<stem>_<SPLIT>`` with the first suffix of :data:`UCR_SUFFIXES`."""
    for suffix in UCR_SUFFIXES:
        path = folder / f"{stem}_{split.upper()}{suffix}"
        if path.is_file():
            return path
    raise ConfigurationError(
        f"split {split!r} of {stem} not found in {str(folder)!r}; expected "
        f"{stem}_{split.upper()} with suffix .ts, .tsv or .txt"
    )


def load_ucr(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    stem: str,
) -> Dataset:
    """Load the ``split`` of UCR set ``stem`` (for example ``GunPoint``).

    Labels are indices into ``info.class_names``, which follows the archive's
    own class labels.
    """
    path = find_ucr_file(folder, stem, split)
    if path.suffix == ".ts":
        series, labels, _ = read_ts(path)
    else:
        series, labels = read_ucr_text(path)
    count = limit(series.shape[0], max_examples)
    codes = encode_labels(labels[:count], info.class_names, str(path))
    return make_dataset(
        info.name,
        info.modality,
        series[:count].reshape(count, -1),
        codes,
        info.class_names,
        {
            "files": [str(path)],
            "features": "series values as stored",
            "n_dimensions": series.shape[1],
            "series_length": series.shape[2],
        },
    )
