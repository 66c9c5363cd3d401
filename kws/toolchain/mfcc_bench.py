"""The Cortex-M front-end harness (firmware/tests/target/peer/mfcc_bench_main.c): build it
over kws_mfcc_frame with golden expectations, run it under QEMU, read its result file.

Used by the test of the front end's fast paths (tests/test_mfcc_fastpath.py) and by the
benchmark against CMSIS-DSP (bench/mfcc_target.py), which adds the CMSIS-DSP side.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kws.errors import KwsError
from kws.toolchain import cortex_m as target
from kws.toolchain import sources
from kws.toolchain.results import read_results, scalars

# firmware/sources.txt: the harness and its data; ours adds [mfcc], CMSIS-DSP's side its tables
HARNESS = ("tests-target-mfcc-bench", "tests-target-mfcc-bench-data")


def default_tables():
    """Our tables for the default features (conf/features/mfcc.yaml)."""
    from kws.config import FeaturesConfig
    from kws.golden.mfcc_tables import make_tables
    return make_tables(FeaturesConfig(), 16000)


def speechlike(n: int, seed: int = 0, length: int = 16000) -> np.ndarray:
    """Harmonic bursts with a varying pitch over noise (as tests/test_features.py)."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(length) / 16000
    clips = []
    for _ in range(n):
        f0 = rng.uniform(90, 250)
        env = np.exp(-((time_s - rng.uniform(0.3, 0.7)) / 0.15) ** 2)
        x = sum(np.sin(2 * np.pi * f0 * h * time_s * (1 + 0.1 * time_s)) / h for h in range(1, 12))
        x = x * env * 10 ** rng.uniform(-3, -0.3) * 32767 / 3 + rng.normal(0, 20, length)
        clips.append(np.clip(np.round(x), -32768, 32767))
    return np.array(clips, dtype=np.int16)


def real_clips(root: Path, n: int) -> tuple[np.ndarray, list[str]]:
    """The first clip (sorted by name) of each of the first n keyword folders of root."""
    from kws.audio.clips import read_clip
    from kws.config import DEFAULT_KEYWORDS
    clips, names = [], []
    for word in DEFAULT_KEYWORDS:
        folder = root / word
        wavs = sorted(folder.glob("*.wav")) if folder.is_dir() else []
        if not wavs:
            continue
        clips.append(read_clip(wavs[0], sample_rate=16000, n_samples=16000))
        names.append(f"{word}/{wavs[0].name}")
        if len(clips) == n:
            break
    if not clips:
        raise KwsError(f"{root}: no keyword folders with .wav clips")
    return np.stack(clips), names


