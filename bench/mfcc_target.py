"""Our MFCC front end and CMSIS-DSP's arm_mfcc_q15 on the same Cortex-M board, on the same frames.

    .venv/bin/python bench/mfcc_target.py [--root ../shared/data/speech_commands_v0.02_subset]
        [--clips 4] [--boards mps2-an386 mps2-an385] [--baseline REV] [--profile] [--no-write]

1. CMSIS-DSP: the C sources of the PyPI sdist cmsisdsp==1.10.3 (`pip download --no-binary`),
   cached in ~/.cache/kws/cmsisdsp-1.10.3 (or $KWS_CACHE_DIR/cmsisdsp-1.10.3; fetched once,
   only the files arm_mfcc_q15 needs are kept), built for the board with a small stand-in for
   CMSIS-Core's cmsis_compiler.h (firmware/tests/target/peer/cmsis_compiler.h: ACLE intrinsics).
   Its tables: arm_mfcc_init_512_q15 (512-point RFFT, arm_rfft_init_512_q15), 40 mel filters
   20-4000 Hz and the 10-coefficient DCT from the cmsisdsp Python package's cmsisdsp.mfcc, the
   480-sample periodic Hann window zero-padded to 512 (as kws.measure.cmsis_peer). Outputs are compared
   with the cmsisdsp Python binding's (a report, not a requirement: that build has no DSP
   extension).
2. Ours: kws_mfcc_frame (firmware/src/kws_mfcc.c) with the tables of kws.golden.mfcc_tables for the
   default features (conf/features/mfcc.yaml), outputs checked against kws.golden.mfcc: exact.
3. Both run under QEMU (-icount shift=0, SysTick: instructions, as kws.toolchain.cortex_m) with the harness
   firmware/tests/target/peer/mfcc_bench_main.c on every frame of K real clips (the first clip of
   K keyword folders of --root; speech-like synthetic clips when the folder is absent, said so).
   Prints instructions per frame (mean, min, max), flash of each front end (code: its objects'
   .text plus the library helpers they call; tables: its objects' constants), the ratio ours /
   CMSIS-DSP, and the SNR of each against its float model on the same frames; writes the
   "mfcc_target" section of bench/RESULTS.md.

--baseline REV also measures firmware/src/kws_mfcc.c as of git revision REV (read-only
`git show`), for a before/after row. --profile adds a per-step breakdown of ours (built with
-DKWS_MFCC_PROFILE=kws_bench_step; the hook's own instructions are included, so the steps add up
to a little more than the plain build).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kws.toolchain import cortex_m as target  # noqa: E402
from kws.toolchain import sources  # noqa: E402
from kws.errors import KwsError  # noqa: E402

from kws.toolchain.mfcc_bench import (HARNESS, _c_list, build_ours, default_tables,  # noqa: E402
                                      real_clips, run, write_bench_data)
from kws.audio.signals import speechlike  # noqa: E402
PEER = "tests-target-mfcc-peer"
CMSIS_VERSION = "1.10.3"
FFT_LEN = 512
STEP_NAMES = {0: "window products + peak", 1: "normalise + FFT stages 1-2",
              2: "FFT stages 3-8", 3: "split + power (used bins)", 4: "mel + log",
              5: "DCT + int8"}
# What arm_mfcc_q15 and arm_mfcc_init_512_q15 need from the sdist (paths inside it).
CMSIS_SOURCES = [
    "Source/TransformFunctions/arm_mfcc_q15.c",
    "Source/TransformFunctions/arm_mfcc_init_q15.c",
    "Source/TransformFunctions/arm_rfft_q15.c",
    "Source/TransformFunctions/arm_rfft_init_q15.c",
    "Source/TransformFunctions/arm_cfft_q15.c",
    "Source/TransformFunctions/arm_cfft_init_q15.c",
    "Source/TransformFunctions/arm_cfft_radix4_q15.c",
    "Source/TransformFunctions/arm_bitreversal2.c",
    "Source/CommonTables/arm_common_tables.c",
    "Source/CommonTables/arm_const_structs.c",
    "Source/StatisticsFunctions/arm_absmax_q15.c",
    "Source/FastMathFunctions/arm_divide_q15.c",
    "Source/FastMathFunctions/arm_vlog_q31.c",
    "Source/FastMathFunctions/arm_sqrt_q31.c",
    "Source/BasicMathFunctions/arm_abs_q15.c",
    "Source/BasicMathFunctions/arm_shift_q15.c",
    "Source/BasicMathFunctions/arm_scale_q15.c",
    "Source/BasicMathFunctions/arm_mult_q15.c",
    "Source/BasicMathFunctions/arm_dot_prod_q15.c",
    "Source/BasicMathFunctions/arm_scale_q31.c",
    "Source/BasicMathFunctions/arm_offset_q31.c",
    "Source/BasicMathFunctions/arm_shift_q31.c",
    "Source/ComplexMathFunctions/arm_cmplx_mag_q15.c",
    "Source/MatrixFunctions/arm_mat_vec_mult_q15.c",
]
CMSIS_TABLE_OBJECTS = ("arm_common_tables.o", "arm_const_structs.o")


# ---------------------------------------------------------------- CMSIS-DSP sources

def cmsis_cache() -> Path:
    base = os.environ.get("KWS_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "kws") / f"cmsisdsp-{CMSIS_VERSION}"


def _wanted(member: str) -> bool:
    parts = member.split("/", 1)
    if len(parts) != 2:
        return False
    rel = parts[1]
    return (rel in CMSIS_SOURCES or rel == "LICENSE"
            or (rel.startswith(("Include/", "PrivateInclude/")) and rel.endswith(".h")))


def fetch_cmsis(cache: Path | None = None) -> Path:
    """The CMSIS-DSP C sources arm_mfcc_q15 needs, from the PyPI sdist: cache/{Include,
    PrivateInclude,Source/...}. Downloaded with pip once; skipped when already there."""
    cache = cache or cmsis_cache()
    if all((cache / s).exists() for s in CMSIS_SOURCES) and (cache / "Include/arm_math.h").exists():
        return cache
    with tempfile.TemporaryDirectory() as tmp:
        # --no-build-isolation: pip prepares the sdist's metadata with this venv's setuptools
        # and numpy instead of building numpy from source for an isolated environment.
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-build-isolation", "--no-binary", ":all:", f"cmsisdsp=={CMSIS_VERSION}",
               "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("cmsisdsp-*.tar.gz"))
        if not sdists:
            raise KwsError(f"could not download the cmsisdsp {CMSIS_VERSION} sdist:\n"
                           f"{' '.join(cmd)}\n{proc.stderr[-2000:]}")
        staging = cache.with_name(cache.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(sdists[0]) as tar:
            for member in tar.getmembers():
                if member.isfile() and _wanted(member.name):
                    member.name = member.name.split("/", 1)[1]
                    tar.extract(member, staging, filter="data")
        missing = [s for s in CMSIS_SOURCES if not (staging / s).exists()]
        if missing:
            raise KwsError(f"cmsisdsp {CMSIS_VERSION} sdist lacks {missing}")
        shutil.rmtree(cache, ignore_errors=True)
        staging.replace(cache)
    return cache


def cmsis_tables(window_len: int, sample_rate: int = 16000, n_mels: int = 40,
                 fmin: float = 20.0, fmax: float = 4000.0, n_dct: int = 10) -> dict:
    """arm_mfcc_q15's tables, as kws.measure.cmsis_peer makes them for the Python binding."""
    import cmsisdsp.datatype as dt
    import cmsisdsp.mfcc as cmsis_mel
    import scipy.signal

    window = np.zeros(FFT_LEN)
    window[:window_len] = scipy.signal.get_window("hann", window_len, fftbins=True)
    lengths, positions, coefs = cmsis_mel.melFilterMatrix(dt.Q15, fmin, fmax, n_mels,
                                                          sample_rate, FFT_LEN)
    dct = cmsis_mel.dctMatrix(dt.Q15, n_dct, n_mels)
    return {"window": np.asarray(dt.convert(window, dt.Q15), dtype=np.int16),
            "filter_len": np.asarray(lengths, dtype=np.uint32),
            "filter_pos": np.asarray(positions, dtype=np.uint32),
            "filter": np.asarray(coefs, dtype=np.int16),
            "dct": np.asarray(dct, dtype=np.int16).reshape(-1),
            "n_mels": n_mels, "n_dct": n_dct}


