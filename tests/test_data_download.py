"""Checked downloads from a local HTTP server on 127.0.0.1.

The server serves only files that the tests write (or copy from the offline
dataset copies); no other host is contacted.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expressivity.cli.main import app
from expressivity.data import DataFile, DatasetInfo, get_info, load_dataset
from expressivity.data.storage import DownloadError, download_dataset, download_file
from expressivity.errors import ConfigurationError

PAYLOAD = b"0123456789" * 1000
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``/truncated/NAME`` promises more bytes than it sends."""

    def do_GET(self) -> None:
        if self.path.startswith("/truncated/"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[tuple[str, Path]]:
    """Yield the base URL of a server on 127.0.0.1 and the folder it serves."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("EXPRESSIVITY_OFFLINE", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(_Handler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_download_verified_and_renamed(server, tmp_path):
    base_url, served = server
    (served / "data.bin").write_bytes(PAYLOAD)
    target = tmp_path / "root" / "set" / "data.bin"
    download_file(f"{base_url}/data.bin", target, PAYLOAD_SHA256)
    assert target.read_bytes() == PAYLOAD
    assert _leftovers(target.parent) == ["data.bin"]


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    base_url, served = server
    (served / "data.bin").write_bytes(PAYLOAD[:-1] + b"!")
    target = tmp_path / "root" / "set" / "data.bin"
    with pytest.raises(DownloadError) as caught:
        download_file(f"{base_url}/data.bin", target, PAYLOAD_SHA256)
    message = str(caught.value)
    assert "checksum mismatch for data.bin" in message
    assert PAYLOAD_SHA256 in message
    assert hashlib.sha256(PAYLOAD[:-1] + b"!").hexdigest() in message
    assert _leftovers(target.parent) == []


def test_interrupted_download_leaves_nothing(server, tmp_path):
    base_url, _ = server
    target = tmp_path / "root" / "set" / "data.bin"
    with pytest.raises(DownloadError) as caught:
        download_file(f"{base_url}/truncated/data.bin", target, PAYLOAD_SHA256)
    message = str(caught.value)
    assert "data.bin" in message
    assert PAYLOAD_SHA256 in message
    assert _leftovers(target.parent) == []


def test_missing_remote_file_leaves_nothing(server, tmp_path):
    base_url, _ = server
    target = tmp_path / "root" / "set" / "data.bin"
    with pytest.raises(DownloadError) as caught:
        download_file(f"{base_url}/data.bin", target, PAYLOAD_SHA256)
    message = str(caught.value)
    assert "HTTP 404" in message
    assert f"data.bin (expected SHA-256 {PAYLOAD_SHA256})" in message
    assert _leftovers(target.parent) == []


def test_unrecorded_checksum_rejected(tmp_path):
    with pytest.raises(DownloadError, match="no SHA-256 is recorded for data.bin"):
        download_file("http://127.0.0.1:9/data.bin", tmp_path / "data.bin", None)
    assert _leftovers(tmp_path) == []


def _toy_info(sha256: str, gunzipped: bool = False) -> DatasetInfo:
    return DatasetInfo(
        name="toy",
        modality="tabular",
        description="test set",
        loader="expressivity.data.tabular:load_adult",
        splits=("train",),
        n_examples={"train": 1},
        n_features=1,
        class_names=(),
        licence="none",
        source="tests",
        folder="tabular/toy",
        files=(
            DataFile(
                "data.bin", sha256, "https://example.invalid/x/data.bin", gunzipped
            ),
        ),
        layouts=(("data.bin",),),
    )


def test_download_dataset_uses_base_url(server, tmp_path):
    base_url, served = server
    (served / "data.bin").write_bytes(PAYLOAD)
    root = tmp_path / "root"
    written = download_dataset(_toy_info(PAYLOAD_SHA256), root, base_url=base_url)
    assert written == [root / "tabular" / "toy" / "data.bin"]
    # A second call finds the file and downloads nothing.
    assert download_dataset(_toy_info(PAYLOAD_SHA256), root, base_url=base_url) == []


def test_truncated_gzip_rejected(server, tmp_path):
    import gzip

    base_url, served = server
    compressed = gzip.compress(PAYLOAD)
    (served / "data.bin").write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DownloadError, match="not a complete gzip file"):
        download_dataset(_toy_info(PAYLOAD_SHA256, True), tmp_path, base_url=base_url)
    assert _leftovers(tmp_path / "tabular" / "toy") == []


def test_offline_environment_blocks_download(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPRESSIVITY_OFFLINE", "1")
    with pytest.raises(ConfigurationError, match="downloads are disabled"):
        download_dataset(_toy_info(PAYLOAD_SHA256), tmp_path)


def _offline_root(name: str) -> Path:
    value = os.environ.get("EXPRESSIVITY_DATA")
    if not value:
        pytest.skip("EXPRESSIVITY_DATA is not set, so no offline dataset copies")
    folder = get_info(name).locate(Path(value))
    if folder is None:
        pytest.skip(f"no offline copy of {name} below {value}")
    return folder


def test_load_dataset_downloads_missing_set(server, tmp_path):
    # Serve the offline MNIST test files: the train-images file there was
    # re-gzipped, so only the decompressed checksum can match.
    base_url, served = server
    source = _offline_root("mnist")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(source / name, served / name)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(source / name, served / name)

    root = tmp_path / "root"
    data = load_dataset(
        "mnist", split="test", data_dir=root, base_url=base_url, max_examples=3
    )
    assert data.labels.tolist() == [7, 2, 1]
    assert _leftovers(root / "image" / "mnist") == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]


def test_cli_download_reports_mismatch(server, tmp_path):
    base_url, served = server
    (served / "adult.data").write_text("not the adult data\n")
    (served / "adult.test").write_text("not the adult test\n")
    root = tmp_path / "root"
    result = CliRunner().invoke(
        app,
        [
            "datasets",
            "download",
            "adult",
            "--data-dir",
            str(root),
            "--base-url",
            base_url,
        ],
    )
    assert result.exit_code == 2
    assert "checksum mismatch for adult.data" in result.output
    assert get_info("adult").files[0].sha256 in result.output
    assert _leftovers(root / "tabular" / "adult") == []
