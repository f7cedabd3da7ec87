"""Image loaders: 8x8 digits, MNIST, Fashion-MNIST and CIFAR-10.

Pixels become features in [0, 1] (byte value / 255, or / 16 for the 8x8
digits). CIFAR-10 features keep the channel-major order of the binary batches:
the 1024 red values, then green, then blue, each row by row.
"""

from __future__ import annotations

import csv
import tarfile
from pathlib import Path

import numpy as np

from expressivity.data._common import (
    encode_labels,
    limit,
    make_dataset,
    require_file,
)
from expressivity.data.dataset import Dataset
from expressivity.data.idx import IMAGES_MAGIC, LABELS_MAGIC, find_idx_file, read_idx
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{index}.bin" for index in range(1, 6)),
    "test": ("test_batch.bin",),
}


def load_digits(
    folder: Path | None, *, info: DatasetInfo, split: str, max_examples: int | None
) -> Dataset:
    """Load scikit-learn's 8x8 digits with pixel values scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    count = limit(len(bunch.target), max_examples)
    return make_dataset(
        info.name,
        info.modality,
        bunch.data[:count] / 16.0,
        bunch.target[:count],
        info.class_names,
        {"source": "sklearn.datasets.load_digits", "scale": "x / 16"},
    )


def load_mnist(
    folder: Path, *, info: DatasetInfo, split: str, max_examples: int | None
) -> Dataset:
    """Load MNIST or Fashion-MNIST from its IDX image and label files.

    ``split`` ``train`` reads ``train-*-ubyte``, ``test`` reads ``t10k-*``.
    """
    prefix = "train" if split == "train" else "t10k"
    images_path = find_idx_file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1:
        raise ConfigurationError(
            f"{images_path.name} has {images.ndim} dimensions and "
            f"{labels_path.name} {labels.ndim}; expected 3 and 1"
        )
    if images.shape[0] != labels.shape[0]:
        raise ConfigurationError(
            f"{images_path.name} contains {images.shape[0]} images but "
            f"{labels_path.name} contains {labels.shape[0]} labels; the pair must "
            "come from the same split"
        )
    if labels.size and labels.max() >= len(info.class_names):
        raise ConfigurationError(
            f"{labels_path.name} contains label {int(labels.max())}, but "
            f"{info.name} has {len(info.class_names)} classes"
        )

    count = limit(images.shape[0], max_examples)
    features = images[:count].reshape(count, -1) / 255.0
    return make_dataset(
        info.name,
        info.modality,
        features,
        labels[:count],
        info.class_names,
        {
            "files": [str(images_path), str(labels_path)],
            "split": split,
            "scale": "x / 255",
            "image_shape": list(images.shape[1:]),
        },
    )


load_fashion_mnist = load_mnist


def load_cifar10(
    folder: Path, *, info: DatasetInfo, split: str, max_examples: int | None
) -> Dataset:
    """Load CIFAR-10 from binary batches, their tar.gz, or the Kaggle PNG layout.

    Layouts are tried in this order: ``cifar-10-batches-bin/*.bin``,
    ``cifar-10-binary.tar.gz`` (read without extracting), then
    ``trainLabels.csv`` with a ``train/`` folder of PNG files, at the top of
    ``folder`` or one level below. The Kaggle layout has only a train split.
    """
    batch_dir = folder / "cifar-10-batches-bin"
    archive = folder / "cifar-10-binary.tar.gz"
    if (batch_dir / _CIFAR_BATCHES[split][0]).is_file():
        paths = [batch_dir / name for name in _CIFAR_BATCHES[split]]
        chunks = [
            (str(path), require_file(path, "CIFAR-10").read_bytes()) for path in paths
        ]
        sources = [str(path) for path in paths]
    elif archive.is_file():
        chunks = _read_cifar_archive(archive, split)
        sources = [str(archive)]
    else:
        return _load_cifar_png(
            folder, info=info, split=split, max_examples=max_examples
        )

    images, labels = [], []
    remaining = max_examples
    for name, raw in chunks:
        batch_images, batch_labels = parse_cifar_batch(raw, name, remaining)
        images.append(batch_images)
        labels.append(batch_labels)
        if remaining is not None:
            remaining -= len(batch_labels)
            if remaining <= 0:
                break
    features = np.concatenate(images).astype(np.float64) / 255.0
    return make_dataset(
        info.name,
        info.modality,
        features,
        np.concatenate(labels),
        info.class_names,
        {"files": sources, "split": split, "scale": "x / 255", "layout": "CHW"},
    )


def parse_cifar_batch(
    raw: bytes, name: str, max_records: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split a CIFAR-10 binary batch into pixel rows and labels.

    Each record is one label byte followed by 3072 pixel bytes.

    Raises
    ------
    ConfigurationError
        If the size is not a multiple of 3073 bytes or a label exceeds 9.
    """
    if len(raw) == 0 or len(raw) % CIFAR_RECORD_BYTES:
        raise ConfigurationError(
            f"CIFAR-10 batch {name!r} has {len(raw)} bytes, not a positive "
            f"multiple of the {CIFAR_RECORD_BYTES}-byte record; the file is "
            "truncated or not a binary batch, fetch it again"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    if max_records is not None:
        records = records[:max_records]
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ConfigurationError(
            f"CIFAR-10 batch {name!r} contains label {int(labels.max())}; labels "
            "must be 0 to 9, so the file is corrupt or of another format"
        )
    return records[:, 1:], labels


def _read_cifar_archive(archive: Path, split: str) -> list[tuple[str, bytes]]:
    chunks = []
    with tarfile.open(archive, "r:gz") as tar:
        for batch in _CIFAR_BATCHES[split]:
            member_name = f"cifar-10-batches-bin/{batch}"
            try:
                member = tar.extractfile(member_name)
            except KeyError:
                member = None
            if member is None:
                raise ConfigurationError(
                    f"archive {str(archive)!r} has no member {member_name!r}; "
                    "it is not the CIFAR-10 binary archive, fetch it again"
                )
            chunks.append((f"{archive.name}:{member_name}", member.read()))
    return chunks


def _find_kaggle_root(folder: Path) -> Path:
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if (candidate / "trainLabels.csv").is_file():
            return candidate
    raise ConfigurationError(
        f"no CIFAR-10 files found in {str(folder)!r}; expected "
        "cifar-10-batches-bin/, cifar-10-binary.tar.gz or trainLabels.csv with "
        "train/*.png"
    )


def _load_cifar_png(
    folder: Path, *, info: DatasetInfo, split: str, max_examples: int | None
) -> Dataset:
    from PIL import Image

    if split != "train":
        raise ConfigurationError(
            f"split {split!r} is not available in the Kaggle PNG layout of "
            f"{str(folder)!r}; it has only split 'train'"
        )
    root = _find_kaggle_root(folder)
    with open(root / "trainLabels.csv", newline="") as stream:
        rows = [row for row in csv.reader(stream) if row]
    if rows and rows[0][0] == "id":
        rows = rows[1:]
    # Kaggle's file lists ids (1, 2, ...); other exports list file names.
    rows.sort(key=lambda row: int(Path(row[0]).stem))
    rows = rows[: limit(len(rows), max_examples)]

    images = np.empty((len(rows), 3 * 32 * 32), dtype=np.uint8)
    files = [str(root / "trainLabels.csv")]
    for position, (identifier, _) in enumerate(rows):
        path = root / "train" / f"{Path(identifier).stem}.png"
        files.append(str(path))
        with Image.open(require_file(path, "CIFAR-10 PNG")) as image:
            pixels = np.asarray(image.convert("RGB"))
        if pixels.shape != (32, 32, 3):
            raise ConfigurationError(
                f"CIFAR-10 image {str(path)!r} has shape {pixels.shape}, "
                "expected (32, 32, 3)"
            )
        images[position] = pixels.transpose(2, 0, 1).reshape(-1)
    labels = encode_labels([row[1] for row in rows], info.class_names, "trainLabels")
    return make_dataset(
        info.name,
        info.modality,
        images / 255.0,
        labels,
        info.class_names,
        {"files": files, "split": split, "scale": "x / 255", "layout": "CHW"},
    )
