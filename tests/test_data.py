"""Registry, data root, image and tabular loaders.

Offline copies are read from ``$EXPRESSIVITY_DATA``; a test that needs one
skips when it is absent. Formats not available offline in full are written
here in their canonical layout.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from expressivity.data import (
    data_root,
    dataset_names,
    get_info,
    list_datasets,
    load_dataset,
)
from expressivity.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from expressivity.data.image import CIFAR_RECORD_BYTES, parse_cifar_batch
from expressivity.errors import ConfigurationError

REQUIRED_NAMES = (
    "digits mnist fashion-mnist cifar10 sst2 ag-news imdb ptb wikitext2 fsdd iris "
    "wine breast-cancer adult cora karate gunpoint italy-power-demand arrowhead "
    "ecg5000 coco-captions kinetics-sample bikes circles moons spirals"
).split()


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    # A set missing from the data root must fail here, never reach a real host.
    monkeypatch.setenv("EXPRESSIVITY_OFFLINE", "1")


def offline_root(name: str) -> Path:
    """Return the data root holding an offline copy of ``name``, or skip."""
    value = os.environ.get("EXPRESSIVITY_DATA")
    if not value:
        pytest.skip("EXPRESSIVITY_DATA is not set, so no offline dataset copies")
    root = Path(value)
    if get_info(name).locate(root) is None:
        pytest.skip(f"no offline copy of {name} below {root}")
    return root


# Registry and data root ----------------------------------------------------


def test_registry_has_every_required_name():
    names = dataset_names()
    for name in REQUIRED_NAMES:
        assert name in names
    for name in names:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name


def test_registry_entries_are_consistent():
    for info in list_datasets():
        assert set(info.n_examples) == set(info.splits), info.name
        assert info.n_features > 0
        assert info.bundled == (info.folder is None)
        if not info.bundled:
            assert info.layouts, info.name
        info.load_function()


def test_list_by_modality_and_unknown_modality():
    tabular = {info.name for info in list_datasets("tabular")}
    assert tabular == {"iris", "wine", "breast-cancer", "adult"}
    with pytest.raises(ConfigurationError, match="modality 'sound' not found"):
        list_datasets("sound")


def test_unknown_name_and_split_rejected():
    with pytest.raises(ConfigurationError, match="dataset 'mnist2' not found"):
        load_dataset("mnist2")
    with pytest.raises(ConfigurationError, match="split 'val' not found"):
        load_dataset("digits", split="val")
    with pytest.raises(ConfigurationError, match="max_examples=0 is invalid"):
        load_dataset("digits", max_examples=0)
    with pytest.raises(ConfigurationError, match="does not take option"):
        load_dataset("digits", n_features=3)


def test_data_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EXPRESSIVITY_DATA", raising=False)
    assert data_root() == tmp_path / "cache" / "expressivity"
    monkeypatch.setenv("EXPRESSIVITY_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_missing_set_without_download_names_folder(tmp_path):
    with pytest.raises(ConfigurationError, match="image/fashion-mnist/"):
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert not (tmp_path / "image").exists()


# Image: offline copies -----------------------------------------------------


def test_digits_matches_sklearn():
    from sklearn.datasets import load_digits

    data = load_dataset("digits")
    reference = load_digits()
    assert data.features.shape == (1797, 64)
    assert data.features.dtype == torch.float64
    assert torch.equal(data.labels, torch.as_tensor(reference.target))
    np.testing.assert_allclose(data.features.numpy(), reference.data / 16.0)
    assert data.provenance["sha256"] == {}


def test_mnist_test_split_known_values():
    root = offline_root("mnist")
    data = load_dataset("mnist", split="test", data_dir=root)
    assert data.features.shape == (10000, 784)
    assert int(data.labels[0]) == 7
    counts = torch.bincount(data.labels).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(data.features.min()) == 0.0
    assert float(data.features.max()) == 1.0
    assert set(data.provenance["sha256"]) == {
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }


def test_mnist_train_subset_first_labels():
    root = offline_root("mnist")
    data = load_dataset("mnist", split="train", data_dir=root, max_examples=5)
    assert data.labels.tolist() == [5, 0, 4, 1, 9]


def test_cifar10_kaggle_png_layout():
    root = offline_root("cifar10-kaggle")
    data = load_dataset("cifar10-kaggle", data_dir=root, max_examples=5)
    assert data.features.shape == (5, 3072)
    names = [data.class_names[label] for label in data.labels.tolist()]
    assert names == ["frog", "truck", "truck", "deer", "automobile"]

    from PIL import Image

    folder = get_info("cifar10-kaggle").locate(root) / "image_data_format_1"
    with Image.open(folder / "train" / "2.png") as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    red = data.features[1, :1024].reshape(32, 32).numpy()
    blue = data.features[1, 2048:].reshape(32, 32).numpy()
    np.testing.assert_array_equal(red, pixels[:, :, 0])
    np.testing.assert_array_equal(blue, pixels[:, :, 2])


# Image: canonical formats written here ------------------------------------


def _idx_bytes(magic: int, array: np.ndarray) -> bytes:
    header = struct.pack(">i", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fashion_images() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    return images, np.array([9, 0, 3], dtype=np.uint8)


@pytest.mark.parametrize("gzipped", [True, False])
def test_fashion_mnist_idx_pair(tmp_path, fashion_images, gzipped):
    images, labels = fashion_images
    folder = tmp_path / "image" / "fashion-mnist"
    folder.mkdir(parents=True)
    for stem, payload in (
        ("t10k-images-idx3-ubyte", _idx_bytes(IMAGES_MAGIC, images)),
        ("t10k-labels-idx1-ubyte", _idx_bytes(LABELS_MAGIC, labels)),
        ("train-images-idx3-ubyte", _idx_bytes(IMAGES_MAGIC, images[:1])),
        ("train-labels-idx1-ubyte", _idx_bytes(LABELS_MAGIC, labels[:1])),
    ):
        if gzipped:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / stem).write_bytes(payload)

    # These files are not the published ones, so their checksums differ.
    data = load_dataset("fashion-mnist", split="test", data_dir=tmp_path, verify=False)
    assert data.features.shape == (3, 784)
    assert data.labels.tolist() == [9, 0, 3]
    assert data.class_names[9] == "Ankle boot"
    expected = images.reshape(3, -1) / 255.0
    np.testing.assert_array_equal(data.features.numpy(), expected)


@given(
    shape=st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(1, 6)),
    seed=st.integers(0, 2**16),
)
def test_idx_round_trip(tmp_path_factory, shape, seed):
    images = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path_factory.mktemp("idx") / "images.gz"
    path.write_bytes(gzip.compress(_idx_bytes(IMAGES_MAGIC, images)))
    np.testing.assert_array_equal(read_idx(path, IMAGES_MAGIC), images)


def test_idx_wrong_magic_rejected(tmp_path, fashion_images):
    images, _ = fashion_images
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(_idx_bytes(IMAGES_MAGIC, images))
    with pytest.raises(ConfigurationError, match="magic number 2051, expected 2049"):
        read_idx(path, LABELS_MAGIC)


def test_idx_truncated_rejected(tmp_path, fashion_images):
    images, _ = fashion_images
    payload = _idx_bytes(IMAGES_MAGIC, images)
    path = tmp_path / "images"
    path.write_bytes(payload[:-100])
    with pytest.raises(ConfigurationError, match="truncated"):
        read_idx(path, IMAGES_MAGIC)

    gz_path = tmp_path / "images.gz"
    gz_path.write_bytes(gzip.compress(payload)[:-40])
    with pytest.raises(ConfigurationError, match="could not be read"):
        read_idx(gz_path, IMAGES_MAGIC)

    header_only = tmp_path / "header"
    header_only.write_bytes(payload[:6])
    with pytest.raises(ConfigurationError, match="ends inside its header"):
        read_idx(header_only, IMAGES_MAGIC)


def _cifar_records() -> tuple[bytes, np.ndarray, np.ndarray]:
    generator = np.random.default_rng(1)
    pixels = generator.integers(0, 256, size=(2, 3072), dtype=np.uint8)
    labels = np.array([6, 1], dtype=np.uint8)
    raw = b"".join(bytes([labels[i]]) + pixels[i].tobytes() for i in range(2))
    return raw, pixels, labels


def test_cifar10_binary_batch(tmp_path):
    raw, pixels, labels = _cifar_records()
    batches = tmp_path / "image" / "cifar10" / "cifar-10-batches-bin"
    batches.mkdir(parents=True)
    (batches / "test_batch.bin").write_bytes(raw)

    data = load_dataset("cifar10", split="test", data_dir=tmp_path, verify=False)
    assert data.labels.tolist() == [6, 1]
    np.testing.assert_array_equal(data.features.numpy(), pixels / 255.0)

    # The recorded checksum is that of the real test batch.
    with pytest.raises(ConfigurationError, match="test_batch.bin.*SHA-256"):
        load_dataset("cifar10", split="test", data_dir=tmp_path)


def test_cifar10_archive_read_in_place(tmp_path):
    raw, pixels, _ = _cifar_records()
    folder = tmp_path / "image" / "cifar10"
    folder.mkdir(parents=True)
    with tarfile.open(folder / "cifar-10-binary.tar.gz", "w:gz") as tar:
        member = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        member.size = len(raw)
        tar.addfile(member, io.BytesIO(raw))

    data = load_dataset("cifar10", split="test", data_dir=tmp_path, verify=False)
    np.testing.assert_array_equal(data.features.numpy(), pixels / 255.0)
    with pytest.raises(ConfigurationError, match="no member"):
        load_dataset("cifar10", split="train", data_dir=tmp_path, verify=False)


def test_cifar10_truncated_and_bad_label_rejected():
    raw, _, _ = _cifar_records()
    with pytest.raises(ConfigurationError, match="not a positive multiple of the 3073"):
        parse_cifar_batch(raw[:-1], "test_batch.bin")
    bad = bytes([10]) + raw[1:CIFAR_RECORD_BYTES]
    with pytest.raises(ConfigurationError, match="contains label 10"):
        parse_cifar_batch(bad, "test_batch.bin")


# Tabular -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "counts"),
    [
        ("iris", (150, 4), [50, 50, 50]),
        ("wine", (178, 13), [59, 71, 48]),
        ("breast-cancer", (569, 30), [212, 357]),
    ],
)
def test_sklearn_tabular_standardised(name, shape, counts):
    data = load_dataset(name)
    assert data.features.shape == shape
    assert data.n_features == get_info(name).n_features
    assert torch.bincount(data.labels).tolist() == counts
    np.testing.assert_allclose(data.features.mean(0).numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.features.std(0, unbiased=False).numpy(), 1.0)


def test_adult_offline_counts_and_quirks():
    root = offline_root("adult")
    train = load_dataset("adult", split="train", data_dir=root)
    test = load_dataset("adult", split="test", data_dir=root)
    assert train.features.shape == (32561, 105)
    assert test.features.shape == (16281, 105)
    assert torch.bincount(train.labels).tolist() == [24720, 7841]
    # Test labels end with a period in the file ("<=50K.").
    assert torch.bincount(test.labels).tolist() == [12435, 3846]
    assert train.provenance["records_with_missing"] == 2399

    # Numeric columns are standardised with the training statistics.
    raw_age = np.loadtxt(
        root / "tabular" / "adult" / "adult.data", delimiter=",", usecols=0
    )
    columns = train.provenance["columns"]
    age = columns.index("age")
    expected = (raw_age - raw_age.mean()) / raw_age.std()
    np.testing.assert_allclose(train.features[:, age].numpy(), expected)
    assert float(test.features[0, age]) == pytest.approx(
        (25 - raw_age.mean()) / raw_age.std()
    )

    # Each categorical block is one-hot, or all zero where the value is "?".
    sex = [i for i, c in enumerate(columns) if c.startswith("sex=")]
    assert torch.all(train.features[:, sex].sum(1) == 1)
    workclass = [i for i, c in enumerate(columns) if c.startswith("workclass=")]
    block_sums = train.features[:, workclass].sum(1)
    assert set(block_sums.tolist()) == {0.0, 1.0}

    dropped = load_dataset("adult", split="train", data_dir=root, drop_missing=True)
    assert len(dropped) == 30162


ADULT_ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, "
    "Not-in-family, White, Male, 2174, 0, 40, United-States, {label}\n"
)


def test_adult_written_files(tmp_path):
    folder = tmp_path / "tabular" / "adult"
    folder.mkdir(parents=True)
    missing_row = ADULT_ROW.replace("State-gov", "?").replace("39,", "51,")
    (folder / "adult.data").write_text(
        ADULT_ROW.format(label="<=50K") + missing_row.format(label=">50K") + "\n"
    )
    (folder / "adult.test").write_text(
        "|1x3 Cross validator\n" + ADULT_ROW.format(label=">50K.") + "\n"
    )
    test = load_dataset("adult", split="test", data_dir=tmp_path, verify=False)
    assert test.labels.tolist() == [1]
    age = test.provenance["columns"].index("age")
    # Training ages 39 and 51: mean 45, std 6.
    assert float(test.features[0, age]) == pytest.approx(-1.0)

    (folder / "adult.data").write_text(
        ADULT_ROW.replace("Bachelors", "Bachelor").format(label="<=50K")
    )
    with pytest.raises(ConfigurationError, match="education='Bachelor'"):
        load_dataset("adult", split="train", data_dir=tmp_path, verify=False)
