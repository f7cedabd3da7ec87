"""Registry of datasets: what each set is, where its files live, how to load it.

Each entry records the files of the canonical layout with their SHA-256 and,
where the set can be downloaded, their canonical URL. The entries themselves
are in :mod:`expressivity.data.catalog`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from expressivity.errors import ConfigurationError

MODALITIES = (
    "image",
    "text",
    "audio",
    "tabular",
    "graph",
    "timeseries",
    "video",
    "multimodal",
    "synthetic",
)


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset, relative to the dataset's folder.

    Attributes
    ----------
    path
        Path relative to the dataset folder, with ``/`` separators.
    sha256
        Hex SHA-256 of the file, or None where no checksum is recorded.
    url
        Canonical download URL, or None where the file cannot be downloaded.
    gunzipped
        When True, ``sha256`` is the checksum of the gzip-decompressed content,
        so a re-compressed copy of the same data also verifies.
    """

    path: str
    sha256: str | None
    url: str | None = None
    gunzipped: bool = False


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry of one dataset.

    Attributes
    ----------
    name
        Registry name, lowercase and hyphenated.
    modality
        One of :data:`MODALITIES`.
    description
        One line on what the examples are and how they become vectors.
    loader
        ``module:function`` of the loader. The loader takes the dataset folder
        (None for bundled and generated sets) and keyword options.
    splits
        Split names; the first is the default.
    n_examples
        Number of examples per split in the canonical set.
    n_features
        Feature dimension after the default pipeline.
    class_names
        Class names in label order; empty for unlabelled sets.
    licence
        Licence or terms of use of the data.
    source
        Homepage or citation of the canonical set.
    folder
        Folder of the set below the data root, or None for sets bundled with a
        Python package or generated.
    alternate_folders
        Other folders below the data root searched for a local copy, after
        ``folder``. Downloads always go to ``folder``.
    files
        Files with recorded checksums, beyond those of ``manifest``.
    manifest
        Name of a ``sha256sum``-style checksum list shipped in
        ``expressivity/data/checksums``, for sets with many files.
    manifest_base_url
        Prefix that turns a manifest path into its download URL, or None when
        the manifest's files cannot be downloaded one by one.
    layouts
        Alternative sets of paths (glob patterns allowed); a local copy is
        present when every pattern of one layout matches a file or folder.
    """

    name: str
    modality: str
    description: str
    loader: str
    splits: tuple[str, ...]
    n_examples: dict[str, int]
    n_features: int
    class_names: tuple[str, ...]
    licence: str
    source: str
    folder: str | None = None
    alternate_folders: tuple[str, ...] = ()
    files: tuple[DataFile, ...] = ()
    manifest: str | None = None
    manifest_base_url: str | None = None
    layouts: tuple[tuple[str, ...], ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def bundled(self) -> bool:
        """True for sets that ship with a Python package or are generated."""
        return self.folder is None

    def all_files(self) -> tuple[DataFile, ...]:
        """Return the recorded files: ``files`` and then the manifest's entries."""
        if self.manifest is None:
            return self.files
        return self.files + read_manifest(self.manifest, self.manifest_base_url)

    def load_function(self) -> Callable[..., Any]:
        """Import and return the loader function."""
        module_name, function_name = self.loader.split(":")
        return getattr(importlib.import_module(module_name), function_name)

    def locate(self, root: Path) -> Path | None:
        """Return the first folder below ``root`` with a complete layout, or None.

        ``folder`` is searched first, then ``alternate_folders``. Bundled and
        generated sets have no folder and always return None.
        """
        if self.folder is None:
            return None
        for relative in (self.folder, *self.alternate_folders):
            folder = root / relative
            if folder.is_dir() and any(
                all(_matches(folder, pattern) for pattern in layout)
                for layout in self.layouts
            ):
                return folder
        return None


def _matches(folder: Path, pattern: str) -> bool:
    if any(char in pattern for char in "*?["):
        return next(folder.glob(pattern), None) is not None
    return (folder / pattern).exists()


def read_manifest(name: str, base_url: str | None = None) -> tuple[DataFile, ...]:
    """Read the checksum list ``name`` shipped with the package.

    Each line is ``<sha256>  <path>``, as ``sha256sum`` writes it. With
    ``base_url`` each file's URL is ``base_url + path``.
    """
    text = resources.files("expressivity.data").joinpath("checksums", name)
    entries = []
    for line in text.read_text().splitlines():
        if not line.strip():
            continue
        digest, path = line.split(maxsplit=1)
        path = path.strip()
        url = None if base_url is None else base_url + path
        entries.append(DataFile(path=path, sha256=digest, url=url))
    return tuple(entries)


_REGISTRY: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add ``info`` to the registry; a name may be registered only once."""
    if info.modality not in MODALITIES:
        raise ConfigurationError(
            f"dataset {info.name!r} has modality {info.modality!r}; use one of "
            + ", ".join(MODALITIES)
        )
    if info.name in _REGISTRY:
        raise ConfigurationError(
            f"dataset {info.name!r} is already registered; choose another name"
        )
    _REGISTRY[info.name] = info
    return info


def _ensure_catalog() -> None:
    # The catalog registers every built-in set when imported.
    importlib.import_module("expressivity.data.catalog")


def dataset_names() -> list[str]:
    """Return the registered names in registration order."""
    _ensure_catalog()
    return list(_REGISTRY)


def get_info(name: str) -> DatasetInfo:
    """Return the registry entry of ``name``.

    Raises
    ------
    ConfigurationError
        If no dataset of that name is registered; the message lists the names.
    """
    _ensure_catalog()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise ConfigurationError(
            f"dataset {name!r} not found; known datasets: {known}"
        ) from None


def list_datasets(modality: str | None = None) -> list[DatasetInfo]:
    """Return the registry entries, optionally only those of one modality."""
    _ensure_catalog()
    if modality is not None and modality not in MODALITIES:
        raise ConfigurationError(
            f"modality {modality!r} not found; use one of " + ", ".join(MODALITIES)
        )
    return [
        info
        for info in _REGISTRY.values()
        if modality is None or info.modality == modality
    ]
