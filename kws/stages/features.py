"""Stage `features`: int8 MFCCs of every clip from the golden fixed-point front end.

Reads:  data/{split}.npz, data/labels.json
Writes: features/{split}.npz              int8 features [N, frames, n_out] and labels
        features/quant.json               int8 scale and zero point: the network's input quantisation
        features/kws_mfcc_tables.{c,h}    tables for firmware/src/kws_mfcc.c
        features/mfcc_compare.png         one clip: float reference, fixed point, difference
and checks the C front end against the golden model on every frame, measures fidelity against
the float reference (and CMSIS-DSP's arm_mfcc_q15 when `cmsisdsp` is installed) and speed against
librosa.

The float reference and the measures are kws.measure.fidelity's.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from kws.artifacts import RunDir
from kws.audio.speech_commands import SPLITS
from kws.audio.signals import adversarial_signals
from kws.emit.mfcc_c import write_c_tables
from kws.errors import KwsError
from kws.feature_cache import cached_features
from kws.golden.mfcc import dequantize, frame_clips, mfcc_clips
from kws.golden.mfcc_tables import MfccTables, make_tables
from kws.io import save_figure, save_npz, write_json
from kws.measure.fidelity import (cmsis_peer_snr, float_features, snr_all_and_loud, snr_db,
                                  speed_vs_librosa)
from kws.toolchain.host import build_mfcc_tool, mfcc_tool_sources, run_mfcc_tool, \
    sources_fingerprint

log = logging.getLogger(__name__)
CONFIG_KEYS = ("features",)
OUTPUT = "features"
REQUIRES = ("data",)


def input_fingerprint(cfg) -> str:
    """The C front end the stage builds and checks (features.verify_c)."""
    return sources_fingerprint(mfcc_tool_sources()) if cfg.features.verify_c else ""


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


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    run = RunDir(run_dir)
    out = Path(out) if out else run.features_dir
    f = cfg.features
    meta = run.labels_meta()
    t = make_tables(f, meta["sample_rate"], meta["clip_samples"])
    cache_dir = Path(cfg.paths.cache_dir).expanduser()
    c_files = write_c_tables(t, out)
    splits = {split: run.split(split) for split in SPLITS}
    features = {}
    for split, clips in splits.items():
        features[split] = cached_features(clips["audio"], t, cache_dir)
        save_npz(out / f"{split}.npz", features=features[split], label=clips["label"])
    write_json(out / "quant.json", {"scale": t.out_scale, "zero_point": t.out_zero_point,
                                    "frames": t.frames_per_clip, "n_out": t.n_out,
                                    "kind": t.kind, "sample_rate": t.sample_rate,
                                    "clip_samples": t.clip_samples,
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
