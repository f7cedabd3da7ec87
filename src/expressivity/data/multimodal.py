"""Image + text loader: COCO captions paired with their images.

Each caption of ``annotations/captions_<split>2017.json`` is one example: the
pixels of its image, resized with Pillow's box filter to ``image_size x
image_size`` RGB, channel-major and scaled to [0, 1], followed by the hashed
TF-IDF vector of the caption (see :mod:`expressivity.data.text`). Examples
follow the order of the annotation list.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from expressivity.data._common import limit, make_dataset, require_file
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.data.text import hashed_tfidf
from expressivity.errors import ConfigurationError

DEFAULT_IMAGE_SIZE = 16
DEFAULT_CAPTION_FEATURES = 256


def image_pixels(path: Path, size: int) -> np.ndarray:
    """Return the channel-major RGB pixels of ``path`` resized to ``size x size``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(require_file(path, "COCO image")) as image:
            resized = image.convert("RGB").resize((size, size), Image.Resampling.BOX)
    except (UnidentifiedImageError, OSError) as error:
        raise ConfigurationError(
            f"image {str(path)!r} could not be read: {error}; fetch it again"
        ) from None
    return np.asarray(resized).transpose(2, 0, 1).reshape(-1)


def load_coco_captions(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    image_size: int = DEFAULT_IMAGE_SIZE,
    n_features: int = DEFAULT_CAPTION_FEATURES,
) -> Dataset:
    """Load COCO caption-image pairs: image pixels then caption TF-IDF.

    ``metadata`` keeps each example's ``image_id`` and ``caption``.

    Raises
    ------
    ConfigurationError
        If the JSON lacks ``images`` or ``annotations``, or a caption refers to
        an image that the JSON or the image folder lacks.
    """
    path = require_file(
        folder / "annotations" / f"captions_{split}2017.json", "COCO captions"
    )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        images = {image["id"]: image["file_name"] for image in document["images"]}
        annotations = document["annotations"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ConfigurationError(
            f"COCO captions file {str(path)!r} is not valid COCO JSON: {error}"
        ) from None
    annotations = annotations[: limit(len(annotations), max_examples)]

    pixels: dict[int, np.ndarray] = {}
    files = [str(path)]
    rows = []
    for annotation in annotations:
        image_id = annotation["image_id"]
        if image_id not in images:
            raise ConfigurationError(
                f"caption {annotation['id']} in {str(path)!r} refers to image "
                f"{image_id}, which the file does not list"
            )
        if image_id not in pixels:
            image_path = folder / f"{split}2017" / images[image_id]
            pixels[image_id] = image_pixels(image_path, image_size) / 255.0
            files.append(str(image_path))
        rows.append(pixels[image_id])
    captions = [annotation["caption"] for annotation in annotations]
    features = np.hstack([np.stack(rows), hashed_tfidf(captions, n_features)])
    return make_dataset(
        info.name,
        info.modality,
        features,
        None,
        [],
        {
            "files": files,
            "features": f"{image_size}x{image_size} RGB pixels (box filter, "
            f"channel-major, x / 255) + caption hashed TF-IDF ({n_features})",
            "n_images": len(pixels),
        },
        metadata={
            "image_id": [annotation["image_id"] for annotation in annotations],
            "caption": captions,
        },
    )