def write_cmsis_tables(tables: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "cmsis_mfcc_tables.h").write_text(f"""/* Generated by bench/mfcc_target.py. */
#ifndef CMSIS_MFCC_TABLES_H
#define CMSIS_MFCC_TABLES_H
#include <stdint.h>
#define CMSIS_MFCC_FFT_LEN {FFT_LEN}
#define CMSIS_MFCC_N_MELS {tables['n_mels']}
#define CMSIS_MFCC_N_DCT {tables['n_dct']}
extern const int16_t cmsis_mfcc_window_q15[{FFT_LEN}];
extern const uint32_t cmsis_mfcc_filter_pos[{tables['n_mels']}];
extern const uint32_t cmsis_mfcc_filter_len[{tables['n_mels']}];
extern const int16_t cmsis_mfcc_filter_q15[{len(tables['filter'])}];
extern const int16_t cmsis_mfcc_dct_q15[{len(tables['dct'])}];
#endif
""")
    (out_dir / "cmsis_mfcc_tables.c").write_text(f"""/* Generated by bench/mfcc_target.py
 * (cmsisdsp.mfcc.melFilterMatrix / dctMatrix, Q15; periodic Hann zero-padded to the FFT). */
#include "cmsis_mfcc_tables.h"
const int16_t cmsis_mfcc_window_q15[{FFT_LEN}] = {{
    {_c_list(tables['window'])}}};
const uint32_t cmsis_mfcc_filter_pos[{tables['n_mels']}] = {{
    {_c_list(tables['filter_pos'])}}};
const uint32_t cmsis_mfcc_filter_len[{tables['n_mels']}] = {{
    {_c_list(tables['filter_len'])}}};
const int16_t cmsis_mfcc_filter_q15[{len(tables['filter'])}] = {{
    {_c_list(tables['filter'])}}};
const int16_t cmsis_mfcc_dct_q15[{len(tables['dct'])}] = {{
    {_c_list(tables['dct'])}}};
""")


