"""The firmware on a Cortex-M under QEMU: bit-exact against the golden models, instructions, sizes.

Reads:  RUN_DIR/firmware (export), data/test.npz, features/test.npz, quantize/ (golden network),
        data labels
Writes: OUT_DIR/gen/kws_target_data.{c,h}  K test clips, their golden features and logits, and
                                           the Python twin's detection events on the K clips
                                           played back to back (all in flash)
        OUT_DIR/<board>/obj/*.o, app.elf, app.map, qemu.log

The program is the target check (firmware/tests/target/check_main.c) on the board port
(firmware/ports/mps2: startup, linker script, semihosting, SysTick), linked with the library,
the generated model and tables and the application (firmware/app/kws_app.c): the sections
CHECK of firmware/sources.txt. QEMU runs it on an MPS2 board with
`-icount shift=0`: every instruction advances virtual time by 1 ns, and SysTick, clocked at the
board's 25 MHz, counts virtual time, so a tick is 40 instructions. The harness measures that ratio
itself (a run of NOPs) and reports INSTRUCTIONS, never cycles: QEMU models no pipeline, caches or
wait states, so these are executed-instruction counts, deterministic from run to run, each
measurement rounded to a multiple of the ratio.

Every target program writes its numbers to a result file (firmware/tests/common/kws_results.h,
read by kws.toolchain.results): QEMU runs in the ELF's folder and passes the file's name on the
semihosting command line; the console text is for people only.

Entry point: run_on_target(run_dir, out_dir, board, n_clips) → dict (see its docstring).
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kws.artifacts import RunDir
from kws.emit.c_arrays import c_initializer
from kws.errors import KwsError
from kws.golden.detector import detect_stream
from kws.golden.mfcc import mfcc_clips
from kws.golden.network import run_network
from kws.golden.streaming import can_stream, detect_stream_streamed
from kws.io import write_text
from kws.toolchain import sources as source_list
from kws.toolchain.results import read_results, scalars

BOARD_SECTION = "mps2"             # firmware/sources.txt: the board port every program links
PROGRAM_SECTIONS = ("tests-results", "tests-target-results")   # and its result-file writer
RESULTS_FILE = "results.kwsr"      # in the ELF's folder; named on the semihosting command line
CHECK = ("mfcc", "nn", "detector", "wakeword", "model-info", "model", "model-data", "app",
         "tests-target-check", "tests-target-check-data")
DEBIAN_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm")
INSTALL_COMMAND = "apt-get install --no-install-recommends " + " ".join(DEBIAN_PACKAGES)
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
COMMON_CFLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
                 "-ffunction-sections", "-fdata-sections"]
TIMEOUT_S = 120.0
STREAM_CHUNK = 320                 # check_main.c feeds the wake-word loop 320 samples at a time


@dataclasses.dataclass(frozen=True)
class Board:
    machine: str                   # qemu-system-arm -M
    cpu: str
    cpu_flags: tuple[str, ...]     # compile and link


BOARDS = {
    "mps2-an385": Board("mps2-an385", "Cortex-M3",
                        ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft")),
    "mps2-an386": Board("mps2-an386", "Cortex-M4F",
                        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
    "mps2-an500": Board("mps2-an500", "Cortex-M7",
                        ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16")),
}

# Object file → part of the firmware, for the size split: the part= of its section in
# firmware/sources.txt (model_data, model, kernels, mfcc, detector, port, test_data: the
# harness's test vectors, not part of a product).
PARTS = source_list.load().parts()
PORT_PART, LIB_PART = source_list.DEFAULT_PART, "lib"      # lib: newlib-nano and libgcc members


# ---------------------------------------------------------------- toolchain

def missing_tools() -> list[str]:
    """Tools (and the newlib C library) not found on this machine."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if "arm-none-eabi-gcc" not in missing:
        found = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc_nano.a"],
                               capture_output=True, text=True).stdout.strip()
        if not Path(found).is_absolute():
            missing.append("newlib (libc_nano.a)")
    return missing


