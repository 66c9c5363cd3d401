"""Reading clips: any WAV soundfile reads → int16 mono at the target rate, fitted to a fixed length.

Integer PCM is read as int16 (16-bit files sample for sample). Float files (32/64-bit) are read
as float, scaled by 32768, rounded and clipped to int16; a NaN or infinity makes the clip
unreadable. read_clip_counted also says how many samples lay beyond full scale (|x| > 1.0).
"""
from __future__ import annotations

import struct
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf


class UnreadableClip(Exception):
    """One clip that cannot be used; the data stage skips it (or stops, with data.strict=true)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _wav_truncation(path: Path) -> str | None:
    """Return why a RIFF/WAVE file is cut short, or None. libsndfile reads such files silently."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None                      # not plain RIFF: leave it to libsndfile
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if available < chunk_size:
                    return (f"truncated: header declares {chunk_size} bytes of audio, "
                            f"file holds {available}")
                return None
            offset += 8 + chunk_size + (chunk_size & 1)
    return None


FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


def _samples(path: Path) -> tuple[np.ndarray, int]:
    """All samples [frames, channels] and the rate: int16 for integer PCM (libsndfile scales any
    bit depth to 16), float64 (full scale ±1.0) for float files, which libsndfile would
    otherwise truncate towards 0 when asked for int16."""
    if path.stat().st_size == 0:
        raise UnreadableClip(path, "empty file (0 bytes)")
    try:
        truncated = _wav_truncation(path)
        if truncated:
            raise UnreadableClip(path, truncated)
        is_float = sf.info(path).subtype in FLOAT_SUBTYPES
        data, rate = sf.read(path, dtype="float64" if is_float else "int16", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, struct.error) as exc:
        raise UnreadableClip(path, f"not a readable audio file ({exc})") from None
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise UnreadableClip(path, "no audio samples")
    if is_float and not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise UnreadableClip(path, f"{bad} non-finite sample(s) (NaN or infinity) in a float file")
    return data, rate


def read_clip(path: str | Path, *, sample_rate: int, n_samples: int) -> np.ndarray:
    """Read one clip as int16 [n_samples]: channels averaged, resampled, padded or centre-cropped.

    Raises UnreadableClip for empty, corrupt, truncated, non-finite or unreadable files.
    """
    return read_clip_counted(path, sample_rate=sample_rate, n_samples=n_samples)[0]


def read_clip_counted(path: str | Path, *, sample_rate: int,
                      n_samples: int) -> tuple[np.ndarray, int]:
    """read_clip, and how many samples lay beyond full scale (|x| > 1.0) and were clipped."""
    path = Path(path)
    try:
        data, rate = _samples(path)
    except OSError as exc:                      # e.g. no read permission
        raise UnreadableClip(path, f"cannot read it ({exc.strerror or exc})") from None
    if rate < 4000:
        raise UnreadableClip(path, f"sample rate {rate} Hz is too low to resample to "
                                   f"{sample_rate} Hz")
    if data.dtype == np.float64:
        mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        if rate != sample_rate:
            mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate,
                                    res_type="soxr_hq")
        beyond = int(np.count_nonzero(np.abs(mono) > 1.0))
        clip = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
        return fit_length(clip, n_samples), beyond
    beyond = 0
    mono = data.astype(np.int32).mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        resampled = librosa.resample(mono.astype(np.float32) / 32768.0, orig_sr=rate,
                                     target_sr=sample_rate, res_type="soxr_hq")
        beyond = int(np.count_nonzero(np.abs(resampled) > 1.0))
        mono = np.round(resampled * 32768.0)
    clip = np.clip(np.round(mono), -32768, 32767).astype(np.int16)
    return fit_length(clip, n_samples), beyond


def fit_length(clip: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop around the centre, or zero-pad around it (the odd sample at the end).

    Centred, not padded at the end as Speech Commands' own loader does: a 1 s clip in a 1.5 s
    window then has its word in the middle with context on both sides, as a stream shows it,
    and as the synthetic clips (word anywhere in the middle second) teach it.
    """
    if len(clip) >= n_samples:
        start = (len(clip) - n_samples) // 2
        return clip[start:start + n_samples]
    before = (n_samples - len(clip)) // 2
    return np.pad(clip, (before, n_samples - len(clip) - before))


def read_long(path: str | Path, *, sample_rate: int) -> np.ndarray:
    """Read a long recording (background noise) whole, as int16 mono at `sample_rate`."""
    path = Path(path)
    try:
        info = sf.info(path)
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as exc:
        raise UnreadableClip(path, f"not a readable audio file ({exc})") from None
    n_out = int(round(info.frames * sample_rate / info.samplerate)) if info.samplerate else 0
    return read_clip(path, sample_rate=sample_rate, n_samples=n_out)
