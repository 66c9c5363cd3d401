"""Stage `features`: int8 MFCCs of every clip from the golden fixed-point front end.

Reads:  data/{split}.npz, data/labels.json
Writes: features/{split}.npz              int8 features [N, frames, n_out] and labels
        features/quant.json               int8 scale and zero point: the network's input quantisation
        features/kws_mfcc_tables.{c,h}    tables for firmware/src/kws_mfcc.c
        features/mfcc_compare.png         one clip: float reference, fixed point, difference
and checks the C front end against the golden model on every frame, measures fidelity against
the float reference (and CMSIS-DSP's arm_mfcc_q15 when `cmsisdsp` is installed) and speed against
librosa.

The float reference (librosa-based) differs from `librosa.feature.mfcc` defaults, on purpose, to
match the device front end:
  * frames start at sample 0 and are not centred or padded (librosa: center=True);
  * the 480-sample window is zero-padded at the end to the 512-point FFT (librosa centres it);
  * power spectrum |X|^2 (librosa's default power=2.0 too) of the signal as int16 / 32768;
  * mel filters with norm=None, peak 1 (librosa: norm='slaney', area-normalised);
  * natural log of max(mel, log_floor) (librosa: 10*log10 with amin=1e-10 and top_db=80);
  * orthonormal DCT-II, first n_coeffs (the same as librosa's dct_type=2, norm='ortho').
"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from . import data as data_stage
from .cbuild import build_mfcc_tool, run_mfcc_tool
from .errors import KwsError
from .io import atomic_path, read_json, save_figure, save_npz, write_json
from .mfcc_fixed import dequantize, frame_clips, mfcc_clips
from .mfcc_tables import MfccTables, make_tables, write_c_tables
from .signals import adversarial_signals
from .speech_commands import SPLITS

log = logging.getLogger(__name__)
CONFIG_KEYS = ("features",)
OUTPUT = "features"
REQUIRES = ("data",)
_TABLE_ARRAYS = ("window", "fft_twiddle", "split_twiddle", "bitrev", "mel_first_bin",
                 "mel_n_bins", "mel_weights", "log2_lut", "dct")


# ---------------------------------------------------------------- float reference

def float_log_mel(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """int16 clips [N, S] → float64 log-mel [N, n_frames, n_mels] (natural log, floored)."""
    import librosa
    import scipy.signal

    x = np.asarray(clips, dtype=np.float64) / 32768.0
    frames = np.swapaxes(librosa.util.frame(x, frame_length=t.window_len, hop_length=t.stride,
                                            axis=-1), -1, -2)
    window = scipy.signal.get_window("hann", t.window_len, fftbins=True)
    power = np.abs(np.fft.rfft(frames * window, n=t.fft_len, axis=-1)) ** 2
    mel = librosa.filters.mel(sr=t.sample_rate, n_fft=t.fft_len, n_mels=t.n_mels,
                              fmin=t.fmin, fmax=t.fmax, htk=False, norm=None)
    return np.log(np.maximum(power @ mel.T, t.log_floor))


def float_features(clips: np.ndarray, t: MfccTables) -> np.ndarray:
    """The float counterpart of the golden output: [N, n_frames, n_out] MFCC or log-mel."""
    import scipy.fft
    log_mel = float_log_mel(clips, t)
    if t.kind == "logmel":
        return log_mel
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[..., :t.n_out]


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (test - ref)^2) over all elements."""
    reference = np.asarray(reference, dtype=np.float64)
    noise = np.sum((np.asarray(test, dtype=np.float64) - reference) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))


# ---------------------------------------------------------------- cached golden features

LOUD_DBFS = -50.0                # "loud" frames: rms of the (unwindowed) frame above this


def loud_frames(frames: np.ndarray, dbfs: float = LOUD_DBFS) -> np.ndarray:
    """bool [...]: int16 frames [..., window_len] whose rms is above `dbfs` (full scale 32768)."""
    x = np.asarray(frames, dtype=np.float64) / 32768.0
    rms = np.sqrt(np.mean(x * x, axis=-1))
    return 20 * np.log10(np.maximum(rms, 1e-12)) > dbfs