def toolchain_hint(missing: list[str]) -> str:
    return (f"{', '.join(missing)} not found: the Cortex-M target check needs the Debian packages "
            f"{', '.join(DEBIAN_PACKAGES)} ({INSTALL_COMMAND})")


def check_toolchain() -> None:
    missing = missing_tools()
    if missing:
        raise KwsError(toolchain_hint(missing))


# ---------------------------------------------------------------- test vectors

def pick_clips(n_total: int, n_clips: int) -> np.ndarray:
    """n_clips indices spread evenly over the test split (it is grouped by label)."""
    if n_clips < 1:
        raise KwsError(f"target: n_clips={n_clips} must be >= 1")
    return np.unique(np.linspace(0, n_total - 1, min(n_clips, n_total)).round().astype(int))


SILENCE_RUN = 160              # samples (10 ms): a run of exact zeros this long is padding
FLOOR_NOISE_RMS = 16.0        # int16 LSB, about -66 dBFS: a quiet room through a microphone


def without_digital_silence(clips: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The clips as a microphone gives them: every run of >= SILENCE_RUN exact zeros (a 1 s
    recording's zero padding in a longer window) filled with Gaussian noise at FLOOR_NOISE_RMS,
    seeded by the clip's index. A microphone never gives exact zeros, and the front end's cost
    depends on its input (frames of zeros take far fewer instructions than a room's noise), so a
    figure measured over padding would promise an embedded team less load than a room brings."""
    out = np.array(clips, dtype=np.int16, copy=True)
    for row, seed in zip(out, np.asarray(seeds).reshape(-1)):
        zero = np.concatenate(([False], row == 0, [False]))
        edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
        noise = np.random.default_rng(int(seed)).normal(0.0, FLOOR_NOISE_RMS, len(row))
        noise = np.clip(np.round(noise), -32768, 32767).astype(np.int16)
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start >= SILENCE_RUN:
                row[start:stop] = noise[start:stop]
    return out


def expected_vectors(run_dir: Path, n_clips: int, clip_indices=None) -> dict:
    """K test clips (their zero padding filled: without_digital_silence) with the golden
    features, logits and the stream's detection events.
    clip_indices: which test clips (default: n_clips spread evenly over the split)."""
    run = RunDir(run_dir)
    test = run.split("test")
    golden_features = run.features("test")["features"]
    if len(test["audio"]) != len(golden_features) or not len(golden_features):
        raise KwsError(f"{run_dir}: data/test.npz and features/test.npz disagree "
                       f"({len(test['audio'])} vs {len(golden_features)} clips): re-run features")
    if clip_indices is None:
        index = pick_clips(len(golden_features), n_clips)
    else:
        index = np.asarray(clip_indices, dtype=int).reshape(-1)
        if not len(index) or index.min() < 0 or index.max() >= len(golden_features):
            raise KwsError(f"target: clip_indices {index.tolist()} must name test clips in "
                           f"[0, {len(golden_features)})")
    tables = run.mfcc_tables()
    clips = without_digital_silence(np.asarray(test["audio"][index], dtype=np.int16), index)
    features = mfcc_clips(clips, tables)          # the golden front end, on what the target reads
    layers = run.golden_network()
    logits = run_network(layers, features[..., None])
    pcm, settings = clips.reshape(-1), run.detector_settings()
    events = detect_stream(pcm, tables, lambda x: run_network(layers, x), settings)
    # the streaming path's twin (whole steps only); the window model's for a window network
    streamed = (detect_stream_streamed(pcm, tables, layers, features.shape[1], settings)
                if can_stream(layers) else events)
    rows = lambda ev: np.array([(e.frame_index, e.label, e.score) for e in ev],  # noqa: E731
                               dtype=np.int64).reshape(-1, 3)
    return {"index": index, "clips": clips, "features": features, "logits": logits,
            "events": rows(events), "events_streaming": rows(streamed)}


def write_test_data(vectors: dict, out_dir: Path) -> list[Path]:
    """kws_target_data.{c,h} in out_dir: the vectors as const arrays (flash). Arrays are
    written flat and declared with their shapes (row-major, as C lays them out)."""
    clips, features, logits, events, streamed = (
        vectors[k] for k in ("clips", "features", "logits", "events", "events_streaming"))
    n, samples = clips.shape
    _, frames, n_out = features.shape
    n_classes = logits.shape[1]
    n_events = len(events)
    header = f"""/* Generated by kws.toolchain.cortex_m: do not edit. Test vectors for firmware/tests/target/check_main.c:
 * test clips {vectors['index'].tolist()} of the run, the golden front end's features and the golden
 * network's logits for each, and the Python twins' detection events (frame, label, score) on
 * the clips played back to back: the window model's (kws_target_events) and the streaming
 * path's (kws_target_events_streaming: whole steps only; the same for a window network). */
#ifndef KWS_TARGET_DATA_H
#define KWS_TARGET_DATA_H

#include <stdint.h>

#define KWS_TARGET_N_CLIPS      {n}
#define KWS_TARGET_CLIP_SAMPLES {samples}
#define KWS_TARGET_CLIP_FRAMES  {frames}
#define KWS_TARGET_N_OUT        {n_out}
#define KWS_TARGET_N_CLASSES    {n_classes}
#define KWS_TARGET_N_EVENTS     {n_events}
#define KWS_TARGET_N_EVENTS_STREAMING {len(streamed)}

extern const int16_t kws_target_clips[KWS_TARGET_N_CLIPS][KWS_TARGET_CLIP_SAMPLES];
extern const int8_t kws_target_features[KWS_TARGET_N_CLIPS][KWS_TARGET_CLIP_FRAMES][KWS_TARGET_N_OUT];
extern const int8_t kws_target_logits[KWS_TARGET_N_CLIPS][KWS_TARGET_N_CLASSES];
/* [max(1, KWS_TARGET_N_EVENTS)][3]: frame_index, label, score */
extern const uint32_t kws_target_events[][3];
extern const uint32_t kws_target_events_streaming[][3];

#endif /* KWS_TARGET_DATA_H */
"""
    event_rows = events if n_events else np.zeros((1, 3), np.int64)
    streamed_rows = streamed if len(streamed) else np.zeros((1, 3), np.int64)
    source = f"""/* Generated by kws.toolchain.cortex_m: do not edit. */
#include "kws_target_data.h"

const int16_t kws_target_clips[KWS_TARGET_N_CLIPS][KWS_TARGET_CLIP_SAMPLES] = {c_initializer(clips)};

const int8_t kws_target_features[KWS_TARGET_N_CLIPS][KWS_TARGET_CLIP_FRAMES][KWS_TARGET_N_OUT] = {c_initializer(features)};

const int8_t kws_target_logits[KWS_TARGET_N_CLIPS][KWS_TARGET_N_CLASSES] = {c_initializer(logits)};

const uint32_t kws_target_events[][3] = {c_initializer(event_rows)};

const uint32_t kws_target_events_streaming[][3] = {c_initializer(streamed_rows)};
"""
    paths = [out_dir / "kws_target_data.h", out_dir / "kws_target_data.c"]
    write_text(paths[0], header)
    write_text(paths[1], source)
    return paths


# ---------------------------------------------------------------- build

def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KwsError(f"{what} failed:\n{' '.join(cmd)}\n{proc.stderr[-4000:]}")
    return proc.stdout


def compile_and_link(board: str, sources: list[Path], include_dirs: list[Path], build_dir: Path,
                     stack_bytes: int = 32768, defines: list[str] | None = None) -> Path:
    """Compile each source to build_dir/obj/<stem>.o (named objects: the map file attributes
    every byte to one) and link them with the board's linker script into build_dir/app.elf
    (+ app.map). `sources` must include the board section's (build_program adds them)."""
    check_toolchain()
    if board not in BOARDS:
        raise KwsError(f"target: unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    b = BOARDS[board]
    obj_dir = build_dir / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    flags = [*b.cpu_flags, *COMMON_CFLAGS, *(f"-D{d}" for d in defines or []),
             *(f"-I{d}" for d in include_dirs)]
    names = [s.stem for s in sources]
    if len(set(names)) != len(names):
        raise KwsError(f"target: two sources share an object name: {sorted(names)}")

    def compile_one(source: Path) -> Path:
        obj = obj_dir / f"{source.stem}.o"
        _run(["arm-none-eabi-gcc", *flags, "-c", str(source), "-o", str(obj)],
             f"compiling {source.name} for {board}")
        return obj

    with ThreadPoolExecutor(max_workers=2) as pool:
        objects = list(pool.map(compile_one, sources))
    elf, map_file = build_dir / "app.elf", build_dir / "app.map"
    # No start files (startup.c is ours); newlib-nano only for memcpy/memset/memmove.
    linker_script, = source_list.build(BOARD_SECTION).linker
    _run(["arm-none-eabi-gcc", *b.cpu_flags, "-nostartfiles", "--specs=nano.specs",
          f"-T{linker_script}", "-Wl,--gc-sections", f"-Wl,--defsym=__stack_size={stack_bytes}",
          f"-Wl,-Map={map_file}", *map(str, objects), "-o", str(elf)],
         f"linking {elf.name} for {board}")
    return elf


def build_program(board: str, sections: tuple[str, ...], build_dir: Path, *,
                  extra_sources: tuple[Path, ...] = (), extra_includes: tuple[Path, ...] = (),
                  defines: list[str] | None = None, stack_bytes: int = 32768,
                  **generated: Path) -> Path:
    """A program for `board` from sections of firmware/sources.txt (the board port and the
    result-file writer added), generated folders by key (model=..., tables=..., data=...), plus sources from outside
    firmware/ (a peer library's, or another revision's kernels: their include folders come
    first): build_dir/app.elf."""
    b = source_list.build(*sections, BOARD_SECTION, *PROGRAM_SECTIONS, **generated)
    return compile_and_link(board, [*b.sources, *extra_sources], [*extra_includes, *b.includes],
                            build_dir, stack_bytes, defines)


def build_elf(board: str, generated: Path, data_dir: Path, build_dir: Path,
              stack_bytes: int = 32768, streaming: bool | None = None) -> Path:
    """The target check over the generated files in `generated` and the test vectors in
    `data_dir`: build_dir/app.elf. streaming: the app's model path (KWS_APP_STREAMING: True the
    streaming step, False the window model; None the generated model's default)."""
    defines = [] if streaming is None else [f"KWS_APP_STREAMING={int(streaming)}"]
    return build_program(board, CHECK, build_dir, stack_bytes=stack_bytes, defines=defines,
                         model=generated, tables=generated, data=data_dir)


# ---------------------------------------------------------------- run

def qemu_command(board: str, elf: Path, icount_shift: int = 0) -> list[str]:
    """-icount shift=N: each instruction is 2^N ns of virtual time, so SysTick (25 MHz) ticks
    every 40 / 2^N instructions; N in 0..3 keeps that an integer (40, 20, 10, 5). The
    semihosting command line is "PROGRAM RESULTS_FILE" (kws_results_semihost.h)."""
    return ["qemu-system-arm", "-M", BOARDS[board].machine, "-nographic", "-monitor", "none",
            "-semihosting-config",
            f"enable=on,target=native,arg={Path(elf).name},arg={RESULTS_FILE}",
            "-icount", f"shift={icount_shift}", "-kernel", str(Path(elf).resolve())]


def results_path(elf: Path) -> Path:
    """Where the program run from `elf` writes its result file."""
    return Path(elf).parent / RESULTS_FILE


def run_qemu(board: str, elf: Path, timeout_s: float = TIMEOUT_S,
             icount_shift: int = 0) -> tuple[int, str]:
    """QEMU's exit status (the program's, through semihosting) and its output (semihosting
    console output arrives on QEMU's stderr; both streams are returned together). QEMU runs in
    the ELF's folder, where the program writes results_path(elf) (an old one is removed
    first)."""
    cmd = qemu_command(board, elf, icount_shift)
    results_path(elf).unlink(missing_ok=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout_s, cwd=Path(elf).parent)
    except subprocess.TimeoutExpired as e:
        out = "".join(x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
                      for x in (e.stdout, e.stderr))
        raise KwsError(f"target: {' '.join(cmd)} did not finish in {timeout_s:.0f} s; "
                       f"output so far:\n{out[-3000:]}") from None
    return proc.returncode, proc.stdout + proc.stderr


# report key → the target check's scalar (firmware/tests/target/check_main.c)
_CHECK_SCALARS = {
    "insn_per_tick": "insn_per_tick",
    "calibration_ticks": "calibration_ticks",
    "calibration_instructions": "calibration_instructions",
    "insn_per_mfcc_frame": "insn_per_mfcc_frame",
    "insn_per_inference": "insn_per_inference",
    "insn_one_mfcc_frame": "insn_one_mfcc_frame",
    "insn_one_inference": "insn_one_inference",
    "stack_bytes": "stack_bytes",
    "stack_reserved_bytes": "stack_reserved_bytes",
    "streaming": "streaming",
    "sample_rate": "sample_rate",
    "stream_samples": "stream_samples",
    "stream_ticks": "ticks_stream",
    "stream_ticks_warm": "ticks_stream_warm",
    "stream_inferences_warm": "inferences_warm",
    "insn_one_step": "insn_one_step",
}
M4_CLOCK_HZ = 80_000_000           # the share of an 80 MHz Cortex-M4 at 1 instruction per cycle


def check_results(arrays: dict, source: str = "target check") -> dict:
    """The report entries from the target check's result file (read_results); `source` names
    the file in errors."""
    v = scalars(arrays, ["clips", "clips_bitexact", "events_expected", "events_found",
                         "events_equal", "inferences", *_CHECK_SCALARS.values()], source)
    out = {"bitexact_clips": v["clips_bitexact"], "total_clips": v["clips"],
           "stream_events_equal": v["events_equal"] == v["events_expected"] == v["events_found"],
           "stream_events": v["events_expected"], "stream_inferences": v["inferences"]}
    out.update({key: v[name] for key, name in _CHECK_SCALARS.items()})
    out["streaming"] = bool(out["streaming"])
    out.update(stream_figure(out))
    return out


def stream_figure(r: dict) -> dict:
    """Instructions per second of audio, measured: the instructions of the whole wake-word loop
    (audio ring, front end, model, recogniser) over a pass of the clip stream, times the sample
    rate over the pass's samples. The warm pass (the loop already running: no warm-up inside) is
    the always-on figure; the first pass (from the start, the first window filling) beside it.
    The share of an 80 MHz Cortex-M4 at one instruction per cycle: a lower bound (cycles >=
    instructions: QEMU models no pipeline stalls, wait states or multi-cycle instructions)."""
    seconds = r["stream_samples"] / r["sample_rate"]
    per_s = round(r["stream_ticks_warm"] * r["insn_per_tick"] / seconds)
    return {"stream_seconds_measured": seconds,
            "insn_per_second_of_audio": per_s,
            "insn_per_second_of_audio_first_pass": round(r["stream_ticks"] * r["insn_per_tick"]
                                                         / seconds),
            "share_of_80mhz_m4_lower_bound": round(per_s / M4_CLOCK_HZ, 4)}


# ---------------------------------------------------------------- sizes

def section_sizes(elf: Path) -> dict[str, int]:
    """`arm-none-eabi-size -A`: section name → bytes."""
    sizes = {}
    for line in _run(["arm-none-eabi-size", "-A", str(elf)], "arm-none-eabi-size").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


_INPUT_SECTION = re.compile(
    r"^ (?P<sec>\.[^\s*]+|COMMON)\s+0x(?P<addr>[0-9a-f]+)\s+0x(?P<size>[0-9a-f]+)\s+(?P<obj>\S[^\n]*)$",
    re.MULTILINE)


def _part_of(obj: str) -> str:
    if ".a(" in obj:
        return LIB_PART
    return PARTS.get(Path(obj).name, PORT_PART)


def objects_from_map(map_file: Path) -> dict[str, dict[str, int]]:
    """Bytes per linked object from the linker map (sections kept after --gc-sections): object
    (its file name; library members as "libx.a(member.o)") → {"flash": text + rodata + data,
    "ram": data + bss}."""
    text = map_file.read_text()
    start = text.find("Linker script and memory map")
    if start < 0:
        raise KwsError(f"{map_file}: not a GNU ld map file")
    objects: dict[str, dict[str, int]] = {}
    for m in _INPUT_SECTION.finditer(text, start):
        sec, size = m.group("sec"), int(m.group("size"), 16)
        if size == 0:
            continue
        flash = sec.startswith((".text", ".rodata", ".vectors", ".ARM.ex", ".data", ".glue",
                                ".vfp11", ".v4_bx"))
        ram = sec.startswith((".data", ".bss")) or sec == "COMMON"
        if not (flash or ram):
            continue                                    # debug info, comments, attributes
        obj = m.group("obj")
        entry = objects.setdefault(obj if ".a(" in obj else Path(obj).name, {"flash": 0, "ram": 0})
        entry["flash"] += size if flash else 0
        entry["ram"] += size if ram else 0
    return objects


def parts_from_map(map_file: Path) -> dict[str, dict[str, int]]:
    """Bytes per part (PARTS; newlib and libgcc members: "lib"; anything else: "port"):
    part → {"flash": ..., "ram": ...} as objects_from_map."""
    parts: dict[str, dict[str, int]] = {}
    for obj, size in objects_from_map(map_file).items():
        entry = parts.setdefault(_part_of(obj), {"flash": 0, "ram": 0})
        entry["flash"] += size["flash"]
        entry["ram"] += size["ram"]
    return parts


def memory_report(elf: Path, map_file: Path, stack_used: int | None) -> dict:
    sections = section_sizes(elf)
    flash_sections = (".vectors", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data")
    flash_total = sum(sections.get(s, 0) for s in flash_sections)
    parts = parts_from_map(map_file)
    test_data = parts.get("test_data", {"flash": 0, "ram": 0})
    data_bss = sections.get(".data", 0) + sections.get(".bss", 0)
    return {"flash_bytes": flash_total - test_data["flash"],
            "flash_bytes_with_test_data": flash_total,
            "ram_bytes": data_bss - test_data["ram"] + (stack_used or 0),
            "ram_static_bytes": data_bss - test_data["ram"],
            "sections": sections,
            "parts": dict(sorted(parts.items()))}


# ---------------------------------------------------------------- entry point

def run_on_target(run_dir: Path, out_dir: Path, board: str = "mps2-an386", n_clips: int = 8,
                  timeout_s: float = TIMEOUT_S, clip_indices=None) -> dict:
    """Build the exported firmware of `run_dir` for `board`, run it under QEMU and check it.

    Returns: board, cpu, clip_indices, bitexact_clips, total_clips, stream_events (expected
    count), stream_events_equal, stream_inferences, streaming (the app's path: the generated
    model's default), insn_per_second_of_audio (stream_figure: measured over the clip stream,
    warm) and insn_per_second_of_audio_window (the window path's, from a second check built with
    KWS_APP_STREAMING=0 when the network streams, whose WINDOW_KEYS are under "window"; else
    the same figure), share_of_80mhz_m4_lower_bound, insn_per_mfcc_frame and insn_per_inference
    (means over every frame / inference of the K clips; insn_one_mfcc_frame and
    insn_one_inference: one call alone), insn_per_tick (measured: 40 under -icount shift=0),
    stack_bytes (high-water) and stack_reserved_bytes, flash_bytes (text + rodata + data,
    without the embedded test vectors; flash_bytes_with_test_data: the whole ELF), ram_bytes
    (data + bss without the test vectors + stack high-water), parts (flash/ram per part: model_data,
    model, kernels, mfcc, detector, port, lib, test_data), exit_status, seconds, elf.
    clip_indices: test clips to embed instead of n_clips spread evenly over the split.
    Raises KwsError when the toolchain is missing, the build fails or QEMU times out; a
    mismatch is reported in the dict (bitexact_clips < total_clips, exit_status 1), not raised."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    generated = run_dir / "firmware"
    if not (generated / "kws_model.c").exists():
        raise KwsError(f"{generated}/kws_model.c is missing: run the export stage first")
    check_toolchain()
    if board not in BOARDS:
        raise KwsError(f"target: unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    started = time.perf_counter()
    vectors = expected_vectors(run_dir, n_clips, clip_indices)
    data_dir = out_dir / "gen"
    write_test_data(vectors, data_dir)
    build_dir = out_dir / board
    result = _run_check(board, generated, data_dir, build_dir, timeout_s, None)
    if result["streaming"]:
        # the window model in the same run: the same check on the window path
        window = _run_check(board, generated, data_dir, build_dir / "window", timeout_s, False)
        result["window"] = {k: window[k] for k in WINDOW_KEYS}
        result["insn_per_second_of_audio_window"] = window["insn_per_second_of_audio"]
    else:
        result["insn_per_second_of_audio_window"] = result["insn_per_second_of_audio"]
    result.update({"board": board, "cpu": BOARDS[board].cpu,
                   "clip_indices": vectors["index"].tolist(),
                   "seconds": round(time.perf_counter() - started, 1)})
    return result


# what run_on_target reports of the window path's check beside a streaming network's
WINDOW_KEYS = ("exit_status", "bitexact_clips", "total_clips", "stream_events_equal",
               "stream_events", "stream_inferences", "stream_inferences_warm",
               "insn_per_second_of_audio", "insn_per_second_of_audio_first_pass",
               "share_of_80mhz_m4_lower_bound", "insn_one_inference", "insn_per_inference",
               "insn_per_mfcc_frame", "flash_bytes", "ram_bytes", "ram_static_bytes", "stack_bytes", "parts", "elf")


def _run_check(board: str, generated: Path, data_dir: Path, build_dir: Path, timeout_s: float,
               streaming: bool | None) -> dict:
    """Build (build_elf), run and read one target check, with its memory report."""
    elf = build_elf(board, generated, data_dir, build_dir, streaming=streaming)
    status, text = run_qemu(board, elf, timeout_s)
    write_text(build_dir / "qemu.log", text)
    if status not in (0, 1):
        raise KwsError(f"target: {board} exited with status {status} (2: a kernel or loop "
                       f"error, 3: a fault); see {build_dir / 'qemu.log'}:\n{text[-3000:]}")
    result = check_results(read_results(results_path(elf)))
    result.update(memory_report(elf, build_dir / "app.map", result.get("stack_bytes")))
    result.update({"exit_status": status, "elf": str(elf)})
    return result


def summarize(entry: dict) -> str:
    return (f"{entry.get('board')} ({entry.get('cpu')}): {entry.get('bitexact_clips')}/"
            f"{entry.get('total_clips')} clips bit-exact, "
            f"{entry.get('insn_per_second_of_audio')} instructions per second of audio "
            f"({'streaming' if entry.get('streaming') else 'window'} path; window model "
            f"{entry.get('insn_per_second_of_audio_window')}), "
            f"{entry.get('insn_per_mfcc_frame')} instructions per MFCC frame, "
            f"{entry.get('insn_per_inference')} per inference, flash {entry.get('flash_bytes')} B, "
            f"RAM {entry.get('ram_bytes')} B (stack {entry.get('stack_bytes')} B)")
