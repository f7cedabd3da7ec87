"""Tabular loaders: Iris, Wine, Breast Cancer (scikit-learn) and UCI Adult.

Numeric columns are standardised (zero mean, unit variance); Adult's
categorical columns are one-hot encoded against the category lists of
``adult.names``, so train and test have the same columns whatever values a
split happens to contain.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from expressivity.data._common import encode_labels, limit, make_dataset, require_file
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

_SKLEARN_LOADERS = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast-cancer": "load_breast_cancer",
}

# Columns of adult.data and adult.test in file order; None marks a numeric
# column, a tuple the categories listed in adult.names.
ADULT_COLUMNS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("age", None),
    (
        "workclass",
        (
            "Private",
            "Self-emp-not-inc",
            "Self-emp-inc",
            "Federal-gov",
            "Local-gov",
            "State-gov",
            "Without-pay",
            "Never-worked",
        ),
    ),
    ("fnlwgt", None),
    (
        "education",
        (
            "Bachelors",
            "Some-college",
            "11th",
            "HS-grad",
            "Prof-school",
            "Assoc-acdm",
            "Assoc-voc",
            "9th",
            "7th-8th",
            "12th",
            "Masters",
            "1st-4th",
            "10th",
            "Doctorate",
            "5th-6th",
            "Preschool",
        ),
    ),
    ("education-num", None),
    (
        "marital-status",
        (
            "Married-civ-spouse",
            "Divorced",
            "Never-married",
            "Separated",
            "Widowed",
            "Married-spouse-absent",
            "Married-AF-spouse",
        ),
    ),
    (
        "occupation",
        (
            "Tech-support",
            "Craft-repair",
            "Other-service",
            "Sales",
            "Exec-managerial",
            "Prof-specialty",
            "Handlers-cleaners",
            "Machine-op-inspct",
            "Adm-clerical",
            "Farming-fishing",
            "Transport-moving",
            "Priv-house-serv",
            "Protective-serv",
            "Armed-Forces",
        ),
    ),
    (
        "relationship",
        (
            "Wife",
            "Own-child",
            "Husband",
            "Not-in-family",
            "Other-relative",
            "Unmarried",
        ),
    ),
    (
        "race",
        ("White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"),
    ),
    ("sex", ("Female", "Male")),
    ("capital-gain", None),
    ("capital-loss", None),
    ("hours-per-week", None),
    (
        "native-country",
        (
            "United-States",
            "Cambodia",
            "England",
            "Puerto-Rico",
            "Canada",
            "Germany",
            "Outlying-US(Guam-USVI-etc)",
            "India",
            "Japan",
            "Greece",
            "South",
            "China",
            "Cuba",
            "Iran",
            "Honduras",
            "Philippines",
            "Italy",
            "Poland",
            "Jamaica",
            "Vietnam",
            "Mexico",
            "Portugal",
            "Ireland",
            "France",
            "Dominican-Republic",
            "Laos",
            "Ecuador",
            "Taiwan",
            "Haiti",
            "Columbia",
            "Hungary",
            "Guatemala",
            "Nicaragua",
            "Scotland",
            "Thailand",
            "Yugoslavia",
            "El-Salvador",
            "Trinadad&Tobago",
            "Peru",
            "Hong",
            "Holand-Netherlands",
        ),
    ),
)
ADULT_MISSING = "?"


def standardise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return ``(values - mean) / std`` with the column statistics of ``reference``.

    A constant column keeps its centred values (its std is taken as 1).
    """
    mean = reference.mean(axis=0)
    std = np.atleast_1d(reference.std(axis=0))
    std[std == 0] = 1.0
    std = std.reshape(np.shape(mean))
    return (values - mean) / std