def snr_all_and_loud(reference: np.ndarray, test: np.ndarray, frames: np.ndarray,
                     dbfs: float = LOUD_DBFS) -> tuple[float, float, int]:
    """(SNR dB over all frames, SNR dB over frames louder than `dbfs`, number of loud frames).

    reference, test: [..., n_out] features of the int16 `frames` [..., window_len] (the same
    leading shape, e.g. [clips, frames_per_clip]). For the stage's golden-vs-float SNR:
        snr_all_and_loud(float_features(sample, t), golden, frame_clips(sample, t))
    """
    loud = loud_frames(frames, dbfs)
    reference, test = np.asarray(reference), np.asarray(test)
    loud_snr = snr_db(reference[loud], test[loud]) if loud.any() else float("nan")
    return snr_db(reference, test), loud_snr, int(loud.sum())


def tables_fingerprint(t: MfccTables) -> str:
    digest = hashlib.sha256(repr(t).encode())
    for name in _TABLE_ARRAYS:
        value = getattr(t, name)
        digest.update(b"none" if value is None else np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def cached_features(clips: np.ndarray, t: MfccTables, cache_dir: Path | None) -> np.ndarray:
    """Golden int8 features of clips, cached on disk by (tables, audio bytes).

    The key covers the data set and any augmentation draw (both are in the audio) and every
    feature setting (all are in the tables), so a hit is always the right answer.
    """
    clips = np.ascontiguousarray(clips, dtype=np.int16)
    if cache_dir is None:
        return mfcc_clips(clips, t)
    key = hashlib.sha256(tables_fingerprint(t).encode() + clips.tobytes()).hexdigest()[:32]
    path = Path(cache_dir).expanduser() / "features" / f"{key}.npy"
    if path.exists():
        return np.load(path)
    features = mfcc_clips(clips, t)
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, features)
    return features


def load_features(run_dir: Path, split: str) -> dict[str, np.ndarray]:
    path = Path(run_dir) / "features" / f"{split}.npz"
    if not path.exists():
        raise KwsError(f"{path} is missing: run the features stage first")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def load_quant(run_dir: Path) -> dict:
    quant = read_json(Path(run_dir) / "features" / "quant.json")
    if quant is None:
        raise KwsError(f"{run_dir}/features/quant.json is missing: run the features stage first")
    return quant


# ---------------------------------------------------------------- checks and measurements

def compare_with_c(tool: Path, clips: np.ndarray, golden: np.ndarray, t: MfccTables,
                   names: list[str], chunk: int = 0) -> int:
    """Frames where C equals golden; a mismatch raises KwsError naming clip, frame and values."""
    c_out = run_mfcc_tool(tool, clips, t.frames_per_clip, t.n_out, chunk=chunk)
    equal = np.all(c_out == golden, axis=-1)
    if not equal.all():
        clip, frame = map(int, np.argwhere(~equal)[0])
        index = int(np.flatnonzero(c_out[clip, frame] != golden[clip, frame])[0])
        raise KwsError(
            f"C front end differs from the golden model on {int((~equal).sum())} frame(s); "
            f"first: clip {names[clip]!r} frame {frame} coefficient {index}: "
            f"C {int(c_out[clip, frame, index])} golden {int(golden[clip, frame, index])}")
    return int(equal.size)


