"""Where dataset files live, how they are checked and how they are downloaded.

The data root is, in order: an explicit ``data_dir``, the environment variable
``EXPRESSIVITY_DATA``, then the user cache directory (``$XDG_CACHE_HOME`` or
``~/.cache``, then ``expressivity``). Below the root each set has its own
folder by modality, for example ``image/mnist``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from expressivity.data.registry import DataFile, DatasetInfo
from expressivity.errors import ConfigurationError

logger = logging.getLogger(__name__)

DATA_ENV = "EXPRESSIVITY_DATA"
OFFLINE_ENV = "EXPRESSIVITY_OFFLINE"
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


class DownloadError(ConfigurationError):
    """A download failed or its content did not match the recorded checksum."""


def cache_dir() -> Path:
    """Return the user cache directory for datasets (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "expressivity"


def data_root(data_dir: str | Path | None = None) -> Path:
    """Return the data root: ``data_dir``, then ``$EXPRESSIVITY_DATA``, then cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return cache_dir()


def file_sha256(path: Path, *, gunzipped: bool = False) -> str:
    """Return the hex SHA-256 of ``path``, or of its decompressed content."""
    digest = hashlib.sha256()
    opener = gzip.open if gunzipped else open
    with opener(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileCheck:
    """Result of checking one recorded file.

    Attributes
    ----------
    path
        Path relative to the dataset folder.
    status
        ``ok``, ``mismatch``, ``missing`` or ``unrecorded`` (no checksum known).
    expected, actual
        Recorded and computed SHA-256; ``actual`` is None unless computed.
    """

    path: str
    status: str
    expected: str | None
    actual: str | None = None


def check_file(entry: DataFile, folder: Path) -> FileCheck:
    """Check ``folder / entry.path`` against the recorded SHA-256 of ``entry``."""
    path = folder / entry.path
    if not path.is_file():
        return FileCheck(entry.path, "missing", entry.sha256)
    if entry.sha256 is None:
        return FileCheck(entry.path, "unrecorded", None)
    actual = file_sha256(path, gunzipped=entry.gunzipped)
    status = "ok" if actual == entry.sha256 else "mismatch"
    return FileCheck(entry.path, status, entry.sha256, actual)


def verify_files(info: DatasetInfo, root: Path) -> list[FileCheck]:
    """Check every recorded file of ``info`` below ``root`` against its SHA-256.

    The folder checked is the one :meth:`DatasetInfo.locate` finds, or
    ``info.folder`` when no complete copy exists.
    """
    if info.folder is None:
        return []
    folder = info.locate(root) or root / info.folder
    return [check_file(entry, folder) for entry in info.all_files()]


def download_file(
    url: str,
    target: Path,
    sha256: str | None,
    *,
    gunzipped: bool = False,
    timeout: float = _TIMEOUT_S,
) -> Path:
    """Download ``url`` to ``target`` through a checked temporary file.

    The content goes to a temporary file in the target's folder, is checked
    against ``sha256``, and only then is renamed to ``target`` with
    :func:`os.replace`. On any failure the temporary file is removed, so
    ``target`` is either complete and verified or absent.

    Raises
    ------
    DownloadError
        If no checksum is recorded, the transfer fails or ends early, or the
        checksum differs; the message names the file and both checksums.
    """
    if sha256 is None:
        raise DownloadError(
            f"no SHA-256 is recorded for {target.name}, so it cannot be downloaded "
            f"safely; fetch {url} yourself, place it at {target} and run "
            "'expressivity datasets verify'"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    temporary = Path(temporary_name)
    expected = f"{target.name} (expected SHA-256 {sha256})"
    try:
        with os.fdopen(handle, "wb") as sink:
            try:
                _copy_url(url, sink, timeout)
            except DownloadError as error:
                raise DownloadError(f"{expected}: {error}") from error
        try:
            actual = file_sha256(temporary, gunzipped=gunzipped)
        except (OSError, EOFError) as error:
            raise DownloadError(
                f"download of {expected} from {url} is not a complete gzip "
                f"file: {error}; the file was discarded, retry the download"
            ) from error
        if actual != sha256:
            raise DownloadError(
                f"checksum mismatch for {target.name} from {url}: expected SHA-256 "
                f"{sha256}, got {actual}; the file was discarded, retry later or "
                "report the changed source"
            )
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    logger.info("downloaded %s to %s", url, target)
    return target


def _copy_url(url: str, sink: BinaryIO, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected_size = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(_CHUNK):
                sink.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as error:
        # The error carries the open response, so close it here.
        error.close()
        raise DownloadError(
            f"download of {url} failed with HTTP {error.code} {error.reason}; "
            "check the URL or the base URL"
        ) from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise DownloadError(
            f"download of {url} failed: {error}; check the network connection"
        ) from error
    # http.client returns a short read rather than raising when the server
    # closes the connection early, so the size check catches truncation.
    if expected_size is not None and received != int(expected_size):
        raise DownloadError(
            f"download of {url} ended after {received} of {expected_size} bytes; "
            "the connection closed early, retry the download"
        )


def resolve_url(entry: DataFile, base_url: str | None) -> str | None:
    """Return the URL of ``entry``, with ``base_url`` replacing all but the name."""
    if entry.url is None:
        return None
    if base_url is None:
        return entry.url
    return f"{base_url.rstrip('/')}/{entry.url.rsplit('/', 1)[-1]}"


def download_dataset(
    info: DatasetInfo,
    root: Path,
    *,
    base_url: str | None = None,
) -> list[Path]:
    """Download every missing downloadable file of ``info`` below ``root``.

    Parameters
    ----------
    info
        Registry entry.
    root
        Data root; files go to ``root / info.folder``.
    base_url
        Replaces each recorded URL up to its last ``/``, for mirrors and tests.

    Returns
    -------
    list of Path
        The files written.
    """
    if info.folder is None:
        return []
    if os.environ.get(OFFLINE_ENV):
        raise ConfigurationError(
            f"dataset {info.name!r} has no local copy below {root} and downloads "
            f"are disabled by {OFFLINE_ENV}; unset it or place the files there"
        )
    downloadable = [entry for entry in info.all_files() if entry.url is not None]
    if not downloadable:
        raise ConfigurationError(
            f"dataset {info.name!r} has no local copy below {root} and no "
            f"download URL; obtain it from {info.source} and place it in "
            f"{root / info.folder}"
        )
    written = []
    for entry in downloadable:
        target = root / info.folder / entry.path
        if target.is_file():
            continue
        url = resolve_url(entry, base_url)
        logger.info("downloading %s from %s", entry.path, url)
        written.append(
            download_file(url, target, entry.sha256, gunzipped=entry.gunzipped)
        )
    return written
