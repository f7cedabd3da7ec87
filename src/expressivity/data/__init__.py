"""Datasets as feature tensors with labels and provenance.

:func:`load_dataset` finds a registered set below the data root (``data_dir``,
then ``$EXPRESSIVITY_DATA``, then the user cache), downloads it when it is
missing and downloadable, checks the files against their recorded SHA-256,
and runs the set's loader.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from expressivity.data._common import check_max_examples
from expressivity.data.dataset import Dataset
from expressivity.data.registry import (
    MODALITIES,
    DataFile,
    DatasetInfo,
    dataset_names,
    get_info,
    list_datasets,
    register,
)
from expressivity.data.storage import (
    DownloadError,
    FileCheck,
    check_file,
    data_root,
    download_dataset,
    file_sha256,
    verify_files,
)
from expressivity.data.trajectories import PATH_KINDS, natural_path
from expressivity.errors import ConfigurationError

logger = logging.getLogger(__name__)


def load_dataset(
    name: str,
    *,
    split: str | None = None,
    data_dir: str | Path | None = None,
    max_examples: int | None = None,
    download: bool = True,
    verify: bool = True,
    base_url: str | None = None,
    **options: Any,
) -> Dataset:
    """Load the dataset registered as ``name``.

    Parameters
    ----------
    name
        Registry name; ``expressivity datasets list`` shows them all.
    split
        Split to load; None loads the first split of the registry entry.
    data_dir
        Data root. None uses ``$EXPRESSIVITY_DATA``, then the user cache.
    max_examples
        Keep only the first ``max_examples`` examples of the split (IMDb takes
        half from each class).
    download
        Download a missing set whose files have a URL and a SHA-256.
    verify
        Check the local files against their recorded SHA-256 before loading.
    base_url
        Replaces the recorded download URLs up to their last ``/``.
    **options
        Loader options, for example ``n_features`` for text or
        ``propagation_steps`` for Cora; see each loader.

    Returns
    -------
    Dataset
        Features of shape (n_examples, n_features) in float64, int64 labels.
        ``provenance["files"]`` lists the files read and
        ``provenance["sha256"]`` their checksums, keyed by path in the set's
        folder (empty for bundled and generated sets).

    Raises
    ------
    ConfigurationError
        If the name, split or an option is invalid, the set has no local copy
        and cannot be downloaded, a checksum differs, or a file is malformed.
    """
    info = get_info(name)
    split = info.splits[0] if split is None else split
    if split not in info.splits:
        raise ConfigurationError(
            f"split {split!r} not found in dataset {name!r}; use one of "
            + ", ".join(info.splits)
        )
    check_max_examples(max_examples)

    folder = None
    if not info.bundled:
        folder = locate_or_download(info, data_dir, download, base_url)
        if verify:
            _verify_or_raise(info, folder)

    loader = info.load_function()
    all_options = {**info.options, **options}
    try:
        dataset = loader(
            folder, info=info, split=split, max_examples=max_examples, **all_options
        )
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        raise ConfigurationError(
            f"dataset {name!r} does not take option(s) {sorted(options)}: {error}"
        ) from None
    dataset.provenance.setdefault("dataset", name)
    dataset.provenance.setdefault("split", split)
    dataset.provenance["sha256"] = (
        {}
        if folder is None
        else files_read_checksums(info, folder, dataset.provenance.get("files", []))
    )
    logger.info("loaded %s split %s: %d examples", name, split, len(dataset))
    return dataset


def locate_or_download(
    info: DatasetInfo,
    data_dir: str | Path | None,
    download: bool,
    base_url: str | None = None,
) -> Path:
    """Return the folder of ``info``'s local copy, downloading it if allowed."""
    root = data_root(data_dir)
    folder = info.locate(root)
    if folder is not None:
        return folder
    if download:
        download_dataset(info, root, base_url=base_url)
        folder = info.locate(root)
        if folder is not None:
            return folder
    raise ConfigurationError(
        f"dataset {info.name!r} not found below {str(root)!r}: expected "
        f"{info.folder}/ with {' + '.join(info.layouts[0])}; set data_dir or "
        f"EXPRESSIVITY_DATA to the folder that contains {info.folder}/"
        + ("" if download else ", or allow the download")
    )


_VERIFIED: set[tuple[str, int, int]] = set()


def _verify_or_raise(info: DatasetInfo, folder: Path) -> None:
    # Results are cached per (path, size, mtime) so that repeated loads in one
    # process hash each file once.
    for entry in info.all_files():
        path = folder / entry.path
        if entry.sha256 is None or not path.is_file():
            continue
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key in _VERIFIED:
            continue
        check = check_file(entry, folder)
        if check.status == "mismatch":
            raise ConfigurationError(
                f"file {str(path)!r} of dataset {info.name!r} has SHA-256 "
                f"{check.actual}, expected {check.expected}; delete it and fetch "
                "it again, or pass verify=False to load it anyway"
            )
        _VERIFIED.add(key)


def files_read_checksums(
    info: DatasetInfo, folder: Path, files: list[str]
) -> dict[str, str]:
    """Return the SHA-256 of each file a loader read, keyed by its path in ``folder``.

    A recorded checksum that was verified in this process is reused; other
    files (and gzipped files whose recorded checksum is of the decompressed
    content) are hashed here. Folders in ``files`` are skipped.
    """
    recorded = {
        entry.path: entry.sha256
        for entry in info.all_files()
        if entry.sha256 is not None and not entry.gunzipped
    }
    checksums = {}
    for name in files:
        path = Path(name)
        if not path.is_file():
            continue
        try:
            relative = path.relative_to(folder).as_posix()
        except ValueError:
            relative = str(path)
        stat = path.stat()
        verified = (str(path), stat.st_size, stat.st_mtime_ns) in _VERIFIED
        if verified and relative in recorded:
            checksums[relative] = recorded[relative]
        else:
            checksums[relative] = file_sha256(path)
    return checksums


__all__ = [
    "MODALITIES",
    "PATH_KINDS",
    "DataFile",
    "Dataset",
    "DatasetInfo",
    "DownloadError",
    "FileCheck",
    "data_root",
    "dataset_names",
    "download_dataset",
    "get_info",
    "list_datasets",
    "load_dataset",
    "natural_path",
    "register",
    "verify_files",
]