def speed_vs_librosa(clips: np.ndarray, t: MfccTables) -> dict:
    """Golden features vs librosa.feature.mfcc on the same clips, timed in one run.

    Same clips, same frames (center=False, same window length, hop, FFT size, mel count and
    range, n_mfcc), both warmed up first. librosa per clip runs on one core, so the golden model
    is timed on one thread as well as on all (its default); the 1-minute load average says how
    busy the machine was (other jobs slow the threaded run most)."""
    import os

    import librosa

    from .mfcc_fixed import mfcc_frames

    kwargs = dict(sr=t.sample_rate, n_mfcc=t.n_out, n_fft=t.fft_len, hop_length=t.stride,
                  win_length=t.window_len, n_mels=t.n_mels, fmin=t.fmin, fmax=t.fmax,
                  center=False)
    x = clips.astype(np.float32) / 32768.0
    librosa.feature.mfcc(y=x[0], **kwargs)                      # warm up caches
    mfcc_clips(clips[:4], t)

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    golden_s = timed(lambda: mfcc_clips(clips, t))
    per_clip_s = timed(lambda: [librosa.feature.mfcc(y=clip, **kwargs) for clip in x])
    frames = frame_clips(np.asarray(clips, dtype=np.int16), t)
    golden_1_s = timed(lambda: mfcc_frames(frames, t, threads=1))
    batched_s = timed(lambda: librosa.feature.mfcc(y=x, **kwargs))
    return {"golden_seconds": round(golden_s, 3), "golden_seconds_1thread": round(golden_1_s, 3),
            "librosa_seconds": round(per_clip_s, 3),
            "librosa_batched_seconds": round(batched_s, 3),
            "speedup_vs_librosa": round(per_clip_s / golden_s, 2),
            "speedup_vs_librosa_1thread": round(per_clip_s / golden_1_s, 2),
            "speedup_vs_librosa_batched": round(batched_s / golden_s, 2),
            "speed_threads": os.cpu_count(), "speed_load_average": round(os.getloadavg()[0], 2)}


def cmsis_peer_snr(clips: np.ndarray, t: MfccTables) -> dict:
    """CMSIS-DSP arm_mfcc_q15 against a float model of its own algorithm, on the same frames
    (kws.cmsis_mfcc explains both): SNR over all frames and over frames louder than -50 dBFS,
    and over all frames with the C's log(0) floor put into the model."""
    try:
        import cmsisdsp  # noqa: F401
        from . import cmsis_mfcc
    except ImportError as exc:
        return {"cmsis_q15_snr_db": None, "cmsis_q15_note": f"cmsisdsp not available ({exc})"}
    if t.kind != "mfcc":
        return {"cmsis_q15_snr_db": None, "cmsis_q15_note": "arm_mfcc_q15 computes MFCCs only"}
    frames = frame_clips(clips, t).reshape(-1, t.window_len)
    settings = dict(sample_rate=t.sample_rate, fft_len=t.fft_len, n_mels=t.n_mels,
                    fmin=t.fmin, fmax=t.fmax, n_coeffs=t.n_out)
    test = cmsis_mfcc.cmsis_mfcc_q15(frames, **settings)
    reference = cmsis_mfcc.float_reference_same_algorithm(frames, **settings)
    floored = cmsis_mfcc.float_reference_same_algorithm(frames, floor=cmsis_mfcc.CMSIS_LOG_ZERO,
                                                        **settings)
    all_db, loud_db, n_loud = snr_all_and_loud(reference, test, frames)
    return {"cmsis_q15_snr_db": round(all_db, 2), "cmsis_q15_snr_db_loud": round(loud_db, 2),
            "cmsis_q15_snr_db_floored": round(snr_db(floored, test), 2),
            "cmsis_q15_frames": int(len(frames)), "cmsis_q15_loud_frames": n_loud}


# ---------------------------------------------------------------- stage interface

