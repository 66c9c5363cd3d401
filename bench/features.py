"""Benchmark the fixed-point front end: fidelity (SNR) and speed, with CMSIS-DSP and librosa.

    .venv/bin/python bench/features.py [--root ../shared/data/speech_commands_v0.02_subset]

Every clip of the folder (1 s, 16 kHz) goes through the golden model, the C front end, the float
reference and librosa; one clip in ten goes through CMSIS-DSP's arm_mfcc_q15. Writes its section
of bench/RESULTS.md and prints it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kws.audio.clips import read_clip
from kws.toolchain.host import build_mfcc_tool, run_mfcc_tool
from kws.config import DEFAULT_KEYWORDS, FeaturesConfig
from kws.measure.fidelity import (float_features, float_log_mel, loud_frames, snr_all_and_loud,
                                  snr_db, speed_vs_librosa)
from kws.golden.mfcc import dequantize, frame_clips, log_mel, mfcc_clips
from kws.emit.mfcc_c import write_c_tables
from kws.golden.mfcc_tables import make_tables
from kws.audio.speech_commands import scan
from results import DEFAULT_ROOT, HERE, write_section


def load_all(root: Path) -> np.ndarray:
    refs, _ = scan(root, DEFAULT_KEYWORDS, 10, 10)
    return np.stack([read_clip(r.path, sample_rate=16000, n_samples=16000) for r in refs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args()
    if not args.root.is_dir():
        sys.exit(f"bench: {args.root} not found (pass --root PATH to a Speech Commands folder)")
    cfg = FeaturesConfig()                                         # conf/features/mfcc.yaml
    t = make_tables(cfg, 16000)
    clips = load_all(args.root)
    n_frames = clips.shape[0] * t.frames_per_clip
    rows = [("clips / frames", f"{len(clips)} / {n_frames}")]

    golden = mfcc_clips(clips, t)
    with tempfile.TemporaryDirectory() as tmp:
        write_c_tables(t, Path(tmp))
        tool = build_mfcc_tool(Path(tmp), Path(tmp))
        c_out = run_mfcc_tool(tool, clips, t.frames_per_clip, t.n_out)
    exact = int(np.all(c_out == golden, axis=-1).sum())
    rows.append(("C == golden (frames, exact)", f"{exact} / {n_frames}"))

    reference = float_features(clips, t)
    fixed = dequantize(golden, t)
    loud = loud_frames(frame_clips(clips, t))
    rows.append(("golden int8 vs float MFCC, SNR all frames", f"{snr_db(reference, fixed):.1f} dB"))
    rows.append(("same, frames louder than -50 dBFS",
                 f"{snr_db(reference[loud], fixed[loud]):.1f} dB ({int(loud.sum())} frames)"))
    lm = log_mel(frame_clips(clips, t).reshape(-1, t.window_len), t) / 2048.0
    rows.append(("golden log-mel (before DCT and int8) vs float",
                 f"{snr_db(float_log_mel(clips, t).reshape(-1, t.n_mels), lm):.1f} dB"))

    tenth = clips[::10]
    try:
        from kws.measure import cmsis_peer as cmsis_mfcc
        frames = frame_clips(tenth, t).reshape(-1, t.window_len)
        settings = dict(sample_rate=16000, fft_len=t.fft_len, n_mels=t.n_mels, fmin=t.fmin,
                        fmax=t.fmax, n_coeffs=t.n_out)
        start = time.perf_counter()
        cm = cmsis_mfcc.cmsis_mfcc_q15(frames, **settings)
        cm_seconds = time.perf_counter() - start
        cm_ref = cmsis_mfcc.float_reference_same_algorithm(frames, **settings)
        cm_floored = cmsis_mfcc.float_reference_same_algorithm(
            frames, floor=cmsis_mfcc.CMSIS_LOG_ZERO, **settings)
        cm_all, cm_loud, n_loud = snr_all_and_loud(cm_ref, cm, frames)
        ours_all, ours_loud, _ = snr_all_and_loud(
            reference[::10].reshape(-1, t.n_out), fixed[::10].reshape(-1, t.n_out), frames)
        rows.append(("CMSIS-DSP arm_mfcc_q15 vs its float model (ln(mel magnitude + 1e-6)), "
                     "every 10th clip",
                     f"{cm_all:.1f} dB all ({len(frames)} frames), {cm_loud:.1f} dB louder "
                     f"than -50 dBFS ({n_loud} frames)"))
        rows.append(("same, with the C's log(0) = ln(2^-11) as the model's floor",
                     f"{snr_db(cm_floored, cm):.1f} dB all"))
        rows.append(("ours on the same frames",
                     f"{ours_all:.1f} dB all, {ours_loud:.1f} dB louder than -50 dBFS"))
        rows.append(("CMSIS-DSP python binding time (one call per frame)", f"{cm_seconds:.2f} s"))
    except ImportError as exc:
        rows.append(("CMSIS-DSP arm_mfcc_q15", f"not measured: {exc}"))

    best = min((speed_vs_librosa(clips, t) for _ in range(3)), key=lambda r: r["golden_seconds"])
    rows.append(("golden model, all clips (2 threads)", f"{best['golden_seconds']} s"))
    rows.append(("golden model, all clips (1 thread)", f"{best['golden_seconds_1thread']} s"))
    rows.append(("librosa.feature.mfcc, one call per clip",
                 f"{best['librosa_seconds']} s → speedup {best['speedup_vs_librosa']}x "
                 f"({best['speedup_vs_librosa_1thread']}x on one thread)"))
    rows.append(("librosa.feature.mfcc, one batched call",
                 f"{best['librosa_batched_seconds']} s → speedup "
                 f"{best['speedup_vs_librosa_batched']}x"))
    rows.append(("1-minute load average during the timing", f"{best['speed_load_average']}"))

    section = ["## Features: fixed-point MFCC front end", "",
               f"Command: `.venv/bin/python bench/features.py --root {args.root.name}` "
               f"(real speech: every clip of the Speech Commands subset; default features: "
               f"30 ms / 20 ms, 512-pt FFT, 40 mel, 10 MFCC, int8 scale 0.5 zero point 47; "
               f"{time.strftime('%Y-%m-%d')}, 2-core machine)", "",
               "| measure | value |", "|---|---|"]
    section += [f"| {name} | {value} |" for name, value in rows]
    write_section(HERE / "RESULTS.md", "features", "\n".join(section))
    print("\n".join(section))


if __name__ == "__main__":
    main()