# ---------------------------------------------------------------- frames and data

def pick_clips(root: Path, n: int) -> tuple[np.ndarray, str]:
    if root.is_dir():
        clips, names = real_clips(root, n)
        return clips, f"{len(clips)} real clips of {root.name} ({', '.join(names)})"
    print(f"bench: {root} not found: using {n} synthetic speech-like clips instead "
          "(pass --root PATH to a Speech Commands folder for real frames)", file=sys.stderr)
    return speechlike(n), f"{n} synthetic speech-like clips ({root} not found)"


# ---------------------------------------------------------------- build and run

def build_cmsis(board: str, ours_tables, clips: np.ndarray, build_dir: Path,
                cache: Path | None = None) -> tuple[Path, np.ndarray]:
    """The harness over arm_mfcc_q15 on the same frames; returns the ELF and the Python
    binding's outputs (q8.7 integers) it is compared with."""
    from kws.measure.cmsis_peer import cmsis_mfcc_q15
    from kws.golden.mfcc import frame_clips
    cache = fetch_cmsis(cache)
    t = ours_tables
    gen = build_dir / "gen"
    tables = cmsis_tables(t.window_len, t.sample_rate, t.n_mels, t.fmin, t.fmax, t.n_out)
    write_cmsis_tables(tables, gen)
    frames = frame_clips(clips, t)
    host = cmsis_mfcc_q15(frames.reshape(-1, t.window_len), sample_rate=t.sample_rate,
                          fft_len=FFT_LEN, n_mels=t.n_mels, fmin=t.fmin, fmax=t.fmax,
                          n_coeffs=t.n_out)
    expected = np.round(host * 128).astype(np.int16).reshape(*frames.shape[:2], t.n_out)
    write_bench_data(gen, clips, expected, t.stride, t.window_len, "int16_t")
    elf = target.build_program(board, (*HARNESS, PEER), build_dir,
                               extra_sources=tuple(cache / s for s in CMSIS_SOURCES),
                               extra_includes=(cache / "Include", cache / "PrivateInclude"),
                               defines=["KWS_PEER_CMSIS"], data=gen)
    return elf, expected