def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    f = cfg.features
    t = make_tables(f, data_stage.read_json_meta(run_dir)["sample_rate"])
    out = Path(out) if out else Path(run_dir) / OUTPUT
    cache_dir = Path(cfg.paths.cache_dir).expanduser()
    c_files = write_c_tables(t, out)
    splits = {split: data_stage.load_split(run_dir, split) for split in SPLITS}
    features = {}
    for split, clips in splits.items():
        features[split] = cached_features(clips["audio"], t, cache_dir)
        save_npz(out / f"{split}.npz", features=features[split], label=clips["label"])
    write_json(out / "quant.json", {"scale": t.out_scale, "zero_point": t.out_zero_point,
                                    "frames": t.frames_per_clip, "n_out": t.n_out,
                                    "kind": t.kind, "sample_rate": t.sample_rate,
                                    "settings": OmegaConf.to_container(f, resolve=True)})
    all_clips = np.concatenate([splits[s]["audio"] for s in SPLITS])
    all_features = np.concatenate([features[s] for s in SPLITS])
    report = {"kind": t.kind, "frames_per_clip": t.frames_per_clip, "n_out": t.n_out,
              "int8_scale": t.out_scale, "int8_zero_point": t.out_zero_point,
              "c_files": [p.name for p in c_files]}
    if f.verify_c:
        report.update(_verify_c(t, out, all_clips, all_features, f.sanitize, cfg.seed))
    sample = all_clips[::max(1, f.fidelity_every)]
    golden = dequantize(all_features[::max(1, f.fidelity_every)], t)
    snr_all, snr_loud, _ = snr_all_and_loud(float_features(sample, t), golden,
                                            frame_clips(sample, t))
    report["snr_db"], report["snr_db_loud"] = round(snr_all, 2), round(snr_loud, 2)
    report["fidelity_frames"] = int(golden.shape[0] * golden.shape[1])
    if f.cmsis_peer:
        report.update(cmsis_peer_snr(all_clips[::10], t))
    report.update(speed_vs_librosa(all_clips, t))
    _plot(out / "mfcc_compare.png", all_clips, all_features, t)
    return report


def _verify_c(t: MfccTables, out: Path, clips: np.ndarray, golden: np.ndarray, sanitize: bool,
              seed: int) -> dict:
    tool = build_mfcc_tool(out, out / "build", sanitize=sanitize)
    names = [f"data clip {i}" for i in range(len(clips))]
    frames = compare_with_c(tool, clips, golden, t, names)
    speech = clips[:: max(1, len(clips) // 4)][:4]
    signals = adversarial_signals(clips.shape[1], t.sample_rate, np.random.default_rng(seed),
                                  speech=speech)
    adversarial = np.stack(list(signals.values()))
    adv_frames = compare_with_c(tool, adversarial, mfcc_clips(adversarial, t), t, list(signals))
    stream_frames = compare_with_c(tool, clips[:64], golden[:64], t, names, chunk=t.stride // 2 + 7)
    return {"bitexact_frames": frames + adv_frames, "total_frames": frames + adv_frames,
            "adversarial_signals": len(signals), "streaming_frames_checked": stream_frames,
            "c_sanitized": bool(sanitize)}


def summarize(entry: dict) -> str:
    text = (f"{entry.get('kind')} {entry.get('frames_per_clip')}x{entry.get('n_out')}, "
            f"int8 scale {entry.get('int8_scale')} zp {entry.get('int8_zero_point')}, "
            f"SNR {entry.get('snr_db')} dB")
    if "bitexact_frames" in entry:
        text += f", C bit-exact {entry['bitexact_frames']}/{entry['total_frames']} frames"
    if entry.get("cmsis_q15_snr_db") is not None:
        text += f", CMSIS q15 SNR {entry['cmsis_q15_snr_db']} dB"
    return text + f", {entry.get('speedup_vs_librosa')}x librosa"


def _plot(path: Path, clips: np.ndarray, features: np.ndarray, t: MfccTables) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loudness = np.abs(clips.astype(np.int64)).max(axis=1)
    idx = int(np.argsort(loudness)[len(loudness) // 2])           # a typical clip
    reference = float_features(clips[idx:idx + 1], t)[0]
    fixed = dequantize(features[idx], t)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
    vmin, vmax = reference.min(), reference.max()
    for ax, image, title in ((axes[0], reference, "float reference (librosa-based)"),
                             (axes[1], fixed, "golden fixed point (int8, dequantised)")):
        im = ax.imshow(image.T, origin="lower", aspect="auto", vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax)
    diff = axes[2].imshow((fixed - reference).T, origin="lower", aspect="auto", cmap="coolwarm")
    axes[2].set_title(f"difference (SNR {snr_db(reference, fixed):.1f} dB)", fontsize=10)
    fig.colorbar(diff, ax=axes[2])
    for ax in axes:
        ax.set_xlabel("frame (20 ms)")
    axes[0].set_ylabel("coefficient" if t.kind == "mfcc" else "mel band")
    save_figure(path, fig)
    plt.close(fig)