def load_sklearn_tabular(
    folder: Path | None, *, info: DatasetInfo, split: str, max_examples: int | None
) -> Dataset:
    """Load Iris, Wine or Breast Cancer from scikit-learn, columns standardised."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, _SKLEARN_LOADERS[info.name])()
    count = limit(len(bunch.target), max_examples)
    features = standardise(bunch.data, bunch.data)
    return make_dataset(
        info.name,
        info.modality,
        features[:count],
        bunch.target[:count],
        [str(name) for name in bunch.target_names],
        {
            "source": f"sklearn.datasets.{_SKLEARN_LOADERS[info.name]}",
            "features": "standardised with the statistics of all examples",
            "columns": [str(name) for name in bunch.feature_names],
        },
    )


def read_adult_rows(path: Path) -> tuple[list[list[str]], list[str]]:
    """Read the records and income labels of ``adult.data`` or ``adult.test``.

    Handles the quirks of the UCI files: ``adult.test`` opens with the line
    ``|1x3 Cross validator`` and ends each label with a period
    (``<=50K.``), fields are separated by a comma and a space, and both files
    end with blank lines.

    Raises
    ------
    ConfigurationError
        If a record does not have 15 fields.
    """
    records, labels = [], []
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream, skipinitialspace=True)
        for number, row in enumerate(reader, start=1):
            if not row or row[0].startswith("|"):
                continue
            if len(row) != len(ADULT_COLUMNS) + 1:
                raise ConfigurationError(
                    f"Adult file {str(path)!r} line {number} has {len(row)} fields, "
                    f"expected {len(ADULT_COLUMNS) + 1}; the file is corrupt"
                )
            fields = [field.strip() for field in row]
            records.append(fields[:-1])
            labels.append(fields[-1].rstrip("."))
    return records, labels


def encode_adult(
    records: list[list[str]], reference: list[list[str]], path: Path
) -> tuple[np.ndarray, list[str], int]:
    """One-hot and standardise Adult records.

    Numeric columns are standardised with the statistics of ``reference``
    (the training records), so a test example is scaled as the training set
    was. A missing categorical value (``?``) gives an all-zero block.

    Returns
    -------
    features : numpy.ndarray
        Shape (n_records, 105): 6 numeric and 99 one-hot columns, in file order.
    column_names : list of str
        ``age``, ``workclass=Private``, ...
    n_missing : int
        Number of records with at least one ``?``.
    """
    blocks, names = [], []
    for column, (name, categories) in enumerate(ADULT_COLUMNS):
        values = [record[column] for record in records]
        if categories is None:
            numbers = _adult_numbers(values, name, path)
            train = _adult_numbers([r[column] for r in reference], name, path)
            blocks.append(standardise(numbers, train)[:, None])
            names.append(name)
            continue
        index = {category: position for position, category in enumerate(categories)}
        block = np.zeros((len(values), len(categories)))
        for row, value in enumerate(values):
            if value == ADULT_MISSING:
                continue
            if value not in index:
                raise ConfigurationError(
                    f"Adult file {str(path)!r} row {row + 1} has {name}={value!r}, "
                    f"which is not one of the {len(categories)} categories of "
                    "adult.names; the file is corrupt"
                )
            block[row, index[value]] = 1.0
        blocks.append(block)
        names.extend(f"{name}={category}" for category in categories)
    n_missing = sum(ADULT_MISSING in record for record in records)
    return np.hstack(blocks), names, n_missing


def _adult_numbers(values: list[str], name: str, path: Path) -> np.ndarray:
    try:
        return np.array([float(value) for value in values])
    except ValueError as error:
        raise ConfigurationError(
            f"Adult file {str(path)!r} has a non-numeric {name}: {error}"
        ) from None


def load_adult(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    drop_missing: bool = False,
) -> Dataset:
    """Load UCI Adult: ``adult.data`` (train) or ``adult.test`` (test).

    Parameters
    ----------
    drop_missing
        Drop records with a missing value (``?``) instead of encoding the
        missing category as an all-zero one-hot block.
    """
    train_path = require_file(folder / "adult.data", "Adult")
    train_records, train_labels = read_adult_rows(train_path)
    if split == "train":
        path, records, labels = train_path, train_records, train_labels
    else:
        path = require_file(folder / "adult.test", "Adult")
        records, labels = read_adult_rows(path)

    if drop_missing:
        kept = [i for i, record in enumerate(records) if ADULT_MISSING not in record]
        records = [records[i] for i in kept]
        labels = [labels[i] for i in kept]
    count = limit(len(records), max_examples)
    features, columns, n_missing = encode_adult(records[:count], train_records, path)
    codes = encode_labels(labels[:count], info.class_names, str(path))
    return make_dataset(
        info.name,
        info.modality,
        features,
        codes,
        info.class_names,
        {
            "files": [str(path)] if split == "train" else [str(path), str(train_path)],
            "features": "numeric columns standardised with adult.data statistics; "
            "categorical columns one-hot over the adult.names categories, "
            "'?' as an all-zero block",
            "columns": columns,
            "records_with_missing": n_missing,
            "drop_missing": drop_missing,
        },
    )