# ---------------------------------------------------------------- flash

def _symbol_sizes(elf: Path) -> dict[str, int]:
    sizes = {}
    proc = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True,
                          check=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


def _undefined(objects: list[Path]) -> set[str]:
    proc = subprocess.run(["arm-none-eabi-nm", "-u", *map(str, objects)], capture_output=True,
                          text=True, check=True)
    return {line.split()[-1] for line in proc.stdout.splitlines()
            if line.strip() and not line.endswith(":")}


def flash_of(build_dir: Path, elf: Path, objects: set[str], table_objects: set[str]) -> dict:
    """Flash of one front end in the linked ELF (after --gc-sections): code = .text of its
    objects plus the library functions they call (memcpy, libgcc's 64-bit shifts...), tables =
    constants (.rodata/.data) of its objects; `table_objects` count wholly as tables."""
    text = (build_dir / "app.map").read_text()
    text = text[text.find("Linker script and memory map"):]
    code = tables = 0
    for m in target._INPUT_SECTION.finditer(text):
        obj = Path(m.group("obj")).name
        if obj not in objects or ".a(" in m.group("obj"):
            continue
        size = int(m.group("size"), 16)
        sec = m.group("sec")
        if sec.startswith((".text", ".rodata", ".data")):
            if obj in table_objects or not sec.startswith(".text"):
                tables += size
            else:
                code += size
    defined = _symbol_sizes(elf)
    own = set()
    for obj in objects:
        path = build_dir / "obj" / obj
        proc = subprocess.run(["arm-none-eabi-nm", "--defined-only", str(path)],
                              capture_output=True, text=True, check=True)
        own |= {line.split()[-1] for line in proc.stdout.splitlines() if line.strip()}
    helpers = sorted(s for s in _undefined([build_dir / "obj" / o for o in objects])
                     if s not in own and s in defined)
    lib = sum(defined[s] for s in helpers)
    return {"code": code + lib, "tables": tables, "total": code + lib + tables,
            "helpers": helpers}


# ---------------------------------------------------------------- SNR on the same frames

def fidelity(clips: np.ndarray, t) -> dict:
    from kws.measure.cmsis_peer import cmsis_mfcc_q15, float_reference_same_algorithm
    from kws.measure.fidelity import float_features, snr_db
    from kws.golden.mfcc import dequantize, frame_clips, mfcc_clips
    frames = frame_clips(clips, t).reshape(-1, t.window_len)
    kw = dict(sample_rate=t.sample_rate, fft_len=FFT_LEN, n_mels=t.n_mels, fmin=t.fmin,
              fmax=t.fmax, n_coeffs=t.n_out)
    ours = snr_db(float_features(clips, t), dequantize(mfcc_clips(clips, t), t))
    cmsis = snr_db(float_reference_same_algorithm(frames, **kw), cmsis_mfcc_q15(frames, **kw))
    return {"ours_db": ours, "cmsis_db": cmsis}


# ---------------------------------------------------------------- main

