"""Reader of the IDX format of MNIST and Fashion-MNIST.

An IDX file starts with a 4-byte big-endian magic number: two zero bytes, a
type code (0x08 for unsigned bytes) and the number of dimensions. Then come
one big-endian 32-bit size per dimension and the data in C order. Label files
have magic number 2049 (one dimension), image files 2051 (three dimensions).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from expressivity.errors import ConfigurationError

LABELS_MAGIC = 2049
IMAGES_MAGIC = 2051
_UNSIGNED_BYTE = 0x08


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzipped (``.gz``) or not.

    Parameters
    ----------
    path
        The file.
    expected_magic
        :data:`LABELS_MAGIC` or :data:`IMAGES_MAGIC`.

    Returns
    -------
    numpy.ndarray of uint8
        Shape (n,) for labels, (n, rows, columns) for images.

    Raises
    ------
    ConfigurationError
        If the magic number differs from ``expected_magic``, or the file contains
        fewer or more bytes than its header declares.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise ConfigurationError(
            f"IDX file {str(path)!r} could not be read: {error}; the download "
            "may be truncated, delete the file and fetch it again"
        ) from error

    kind = "labels" if expected_magic == LABELS_MAGIC else "images"
    if len(raw) < 4:
        raise ConfigurationError(
            f"IDX file {str(path)!r} has {len(raw)} bytes, too few for a header; "
            "the file is truncated, fetch it again"
        )
    (magic,) = struct.unpack(">i", raw[:4])
    if magic != expected_magic:
        raise ConfigurationError(
            f"IDX file {str(path)!r} has magic number {magic}, expected "
            f"{expected_magic} for {kind}; check that the file is the {kind} "
            "file of the pair"
        )
    if raw[2] != _UNSIGNED_BYTE:
        raise ConfigurationError(
            f"IDX file {str(path)!r} has data type 0x{raw[2]:02x}; only unsigned "
            "bytes (0x08) are supported"
        )

    n_dims = raw[3]
    header_size = 4 + 4 * n_dims
    if len(raw) < header_size:
        raise ConfigurationError(
            f"IDX file {str(path)!r} ends inside its header; the file is "
            "truncated, fetch it again"
        )
    shape = struct.unpack(f">{n_dims}I", raw[4:header_size])
    expected_bytes = header_size + int(np.prod(shape))
    if len(raw) != expected_bytes:
        raise ConfigurationError(
            f"IDX file {str(path)!r} has {len(raw)} bytes but its header "
            f"declares shape {tuple(shape)}, which needs {expected_bytes}; the "
            "file is truncated or corrupt, fetch it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def find_idx_file(folder: Path, stem: str) -> Path:
    """Return ``folder / stem`` with ``.gz`` if present, else without."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise ConfigurationError(
        f"IDX file {stem}.gz (or {stem}) not found in {str(folder)!r}; place the "
        "file there or choose another data directory"
    )
