"""Video loader: the frames of one clip as examples.

Frames are decoded and resized by FFmpeg (the binary of ``imageio-ffmpeg``,
the FFmpeg backend of imageio) with area averaging to ``size x size`` RGB, then
flattened channel-major like CIFAR-10 (all red, then green, then blue) and
scaled to [0, 1]. Consecutive frames are consecutive examples, so the
``frames`` path kind traces the clip through input space.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from expressivity.data._common import limit, make_dataset, require_file
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

DEFAULT_FRAME_SIZE = 32
_FPS = re.compile(r"Video:.*?(\d+(?:\.\d+)?) fps")


def read_frames(
    path: Path, size: int = DEFAULT_FRAME_SIZE, max_frames: int | None = None
) -> tuple[np.ndarray, float | None]:
    """Decode the frames of ``path`` at ``size x size`` RGB with FFmpeg.

    FFmpeg (the binary that ``imageio-ffmpeg`` ships) scales each frame with
    area averaging and writes raw RGB bytes to a pipe.

    Returns
    -------
    frames : numpy.ndarray of uint8
        Shape (n_frames, size, size, 3).
    fps : float or None
        Frame rate of the video stream, when FFmpeg reports one.

    Raises
    ------
    ConfigurationError
        If FFmpeg cannot decode the file or it has no frames.
    """
    import imageio_ffmpeg

    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigurationError(f"size={size!r} is invalid; give a positive integer")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin"]
    command += ["-i", str(path), "-vf", f"scale={size}:{size}:flags=area"]
    if max_frames is not None:
        command += ["-frames:v", str(max_frames)]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    completed = subprocess.run(command, capture_output=True, check=False)
    messages = completed.stderr.decode("utf-8", errors="replace")

    frame_bytes = size * size * 3
    n_frames = len(completed.stdout) // frame_bytes
    if completed.returncode != 0 or n_frames == 0:
        last_line = messages.strip().splitlines()[-1:] or ["no frames decoded"]
        raise ConfigurationError(
            f"video {str(path)!r} could not be decoded: {last_line[0]}; the file "
            "is truncated or not a video FFmpeg can read"
        )
    frames = np.frombuffer(completed.stdout[: n_frames * frame_bytes], np.uint8)
    match = _FPS.search(messages)
    return frames.reshape(n_frames, size, size, 3), (
        float(match.group(1)) if match else None
    )


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

    ``metadata["frame"]`` contains each frame's index and ``provenance["fps"]``
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