def golden_power(clips: np.ndarray, t) -> np.ndarray:
    """Steps 1-4 of kws.golden.mfcc on every frame of `clips`: P' of the bins the mel filters use,
    int64 [clips, frames, n_bins] (the golden model's own code, as in its _log_mel_t)."""
    from kws.golden import mfcc as g
    blocks = np.asarray(g.frame_clips(np.asarray(clips, dtype=np.int16), t))
    plan, ws = g._plan(t), g._Workspace()
    n_blocks, n_frames, width = blocks.shape
    packed = np.zeros((n_blocks, n_frames, plan.pairs), np.complex128)
    p = packed.view(np.float64)
    np.multiply(blocks, plan.window, out=p[:, :, :width])
    peak = np.maximum(p.max(axis=2), -p.min(axis=2)).astype(np.int64).reshape(-1)
    sh = (t.norm_bits - 1) - g._floor_log2(np.maximum(peak, 1))
    g._shift_rows(p, sh.reshape(n_blocks, n_frames, 1))
    z = packed.transpose(2, 0, 1)[plan.gather].reshape(t.fft_len // 2, -1)
    power = g._power(g._fft_real(z, t, plan, ws), t, ws)          # [bins, frames]
    out = np.ascontiguousarray(power.T.reshape(n_blocks, n_frames, -1), dtype=np.int64)
    out[(peak == 0).reshape(n_blocks, n_frames)] = -1                # silent: not checked
    return out


def power_hashes(power: np.ndarray) -> np.ndarray:
    """FNV-1a over the 32-bit words (low, high) of each frame's P', as mfcc_bench_main.c hashes
    them; 0 marks a frame not to check (silent), so a hash of 0 becomes 1."""
    words = np.ascontiguousarray(power).view(np.uint32)  # little-endian: low, high words
    h = np.full(power.shape[:-1], 2166136261, dtype=np.uint64)
    for i in range(words.shape[-1]):
        h = ((h ^ words[..., i]) * 16777619) & 0xFFFFFFFF
    h = np.where(h == 0, 1, h)
    return np.where(np.all(power == -1, axis=-1), 0, h).astype(np.uint32)


def write_bench_data(out_dir: Path, clips: np.ndarray, expected: np.ndarray, stride: int,
                     window: int, ctype: str, power: np.ndarray | None = None) -> None:
    """mfcc_bench_data.{c,h}: clips [K][S] int16 and the expected outputs [K][F][n_out]; with
    `power` (golden_power), the hash of each frame's P' too (MB_POWER_BINS)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    k, samples = clips.shape
    _, frames, n_out = expected.shape
    if (frames - 1) * stride + window > samples:
        raise KwsError("bench data: the frames do not fit in the clips")
    power_h = power_c = ""
    if power is not None:
        power_h = (f"#define MB_POWER_BINS {power.shape[-1]}\n"
                   "extern const uint32_t mb_power_hash[MB_N_CLIPS][MB_FRAMES];\n")
        power_c = (f"const uint32_t mb_power_hash[MB_N_CLIPS][MB_FRAMES] = {{\n"
                   f"    {_c_list(power_hashes(power).astype(np.int64))}}};\n")
    (out_dir / "mfcc_bench_data.h").write_text(f"""/* Generated by kws.toolchain.mfcc_bench. */
#ifndef MFCC_BENCH_DATA_H
#define MFCC_BENCH_DATA_H
#include <stdint.h>
#define MB_N_CLIPS {k}
#define MB_CLIP_SAMPLES {samples}
#define MB_FRAMES {frames}
#define MB_STRIDE {stride}
#define MB_WINDOW {window}
#define MB_N_OUT {n_out}
extern const int16_t mb_clips[MB_N_CLIPS][MB_CLIP_SAMPLES];
extern const {ctype} mb_expected[MB_N_CLIPS][MB_FRAMES][MB_N_OUT];
{power_h}#endif
""")
    (out_dir / "mfcc_bench_data.c").write_text(f"""/* Generated by kws.toolchain.mfcc_bench. */
#include "mfcc_bench_data.h"
const int16_t mb_clips[MB_N_CLIPS][MB_CLIP_SAMPLES] = {{
    {_c_list(clips)}}};
const {ctype} mb_expected[MB_N_CLIPS][MB_FRAMES][MB_N_OUT] = {{
    {_c_list(expected)}}};
{power_c}""")


def _c_list(values: np.ndarray, per_line: int = 16) -> str:
    """The inside of a C initializer, with nested braces for every dimension after the first."""
    values = np.asarray(values)
    if values.ndim > 1:
        return ",\n    ".join("{" + _c_list(v, per_line) + "}" for v in values)
    flat = [str(int(v)) for v in values]
    return ",\n    ".join(", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line))




# ---------------------------------------------------------------- build and run

def build_ours(board: str, tables, clips: np.ndarray, build_dir: Path,
               mfcc_sources: dict[Path, Path] | None = None, profile: bool = False,
               check_power: bool = False) -> Path:
    """The harness over kws_mfcc_frame on every frame of `clips`, with the golden outputs (and
    with check_power the golden P' of every frame, which the harness reads back from the
    scratch: a check of kws_mfcc.c's inner steps, not of the API). mfcc_sources: files of
    [mfcc] replaced by others (another revision's), firmware path → the replacement."""
    from kws.golden.mfcc import mfcc_clips
    from kws.emit.mfcc_c import write_c_tables
    gen = build_dir / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    write_c_tables(tables, gen)
    write_bench_data(gen, clips, mfcc_clips(clips, tables), tables.stride, tables.window_len,
                     "int8_t", golden_power(clips, tables) if check_power else None)
    front_end = [(mfcc_sources or {}).get(p, p) for p in sources.build("mfcc", tables=gen).sources]
    return target.build_program(board, HARNESS, build_dir, extra_sources=tuple(front_end),
                                defines=["KWS_MFCC_PROFILE=kws_bench_step"] if profile else None,
                                data=gen)


# result → the harness's scalar (firmware/tests/target/peer/mfcc_bench_main.c)
_SCALARS = {"insn_per_tick": "insn_per_tick", "frames": "frames", "equal": "frames_equal",
            "max_diff": "max_abs_difference", "mean": "insn_mean", "min": "insn_min",
            "max": "insn_max", "stack_bytes": "stack_bytes"}
_OPTIONAL = ("power_equal", "power_checked")


def run(board: str, elf: Path, timeout_s: float = 120.0) -> dict:
    """Run the harness under QEMU (-icount shift=0); the numbers of its result file (and its
    console text, for people)."""
    status, text = target.run_qemu(board, elf, timeout_s)
    (elf.parent / "qemu.log").write_text(text)
    if status not in (0, 1):
        raise KwsError(f"{board}: harness exited with status {status}:\n{text[-3000:]}")
    path = target.results_path(elf)
    arrays = read_results(path)
    v = scalars(arrays, _SCALARS.values(), str(path))
    out = {"status": status, "text": text, **{key: v[name] for key, name in _SCALARS.items()}}
    out.update(scalars(arrays, [k for k in _OPTIONAL if k in arrays], str(path)))
    out["steps"] = dict(enumerate(int(x) for x in arrays.get("step_instructions", [])))
    d = arrays.get("first_difference")
    out["first_difference"] = None if d is None else (
        "DIFFERENCE clip {} frame {} output {}: target {}, host {}".format(*map(int, d)))
    return out
