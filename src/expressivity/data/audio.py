"""Audio loader: the Free Spoken Digit Dataset (FSDD).

Each WAV file ``<digit>_<speaker>_<index>.wav`` (8 kHz mono) becomes frames
of MFCC (20 coefficients) or log-mel (40 bands, dB) features computed by
librosa with a 256-sample window and a 128-sample hop (32 ms and 16 ms at
8 kHz). Clips differ in length, so frames are reduced to one vector by a
stated rule:

``pooling="mean-std"`` (default)
    the mean and the standard deviation of each coefficient over time,
    concatenated: 2 x n_coefficients features.
``pooling="pad"``
    the first ``n_frames`` frames, zero-padded at the end when the clip is
    shorter, flattened frame by frame: n_frames x n_coefficients features.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from expressivity.data._common import limit, make_dataset
from expressivity.data.dataset import Dataset
from expressivity.data.registry import DatasetInfo
from expressivity.errors import ConfigurationError

N_FFT = 256
HOP_LENGTH = 128
N_MFCC = 20
N_MELS = 40
DEFAULT_FRAMES = 32
FEATURE_KINDS = ("mfcc", "log-mel")
POOLING_RULES = ("mean-std", "pad")
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def clip_frames(path: Path, feature: str = "mfcc") -> tuple[np.ndarray, int]:
    """Return the feature frames of one audio file and its sample rate.

    Returns
    -------
    frames : numpy.ndarray
        Shape (n_frames, n_coefficients): 20 MFCC or 40 log-mel values.
    sample_rate : int
        Sample rate of the file, in Hz.
    """
    import librosa
    import soundfile

    if feature not in FEATURE_KINDS:
        raise ConfigurationError(
            f"feature={feature!r} is invalid; use one of {', '.join(FEATURE_KINDS)}"
        )
    try:
        samples, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ConfigurationError(
            f"audio file {str(path)!r} could not be read: {error}; the file may "
            "be truncated or not a WAV file"
        ) from error
    mono = samples.mean(axis=1)
    if mono.shape[0] < N_FFT:
        mono = np.pad(mono, (0, N_FFT - mono.shape[0]))
    if feature == "mfcc":
        frames = librosa.feature.mfcc(
            y=mono,
            sr=sample_rate,
            n_mfcc=N_MFCC,
            n_fft=N_FFT,
            hop_length=HOP_LENGTH,
            n_mels=N_MELS,
        )
    else:
        mel = librosa.feature.melspectrogram(
            y=mono, sr=sample_rate, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS
        )
        frames = librosa.power_to_db(mel, ref=1.0)
    return frames.T.astype(np.float64), int(sample_rate)


def pool_frames(frames: np.ndarray, pooling: str, n_frames: int) -> np.ndarray:
    """Reduce frames of shape (n_frames, n_coefficients) to one vector.

    See the module docstring for the rules.
    """
    if pooling == "mean-std":
        return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])
    if pooling == "pad":
        if not isinstance(n_frames, int) or n_frames < 1:
            raise ConfigurationError(
                f"n_frames={n_frames!r} is invalid; give a positive integer"
            )
        fixed = np.zeros((n_frames, frames.shape[1]))
        kept = frames[:n_frames]
        fixed[: kept.shape[0]] = kept
        return fixed.reshape(-1)
    raise ConfigurationError(
        f"pooling={pooling!r} is invalid; use one of {', '.join(POOLING_RULES)}"
    )


def fsdd_files(folder: Path) -> list[tuple[Path, int, str, int]]:
    """List FSDD recordings as (path, digit, speaker, index).

    The list is ordered by recording index, then speaker, then digit, so that
    its first entries cover every digit and speaker.
    """
    recordings = folder / "recordings"
    if not recordings.is_dir():
        recordings = folder
    entries = []
    for path in recordings.glob("*.wav"):
        match = _FSDD_NAME.match(path.name)
        if match is None:
            raise ConfigurationError(
                f"FSDD file name {path.name!r} does not follow "
                "<digit>_<speaker>_<index>.wav; rename or remove it"
            )
        entries.append((path, int(match[1]), match[2], int(match[3])))
    if not entries:
        raise ConfigurationError(
            f"no WAV files found in {str(recordings)!r}; expected FSDD's "
            "recordings/<digit>_<speaker>_<index>.wav"
        )
    entries.sort(key=lambda entry: (entry[3], entry[2], entry[1]))
    return entries


def load_fsdd(
    folder: Path,
    *,
    info: DatasetInfo,
    split: str,
    max_examples: int | None,
    feature: str = "mfcc",
    pooling: str = "mean-std",
    n_frames: int = DEFAULT_FRAMES,
) -> Dataset:
    """Load FSDD recordings as pooled MFCC or log-mel vectors.

    The digit is the label; the speaker and recording index go to
    ``metadata["speaker"]`` and ``metadata["index"]``.
    """
    entries = fsdd_files(folder)
    entries = entries[: limit(len(entries), max_examples)]
    rows = []
    for path, *_ in entries:
        frames, _ = clip_frames(path, feature)
        rows.append(pool_frames(frames, pooling, n_frames))
    return make_dataset(
        info.name,
        info.modality,
        np.stack(rows),
        np.array([entry[1] for entry in entries]),
        info.class_names,
        {
            "files": [str(entry[0]) for entry in entries],
            "split": split,
            "features": f"{feature}, n_fft {N_FFT}, hop {HOP_LENGTH}",
            "pooling": pooling if pooling != "pad" else f"pad to {n_frames} frames",
            "feature_kind": feature,
            "pooling_rule": pooling,
            "n_frames": n_frames,
        },
        metadata={
            "speaker": [entry[2] for entry in entries],
            "index": [entry[3] for entry in entries],
            "file": [str(entry[0]) for entry in entries],
        },
    )
