"""Text loaders: SST-2, AG News, IMDb, Penn Treebank and WikiText-2.

Every text becomes a hashed TF-IDF vector: scikit-learn's
``HashingVectorizer`` (unigrams, no alternating signs, no normalisation)
counts tokens into ``n_features`` buckets, then ``TfidfTransformer`` applies
smooth inverse document frequency fitted on the loaded examples and scales
each row to unit Euclidean norm. Hashing keeps the dimension fixed whatever
the vocabulary.

Penn Treebank and WikiText-2 have no class labels, so they are loaded as
next-word data: the token stream of the split (each line ended by ``<eos>``)
is cut into non-overlapping windows of ``context`` tokens, the window's text
is the example, and the label is the vocabulary index of the token that
follows the window. The vocabulary is that of the loaded file, ordered by
decreasing frequency and then alphabetically.
"""

from __future__ import annotations

import csv
import re
import tarfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from expressivity.data._common import (
    encode_labels,
    limit,
    make_dataset,
    require_file,
)
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

DEFAULT_TEXT_FEATURES = 1024
DEFAULT_CONTEXT = 16
_IMDB_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt$")


def hashed_tfidf(texts: Sequence[str], n_features: int) -> np.ndarray:
    """Return the hashed TF-IDF matrix of ``texts``, of shape (n_texts, n_features)."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    if not isinstance(n_features, int) or n_features < 1:
        raise ConfigurationError(
            f"n_features={n_features!r} is invalid; give a positive integer "
            "number of hash buckets"
        )
    counts = HashingVectorizer(
        n_features=n_features, alternate_sign=False, norm=None
    ).transform(texts)
    return TfidfTransformer().fit_transform(counts).toarray()


def _text_provenance(files: object, split: str, n_features: int) -> dict:
    return {
        "files": files,
        "split": split,
        "features": f"HashingVectorizer({n_features}) + TfidfTransformer, l2 rows",
    }


def load_sst2(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    n_features: int = DEFAULT_TEXT_FEATURES,
) -> Dataset:
    """Load GLUE SST-2 from ``train.tsv`` or ``dev.tsv`` (sentence, label)."""
    path = require_file(folder / f"{split}.tsv", "SST-2")
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != ["sentence", "label"]:
            raise ConfigurationError(
                f"SST-2 file {str(path)!r} has header {header}, expected "
                "['sentence', 'label']; the GLUE test.tsv has no labels"
            )
        rows = [row for row in reader if row]
    rows = rows[: limit(len(rows), max_examples)]
    texts = [row[0] for row in rows]
    labels = encode_labels([row[1] for row in rows], ("0", "1"), str(path))
    return make_dataset(
        info.name,
        info.modality,
        hashed_tfidf(texts, n_features),
        labels,
        info.class_names,
        _text_provenance([str(path)], split, n_features),
    )


def load_ag_news(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    n_features: int = DEFAULT_TEXT_FEATURES,
) -> Dataset:
    """Load AG News from ``train.csv`` or ``test.csv``.

    Each row is (class index 1-4, title, description). The text is the title
    and description joined by a space; the label is the class index minus 1.
    """
    path = require_file(folder / f"{split}.csv", "AG News")
    with open(path, newline="", encoding="utf-8") as stream:
        rows = [row for row in csv.reader(stream) if row]
    rows = rows[: limit(len(rows), max_examples)]
    for number, row in enumerate(rows, start=1):
        if len(row) != 3:
            raise ConfigurationError(
                f"AG News file {str(path)!r} row {number} has {len(row)} fields, "
                "expected 3 (class, title, description)"
            )
    labels = encode_labels([row[0] for row in rows], ("1", "2", "3", "4"), str(path))
    texts = [f"{row[1]} {row[2]}".replace("\\", " ") for row in rows]
    return make_dataset(
        info.name,
        info.modality,
        hashed_tfidf(texts, n_features),
        labels,
        info.class_names,
        _text_provenance([str(path)], split, n_features),
    )


def load_imdb(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    n_features: int = DEFAULT_TEXT_FEATURES,
) -> Dataset:
    """Load IMDb reviews from the ``aclImdb`` tree or its tar.gz.

    The archive is read in place, member by member, without extracting it.
    Reviews are ordered by label (``neg`` then ``pos``) and then by review id,
    so that a ``max_examples`` subset takes its first ``max_examples // 2``
    from each class. Each review's star rating is kept in
    ``metadata["rating"]``.
    """
    reviews, source = _read_imdb(folder, split)
    by_class = {
        label: sorted(item for item in reviews if item[0] == label) for label in (0, 1)
    }
    if max_examples is not None:
        half = max(1, max_examples // 2)
        chosen = by_class[0][:half] + by_class[1][: max_examples - half]
    else:
        chosen = by_class[0] + by_class[1]
    if not chosen:
        raise ConfigurationError(
            f"no IMDb reviews of split {split!r} found in {str(folder)!r}; "
            "expected aclImdb/<split>/{neg,pos}/*.txt or aclImdb_v1*.tar.gz"
        )
    return make_dataset(
        info.name,
        info.modality,
        hashed_tfidf([item[3] for item in chosen], n_features),
        np.array([item[0] for item in chosen]),
        info.class_names,
        _text_provenance([str(source)], split, n_features),
        metadata={
            "review_id": [item[1] for item in chosen],
            "rating": [item[2] for item in chosen],
        },
    )


def _read_imdb(
    folder: Path, split: str
) -> tuple[list[tuple[int, int, int, str]], Path]:
    # Returns the reviews and the folder or archive they were read from.
    tree = folder / "aclImdb"
    if (tree / split).is_dir():
        items = (
            (str(path.relative_to(folder)), path.read_bytes)
            for path in (tree / split).glob("*/*.txt")
        )
        return list(_parse_imdb_members(items, split)), tree / split
    archives = sorted(folder.glob("aclImdb_v1*.tar.gz"))
    if not archives:
        raise ConfigurationError(
            f"IMDb not found in {str(folder)!r}; expected an aclImdb/ folder or "
            "aclImdb_v1.tar.gz"
        )
    with tarfile.open(archives[0], "r:gz") as tar:
        members = (
            (member.name, _member_reader(tar, member))
            for member in tar
            if member.isfile()
        )
        return list(_parse_imdb_members(members, split)), archives[0]


def _member_reader(tar: tarfile.TarFile, member: tarfile.TarInfo):
    return lambda: tar.extractfile(member).read()


def _parse_imdb_members(
    members: Iterator[tuple[str, object]], split: str
) -> Iterator[tuple[int, int, int, str]]:
    for name, read in members:
        match = _IMDB_MEMBER.search(name)
        if match is None or match.group(1) != split:
            continue
        label = 0 if match.group(2) == "neg" else 1
        text = read().decode("utf-8").replace("<br />", " ")
        yield label, int(match.group(3)), int(match.group(4)), text


def load_ptb(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    n_features: int = DEFAULT_TEXT_FEATURES,
    context: int = DEFAULT_CONTEXT,
) -> Dataset:
    """Load Penn Treebank ``ptb.<split>.txt`` as next-word windows."""
    path = require_file(folder / f"ptb.{split}.txt", "Penn Treebank")
    return _next_word_dataset(path, info, split, max_examples, n_features, context)


def load_wikitext2(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    n_features: int = DEFAULT_TEXT_FEATURES,
    context: int = DEFAULT_CONTEXT,
) -> Dataset:
    """Load WikiText-2 ``<split>.txt`` (or ``wiki.<split>.tokens``) as windows."""
    path = folder / f"{split}.txt"
    if not path.is_file():
        path = require_file(folder / f"wiki.{split}.tokens", "WikiText-2")
    return _next_word_dataset(path, info, split, max_examples, n_features, context)


def read_tokens(path: Path) -> list[str]:
    """Return the tokens of a plain-text corpus, ``<eos>`` after each line.

    Blank lines are skipped, as in the PyTorch word language model example.
    """
    tokens: list[str] = []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            words = line.split()
            if words:
                tokens.extend(words)
                tokens.append("<eos>")
    return tokens


def _next_word_dataset(
    path: Path,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    n_features: int,
    context: int,
) -> Dataset:
    if not isinstance(context, int) or context < 1:
        raise ConfigurationError(
            f"context={context!r} is invalid; give a positive number of tokens"
        )
    tokens = read_tokens(path)
    counts = Counter(tokens)
    vocabulary = sorted(counts, key=lambda token: (-counts[token], token))
    index = {token: position for position, token in enumerate(vocabulary)}

    n_windows = (len(tokens) - 1) // context
    n_windows = limit(n_windows, max_examples)
    if n_windows < 1:
        raise ConfigurationError(
            f"{str(path)!r} has {len(tokens)} tokens, too few for one window of "
            f"{context} tokens and a next token; lower context"
        )
    starts = range(0, n_windows * context, context)
    texts = [" ".join(tokens[start : start + context]) for start in starts]
    labels = np.array([index[tokens[start + context]] for start in starts])
    provenance = _text_provenance([str(path)], split, n_features)
    provenance["task"] = f"next word after {context} tokens"
    # The hashing tokenizer drops the angle brackets of <unk> and <eos>,
    # which leaves the words unk and eos as features.
    return make_dataset(
        info.name,
        info.modality,
        hashed_tfidf(texts, n_features),
        labels,
        vocabulary,
        provenance,
        metadata={"window_start": list(starts)},
    )