def _git_show(rev: str, path: str, out: Path) -> Path:
    proc = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise KwsError(f"git show {rev}:{path} failed: {proc.stderr.strip()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(proc.stdout)
    return out


def measure(board: str, tables, clips: np.ndarray, work: Path, baseline: str | None,
            profile: bool) -> dict:
    res = {"board": board}
    elf = build_cmsis(board, tables, clips, work / board / "cmsis")[0]
    res["cmsis"] = run(board, elf)
    objs = {p.with_suffix(".o").name for p in map(Path, CMSIS_SOURCES)}
    peer_tables = sources.load().objects(PEER)
    res["cmsis"]["flash"] = flash_of(work / board / "cmsis", elf, objs | peer_tables,
                                     set(CMSIS_TABLE_OBJECTS) | peer_tables)
    fft = flash_of(work / board / "cmsis", elf, set(CMSIS_TABLE_OBJECTS), set(CMSIS_TABLE_OBJECTS))
    res["cmsis"]["flash"]["fft_tables"] = fft["tables"]
    variants = [("ours", None)]
    listed = sources.load()
    if baseline:      # [mfcc]'s firmware files as of the baseline revision, at today's paths
        variants.append(("before", {p: _git_show(baseline, p.relative_to(REPO).as_posix(),
                                                 work / "baseline" / p.name)
                                    for p in listed.firmware_sources("mfcc")}))
    for name, replaced in variants:
        build_dir = work / board / name
        # the power spectra are checked too, read from the scratch as today's kws_mfcc.c keeps it
        elf = build_ours(board, tables, clips, build_dir, replaced, check_power=replaced is None)
        res[name] = run(board, elf)
        if "power_checked" in res[name] and res[name]["power_equal"] != res[name]["power_checked"]:
            raise KwsError(f"{board}: {name}: power spectra differ from the golden model's")
        res[name]["flash"] = flash_of(build_dir, elf, listed.objects("mfcc"),
                                      listed.objects("mfcc", generated=True))
        if res[name]["status"] != 0:
            raise KwsError(f"{board}: {name} is not bit-exact against the golden model: "
                           f"{res[name]['first_difference']}")
    if profile:
        elf = build_ours(board, tables, clips, work / board / "profile", None, profile=True)
        res["profile"] = run(board, elf)["steps"]
    return res


def report(results: list[dict], source: str, fid: dict, command: str, seconds: float,
           baseline: str | None = None) -> str:
    lines = ["## MFCC front end on the target: ours vs CMSIS-DSP arm_mfcc_q15", "",
             f"`{command}` ({seconds:.0f} s)", "",
             f"Same board, same frames: every frame (49 per clip, 480 samples, 20 ms hop) of {source}; "
             "QEMU 7.2 `-icount shift=0`, SysTick, instructions (not cycles), -O2, "
             "arm-none-eabi-gcc 12. Ours: default features (512-point FFT, 40 mel 20-4000 Hz, "
             f"10 DCT, int8 out), checked bit-exact against kws.golden.mfcc on every frame. "
             f"CMSIS-DSP {CMSIS_VERSION} (PyPI sdist C): arm_mfcc_init_512_q15, same window, mel "
             "range and DCT size; its q8.7 outputs compared with the cmsisdsp Python binding."
             + (f" \"Before\": firmware/src/kws_mfcc.c as of {baseline}." if baseline else "")
             + " Flash: code = .text of the front end's objects plus the library functions they "
             "call; tables = their constants.", "",
             "| board | front end | instructions / frame, mean (min-max) | flash code | "
             "flash tables | flash total | vs host |",
             "|---|---|---|---|---|---|---|"]
    for res in results:
        b = res["board"]
        rows = [("CMSIS-DSP arm_mfcc_q15", res["cmsis"])]
        if "before" in res:
            rows.append(("ours, before", res["before"]))
        rows.append(("ours" + (", after" if "before" in res else ""), res["ours"]))
        for name, r in rows:
            f = r["flash"]
            check = (f"{r['equal']}/{r['frames']} frames equal to the Python binding (max diff "
                     f"{r['max_diff']} q8.7)" if name.startswith("CMSIS")
                     else f"{r['equal']}/{r['frames']} frames bit-exact")
            if "power_checked" in r:
                check += f", power spectra {r['power_equal']}/{r['power_checked']}"
            tables = (f"{f['tables']:,} B (FFT {f['fft_tables']:,} B)" if "fft_tables" in f
                      else f"{f['tables']:,} B")
            lines.append(f"| {b} | {name} | {r['mean']:,} ({r['min']:,}-{r['max']:,}) | "
                         f"{f['code']:,} B | {tables} | {f['total']:,} B | {check} |")
    lines.append("")
    for res in results:
        ratio = res["ours"]["mean"] / res["cmsis"]["mean"]
        text = (f"- {res['board']}: ours / CMSIS-DSP = **{ratio:.3f}x** instructions per frame, "
                f"{res['ours']['flash']['total'] / res['cmsis']['flash']['total']:.2f}x flash")
        if "before" in res:
            text += (f" (before: {res['before']['mean'] / res['cmsis']['mean']:.2f}x; "
                     f"{res['before']['mean'] / res['ours']['mean']:.2f}x faster now)")
        lines.append(text + ".")
        helpers = res["ours"]["flash"]["helpers"]
        if helpers:
            lines.append(f"  Library helpers counted in our code: {', '.join(helpers)}.")
    lines.append("- How (firmware/src/kws_mfcc.c, its opening comment): window products and the "
                 "peak in one pass; the FFT on u = 2z with twiddles scaled by 2^16 (floor(b W / "
                 "2^15) is the high word: one SMULL + SMLAL per component), butterflies with W = 1 "
                 "or -j as additions; split and power only over the bins the filters use; Thumb-2 "
                 "assembly for the FFT and split inner loops (M3 and M4), SMULBB / SMULTT and "
                 "SMLALD on the M4. Every int8 output and every power spectrum equals the golden "
                 "model's (tests/test_mfcc_fastpath.py on both boards; tests/test_features.py for "
                 "the portable C under ASan / UBSan).")
    if any(r["board"] == "mps2-an386" for r in results):
        lines.append("- CMSIS-DSP on the M4 takes its DSP-extension code paths (other C than the "
                     "portable code the Python binding runs, e.g. the radix-4 FFT's halving adds), "
                     "which round differently: hence the frames that differ from the binding "
                     "there; built for the M3 (portable paths) it equals the binding on every "
                     "frame. (The stand-in for CMSIS-Core, firmware/tests/target/peer/"
                     "cmsis_compiler.h, maps the intrinsics to ACLE; checked on the M4 against "
                     "CMSIS-DSP's own C versions in none.h on 20,000 random operands each: equal, "
                     "but for SMLALD / SMLALDX, whose C sums two products in 32 bits and "
                     "overflows.) Its mean here is within the range of /work/shared/ANCHORS.md's "
                     "64,348 for one frame.")
    lines.append(f"- SNR against each one's float model, same frames: ours "
                 f"{fid['ours_db']:.1f} dB (int8 output vs float MFCC), CMSIS-DSP "
                 f"{fid['cmsis_db']:.1f} dB (q8.7 output vs `float_reference_same_algorithm`).")
    for res in results:
        if "profile" in res:
            steps = res["profile"]
            lines.append(f"- Where ours goes on {res['board']} (per frame, mean; profiling "
                         "build, a hook call per step included): " + "; ".join(
                             f"{STEP_NAMES.get(s, f'step {s}')} {v:,}" for s, v in
                             sorted(steps.items())) + ".")
    return "\n".join(lines)


def main() -> None:
    from results import DEFAULT_ROOT, write_section
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--boards", nargs="+", default=["mps2-an386"],
                        choices=sorted(target.BOARDS))
    parser.add_argument("--baseline", metavar="REV", help="also measure kws_mfcc.c at REV")
    parser.add_argument("--profile", action="store_true", help="per-step breakdown of ours")
    parser.add_argument("--work", type=Path, default=HERE / "runs" / "mfcc_target")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    target.check_toolchain()
    started = time.perf_counter()
    tables = default_tables()
    clips, source = pick_clips(args.root, args.clips)
    results = [measure(b, tables, clips, args.work, args.baseline, args.profile)
               for b in args.boards]
    fid = fidelity(clips, tables)
    command = ".venv/bin/python bench/mfcc_target.py " + " ".join(sys.argv[1:])
    text = report(results, source, fid, command.strip(), time.perf_counter() - started,
                  args.baseline)
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", "mfcc_target", text)


if __name__ == "__main__":
    main()
