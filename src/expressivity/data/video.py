"""Video loader: the frames of one clip as examples.

Frames are decoded and resized by FFmpeg (through ``imageio-ffmpeg``, the
FFmpeg backend of imageio) with area averaging to ``size x size`` RGB, then
flattened channel-major like CIFAR-10 (all red, then green, then blue) and
scaled to [0, 1]. Consecutive frames are consecutive examples, so the
``frames`` path kind traces the clip through input space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from expressivity.data._common import limit, make_dataset, require_file
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

DEFAULT_FRAME_SIZE = 32


def read_frames(
    path: Path, size: int = DEFAULT_FRAME_SIZE, max_frames: int | None = None
) -> tuple[np.ndarray, float | None]:
    """Decode the frames of ``path`` at ``size x size`` RGB.

    Returns
    -------
    frames : numpy.ndarray of uint8
        Shape (n_frames, size, size, 3).
    fps : float or None
        Frame rate from the container, when it states one.

    Raises
    ------
    ConfigurationError
        If FFmpeg cannot decode the file or it has no frames.
    """
    import imageio_ffmpeg

    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigurationError(f"size={size!r} is invalid; give a positive integer")
    frame_bytes = size * size * 3
    reader = imageio_ffmpeg.read_frames(
        str(path), output_params=["-vf", f"scale={size}:{size}:flags=area"]
    )
    frames = []
    try:
        meta = next(reader)
        for raw in reader:
            if len(raw) != frame_bytes:
                break
            frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(size, size, 3))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except (OSError, RuntimeError, StopIteration) as error:
        raise ConfigurationError(
            f"video {str(path)!r} could not be decoded: {error}; the file is "
            "truncated or not a video FFmpeg can read"
        ) from None
    finally:
        reader.close()
    if not frames:
        raise ConfigurationError(f"video {str(path)!r} has no frames")
    return np.stack(frames), meta.get("fps")


def load_video_clip(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    clip: str,
    size: int = DEFAULT_FRAME_SIZE,
) -> Dataset:
    """Load the frames of ``folder / clip`` as unlabelled examples.

    ``metadata["frame"]`` holds each frame's index and ``provenance["fps"]``
    the frame rate.
    """
    path = require_file(folder / clip, "video")
    frames, fps = read_frames(path, size, max_examples)
    count = limit(frames.shape[0], max_examples)
    features = frames[:count].transpose(0, 3, 1, 2).reshape(count, -1) / 255.0
    return make_dataset(
        info.name,
        info.modality,
        features,
        None,
        [],
        {
            "files": [str(path)],
            "features": f"frames resized to {size}x{size} RGB by FFmpeg (area), "
            "channel-major, x / 255",
            "fps": fps,
        },
        metadata={"frame": list(range(count))},
    )
