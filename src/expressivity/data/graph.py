"""Graph loaders: Cora (Planetoid files) and Zachary's karate club.

Nodes are the examples. Cora's node features are its 1433-word binary bag of
words; with ``propagation_steps=k`` they become ``A_hat^k X`` with the
renormalised adjacency ``A_hat = D^-1/2 (A + I) D^-1/2`` of Kipf and Welling,
"Semi-Supervised Classification with Graph Convolutional Networks", ICLR
2017, eq. (2), as in the simplified graph convolution of Wu et al., ICML 2019.

The Planetoid ``ind.cora.*`` files are Python 2 pickles of NumPy arrays, SciPy
CSR matrices and a ``defaultdict`` of adjacency lists. They are read only by
:class:`RestrictedUnpickler`, which resolves those few classes and rejects
every other global, so a crafted file cannot run code.
"""

from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from expressivity.data._common import limit, make_dataset, require_file
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

_PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    import scipy.sparse

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import _reconstruct

    return {
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("scipy.sparse.csr", "csr_matrix"): scipy.sparse.csr_matrix,
        ("scipy.sparse._csr", "csr_matrix"): scipy.sparse.csr_matrix,
        ("collections", "defaultdict"): collections.defaultdict,
        ("__builtin__", "list"): list,
        ("builtins", "list"): list,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the classes the Planetoid files contain.

    Allowed: ``numpy.dtype``, ``numpy.ndarray``, NumPy's array reconstructor,
    ``scipy.sparse.csr_matrix``, ``collections.defaultdict`` and ``list``.
    Any other global (``os.system``, ``builtins.eval``, ...) raises
    :class:`pickle.UnpicklingError` before it is imported or called.
    """

    def __init__(self, stream: io.BufferedIOBase) -> None:
        # Planetoid pickles were written by Python 2; latin1 keeps the raw
        # bytes of NumPy buffers intact.
        super().__init__(stream, encoding="latin1")
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a dataset pickle"
            ) from None


def restricted_load(path: Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    Raises
    ------
    ConfigurationError
        If the pickle references a disallowed global or is malformed; the
        message names the file.
    """
    with open(path, "rb") as stream:
        try:
            return RestrictedUnpickler(stream).load()
        except pickle.UnpicklingError as error:
            raise ConfigurationError(
                f"pickle {str(path)!r} was rejected: {error}; only NumPy arrays, "
                "SciPy CSR matrices and lists are accepted, so the file is not a "
                "Planetoid file or has been tampered with"
            ) from None
        except (EOFError, ValueError, TypeError, AttributeError) as error:
            raise ConfigurationError(
                f"pickle {str(path)!r} could not be read: {error}; the file is "
                "truncated or corrupt, fetch it again"
            ) from None


def normalised_adjacency(adjacency: np.ndarray) -> np.ndarray:
    """Return ``D^-1/2 (A + I) D^-1/2`` of a symmetric 0/1 adjacency matrix."""
    with_loops = adjacency + np.eye(adjacency.shape[0])
    inverse_root = 1.0 / np.sqrt(with_loops.sum(axis=1))
    return inverse_root[:, None] * with_loops * inverse_root[None, :]


def propagate(features: np.ndarray, adjacency: np.ndarray, steps: int) -> np.ndarray:
    """Apply ``steps`` rounds of ``X <- A_hat X`` (see the module docstring)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigurationError(
            f"propagation_steps={steps!r} is invalid; give an integer >= 0"
        )
    operator = normalised_adjacency(adjacency)
    for _ in range(steps):
        features = operator @ features
    return features


def read_planetoid(folder: Path, name: str = "cora") -> dict[str, Any]:
    """Assemble a Planetoid citation graph as Kipf's ``load_data`` does.

    Test nodes are stored out of order in ``tx``/``ty``; ``ind.<name>.test.index``
    gives their node ids, so rows are placed back at those ids.

    Returns
    -------
    dict
        ``features`` (n_nodes, n_words), ``labels`` (n_nodes,), ``adjacency``
        (n_nodes, n_nodes) symmetric 0/1 without self-loops, ``split`` (one of
        ``train``, ``val``, ``test`` or ``""`` per node), ``files``.
    """
    data_dir = folder / "data" if (folder / "data").is_dir() else folder
    parts = {}
    files = []
    for part in _PLANETOID_PARTS:
        path = require_file(data_dir / f"ind.{name}.{part}", "Planetoid")
        parts[part] = restricted_load(path)
        files.append(str(path))
    index_path = require_file(data_dir / f"ind.{name}.test.index", "Planetoid")
    files.append(str(index_path))
    test_index = np.loadtxt(index_path, dtype=np.int64, ndmin=1)

    all_x = np.vstack([_dense(parts["allx"]), _dense(parts["tx"])])
    all_y = np.vstack([np.asarray(parts["ally"]), np.asarray(parts["ty"])])
    order = np.sort(test_index)
    all_x[test_index] = all_x[order]
    all_y[test_index] = all_y[order]
    n_nodes = all_x.shape[0]

    adjacency = np.zeros((n_nodes, n_nodes))
    for node, neighbours in parts["graph"].items():
        for neighbour in neighbours:
            if node != neighbour:
                adjacency[node, neighbour] = adjacency[neighbour, node] = 1.0

    split = np.full(n_nodes, "", dtype=object)
    n_train = np.asarray(parts["y"]).shape[0]
    split[:n_train] = "train"
    split[n_train : n_train + 500] = "val"
    split[test_index] = "test"
    return {
        "features": all_x,
        "labels": all_y.argmax(axis=1),
        "adjacency": adjacency,
        "split": list(split),
        "files": files,
    }


def _dense(matrix: Any) -> np.ndarray:
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def load_cora(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    propagation_steps: int = 0,
) -> Dataset:
    """Load Cora's 2708 nodes from the Planetoid files.

    Features are the binary bag of words, propagated ``propagation_steps``
    times over the whole graph before any ``max_examples`` subset is taken.
    The Planetoid split of each node (``train``: 140, ``val``: 500,
    ``test``: 1000, else ``""``) is kept in ``metadata["planetoid_split"]``.
    """
    graph = read_planetoid(folder, "cora")
    features = propagate(graph["features"], graph["adjacency"], propagation_steps)
    count = limit(features.shape[0], max_examples)
    return make_dataset(
        info.name,
        info.modality,
        features[:count],
        graph["labels"][:count],
        info.class_names,
        {
            "files": graph["files"],
            "features": "binary bag of words"
            + (
                f", propagated {propagation_steps} times by D^-1/2 (A + I) D^-1/2"
                if propagation_steps
                else ""
            ),
            "n_edges": int(graph["adjacency"].sum() // 2),
        },
        metadata={"planetoid_split": graph["split"][:count]},
    )


def load_karate(
    folder: Path | None,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    propagation_steps: int = 0,
) -> Dataset:
    """Load Zachary's karate club from networkx: adjacency rows as features.

    The label is the club each member joined after the split (``Mr. Hi`` or
    ``Officer``, networkx's ``club`` node attribute).
    """
    import networkx

    graph = networkx.karate_club_graph()
    nodes = sorted(graph.nodes)
    adjacency = networkx.to_numpy_array(graph, nodelist=nodes, weight=None)
    clubs = [graph.nodes[node]["club"] for node in nodes]
    labels = np.array([info.class_names.index(club) for club in clubs])
    features = propagate(adjacency, adjacency, propagation_steps)
    count = limit(len(nodes), max_examples)
    return make_dataset(
        info.name,
        info.modality,
        features[:count],
        labels[:count],
        info.class_names,
        {
            "source": f"networkx.karate_club_graph (networkx {networkx.__version__})",
            "features": "adjacency rows"
            + (f", propagated {propagation_steps} times" if propagation_steps else ""),
            "n_edges": graph.number_of_edges(),
        },
    )
