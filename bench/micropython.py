"""The MicroPython package (kws.emit.micropython) against the CPython golden model: speed, RAM
and size.

    .venv/bin/python bench/micropython.py RUN [RUN ...] [--clips 3] [--stream-seconds 4]
        [--qemu [pure viper native]] [--no-write]

RUN: a run directory through the export stage (RUN/firmware/micropython/). For each run:

1. Unix port (x86-64 host; kws.toolchain.micropython builds it from ../shared/vendor): the
   package with the pure kernels, the viper/native ones (kernels_viper.py) and the C native
   module (kws_native.mpy, built for x64 from the run's tables) runs tests/micropython_check.py
   on `--clips` test clips and a `--stream-seconds` stream: microseconds per frame (front end),
   per window inference (the network alone, on a clip), per loop inference (on the stream: a
   window inference or a streaming step, with the recogniser) and per second of audio in steady
   state (frames/s x frame + inferences/s x loop inference, at the run's cadence). Every output
   is compared with the golden models (kws.toolchain.micropython.golden_results): a row says
   "equal" only if all are.
2. CPython: the golden models (numpy, vectorised: one clip's frames per call, one window per
   network call, detect_stream on the stream) and the package's pure kernels under CPython.
3. --qemu: the package frozen into the MPS2_AN385 (Cortex-M3) firmware, kws_native.mpy (armv7m)
   in its ROM file system, under QEMU -icount shift=0 (one instruction = 1 ns of virtual time,
   so time.ticks_us() counts thousands of instructions): the same columns in instructions, on
   one clip and a two-second stream. Real time on a 133 MHz RP2040-class core is judged as
   instructions per second of audio < 133 M, i.e. assuming one instruction per cycle and that
   the Cortex-M0+ needs no more instructions than the M3 (it needs more: no 32x32->64 multiply,
   Thumb-1 only), so "no" is certain and "yes" an upper bound on what fits.
   Beside them, our C on the same board (mps2-an385) and model: the firmware stage's check
   (kws.toolchain.cortex_m.run_on_target, firmware/tests/target/check_main.c, -O2, 8 test
   clips), its instructions per MFCC frame, per window inference (kws_model_invoke; for a
   streaming network the window path's own build), per loop inference (the model call of the
   loop's path: kws_model_invoke, or one kws_model_step; without the recogniser) and per second
   of audio (the whole loop measured over the clips' stream, warm); RAM: its static data + bss
   + stack high-water (no GC heap); "equal": every clip and stream event bit-exact.
RAM: gc.mem_free() before and after making the loop (WakeWord) and a window network (the
package's objects and scratch; frozen code and constants stay in flash). Size: the package's
.py files, and each compiled by mpy-cross for armv6m (RP2040), plus kws_native.mpy for armv6m.
Writes the "micropython" section of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kws.artifacts import RunDir  # noqa: E402
from kws.golden.detector import detect_stream  # noqa: E402
from kws.golden.mfcc import frame_clips, mfcc_frames  # noqa: E402
from kws.golden.network import run_network  # noqa: E402
from kws.golden.streaming import can_stream, detect_stream_streamed  # noqa: E402
from kws.toolchain import micropython as mp  # noqa: E402

CHUNK = 700
KEYS = ("features", "logits", "slogits", "events")


def equal(got: dict, want: dict) -> bool:
    return all(got[k] == want[k] for k in KEYS)


def best_of(fn, n=3) -> float:
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def golden_cpython(run: RunDir, clips, stream) -> dict:
    tables, layers, settings = run.mfcc_tables(), run.golden_network(), run.detector_settings()
    frames = tables.frames_per_clip
    t_feat = best_of(lambda: [mfcc_frames(frame_clips(c, tables), tables, threads=1)
                              for c in clips]) / (len(clips) * frames)
    x = mfcc_frames(frame_clips(clips[0], tables), tables, threads=1)[None, ..., None]
    t_net = best_of(lambda: run_network(layers, x))
    if can_stream(layers):
        t_stream = best_of(lambda: detect_stream_streamed(stream, tables, layers, frames,
                                                          settings), 1)
    else:
        t_stream = best_of(lambda: detect_stream(stream, tables,
                                                 lambda v: run_network(layers, v), settings), 1)
    return {"frame": t_feat * 1e6, "inference": t_net * 1e6,
            "second": t_stream * 1e6 / (len(stream) / tables.sample_rate)}


def per_unit(res: dict, frames: int, loop: dict, scale: float = 1.0) -> dict:
    """Per frame, per window inference (a clip) and, from the stream, per loop inference (a
    window inference, or a streaming step: (stream time - its frames' cost) / its inferences)
    and per second of audio in steady state: frames/s x frame + inferences/s x loop inference
    (the first second of a stream fills the window: no inference yet, so the stream's own
    mean would understate it)."""
    t = res["time"]
    frame = t["clip_features"] / frames * scale
    step = (t["stream"] * scale - loop["frames"] * frame) / max(1, loop["inferences"])
    return {"frame": frame, "inference": t["window_inference"] * scale, "step": step,
            "second": loop["frame_rate"] * frame + loop["frame_rate"] / loop["cadence"] * step,
            "ram": res["mem"].get("loaded")}


def loop_counts(run: RunDir, stream, want: dict) -> dict:
    from kws.golden.detector import n_stream_frames
    tables = run.mfcc_tables()
    return {"frames": n_stream_frames(len(stream), tables), "inferences": len(want["slogits"]),
            "frame_rate": tables.sample_rate / tables.stride,
            "cadence": run.detector_settings().infer_every}


def sizes(package: Path, tree: Path, work: Path, run_dir: Path) -> dict:
    files = sorted((package / "kws_mp").glob("*.py"))
    py = {f.name: f.stat().st_size for f in files}
    cross = tree / "mpy-cross" / "build" / "mpy-cross"
    work.mkdir(parents=True, exist_ok=True)
    mpy = {}
    for f in files:
        out = work / (f.stem + ".mpy")
        subprocess.run([str(cross), "-march=armv6m", "-o", str(out), str(f)], check=True)
        mpy[f.name] = out.stat().st_size
    native = mp.build_native(run_dir / "firmware", "armv6m", work / "armv6m" / "kws_native.mpy")
    return {"py": py, "mpy": mpy, "native_armv6m": native.stat().st_size}


def bench_run(run_dir: Path, n_clips: int, stream_seconds: float, qemu: list[str]) -> dict:
    run = RunDir(run_dir)
    tables = run.mfcc_tables()
    frames = tables.frames_per_clip
    audio = run.split("test")["audio"]
    clips = audio[:n_clips]
    stream = np.concatenate(audio[:int(np.ceil(stream_seconds)) + 1])[
        :int(stream_seconds * tables.sample_rate)]
    package = run.export / "micropython"
    want = mp.golden_results(run_dir, clips, stream)
    loop = loop_counts(run, stream, want)
    out = {"run": str(run_dir), "streaming": can_stream(run.golden_network()),
           "inferences": len(want["slogits"]), "events": len(want["events"]),
           "golden": golden_cpython(run, clips, stream), "unix": {}, "qemu": {}}
    with tempfile.TemporaryDirectory(prefix="kws-bench-mp-") as tmp:
        tmp = Path(tmp)
        native_pkg = tmp / "native_pkg"
        shutil.copytree(package, native_pkg)
        mp.build_native(run.export, "x64", native_pkg / "kws_native.mpy")
        res = mp.run_check(package, tmp / "in", clips, stream, CHUNK, "pure", "cpython")
        out["cpython_pure"] = dict(per_unit(res, frames, loop), equal=equal(res, want))
        for variant, pkg in (("pure", package), ("viper", package), ("native", native_pkg)):
            res = mp.run_check(pkg, tmp / "in", clips, stream, CHUNK, variant, "unix")
            out["unix"][variant] = dict(per_unit(res, frames, loop), equal=equal(res, want))
        out["size"] = sizes(package, mp.sources(), tmp / "mpy", run_dir)
        if qemu:
            out["qemu"] = bench_qemu(run_dir, package, audio, tables, tmp / "qemu", qemu)
            out["c_m3"] = bench_c(run_dir, tmp / "c")
    return out


def bench_qemu(run_dir: Path, package: Path, audio, tables, work: Path,
               variants: list[str]) -> dict:
    clips = audio[:1]
    stream = np.concatenate(audio[:3])[:2 * tables.sample_rate]
    want = mp.golden_results(run_dir, clips, stream)
    loop = loop_counts(RunDir(run_dir), stream, want)
    inputs = work / "frozen"
    mp.write_inputs(inputs, clips, stream, CHUNK, None)
    shutil.copy(mp.CHECK_SCRIPT, inputs / "kws_check.py")
    elf = mp.build_qemu([package, inputs], work / "fw")
    rom = work / "rom"
    mp.build_native(Path(run_dir) / "firmware", "armv7m", rom / "kws_native.mpy")
    image = mp.make_romfs(rom, work / "romfs.img")
    out = {}
    for variant in variants:
        text = mp.run_qemu(elf, f"import kws_mp_input as i; i.KERNELS = {variant!r}; "
                                "import kws_check", romfs=image)
        res = mp.parse_output(text)
        # ticks_us under -icount shift=0: 1 us = 1,000 instructions
        out[variant] = dict(per_unit(res, tables.frames_per_clip, loop, 1000.0),
                            equal=equal(res, want))
    return out


C_BOARD = "mps2-an385"         # MicroPython's QEMU board: the same Cortex-M3


def bench_c(run_dir: Path, work: Path) -> dict:
    """Our C on the Cortex-M3: the firmware stage's check, in the table's columns."""
    from kws.toolchain.cortex_m import run_on_target
    r = run_on_target(run_dir, work, board=C_BOARD)
    window = r.get("window", r)              # a streaming network's window-path build
    return {"frame": r["insn_per_mfcc_frame"], "inference": window["insn_per_inference"],
            "step": r["insn_one_step"] if r["streaming"] else r["insn_per_inference"],
            "second": r["insn_per_second_of_audio"], "ram_static": r["ram_bytes"],
            "equal": r["bitexact_clips"] == r["total_clips"] and r["stream_events_equal"]
            and window["bitexact_clips"] == window["total_clips"]}


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


def report(results: list[dict], command: str) -> str:
    lines = [f"`{command}`", ""]
    for r in results:
        g = r["golden"]
        kind = "streaming" if r["streaming"] else "window"
        lines += [f"**{r['run']}** ({kind} network; stream: {r['inferences']} inferences, "
                  f"{r['events']} events)", "",
                  "| where | kernels | µs / frame | µs / window inference | µs / loop inference "
                  "| µs / s of audio | RAM (gc) | outputs vs golden |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| CPython 3.11 | golden (numpy) | {fmt(g['frame'], 1)} | "
                  f"{fmt(g['inference'], 1)} | – | {fmt(g['second'])} (whole stream, "
                  "vectorised) | – | (the reference) |"]
        c = r["cpython_pure"]
        lines.append(f"| CPython 3.11 | kws_mp pure | {fmt(c['frame'])} | {fmt(c['inference'])}"
                     f" | {fmt(c['step'])} | {fmt(c['second'])} | – | "
                     f"{'equal' if c['equal'] else 'DIFFERENT'} |")
        for variant, u in r["unix"].items():
            lines.append(f"| MicroPython Unix (x86-64) | {variant} | {fmt(u['frame'])} | "
                         f"{fmt(u['inference'])} | {fmt(u['step'])} | {fmt(u['second'])} | "
                         f"{fmt(u['ram'])} B | "
                         f"{'equal' if u['equal'] else 'DIFFERENT'} |")
        if r["qemu"]:
            lines += ["", "| QEMU MPS2_AN385 (Cortex-M3), frozen | instructions / frame | "
                      "/ window inference | / loop inference | / s of audio | RAM (gc) | "
                      "outputs vs golden | real time at 133 M instructions/s? |",
                      "|---|---|---|---|---|---|---|---|"]
            for variant, q in r["qemu"].items():
                ok = q["second"] is not None and q["second"] < 133e6
                lines.append(f"| {variant} | {fmt(q['frame'])} | {fmt(q['inference'])} | "
                             f"{fmt(q['step'])} | {fmt(q['second'])} | {fmt(q['ram'])} B | "
                             f"{'equal' if q['equal'] else 'DIFFERENT'} | "
                             f"{'yes' if ok else 'no'} ({q['second'] / 133e6:.2f} s per s) |")
            c = r.get("c_m3")
            if c:
                ok = c["second"] < 133e6
                lines.append(f"| our C (-O2, firmware stage check) | {fmt(c['frame'])} | "
                             f"{fmt(c['inference'])} | {fmt(c['step'])} (model call) | "
                             f"{fmt(c['second'])} | {fmt(c['ram_static'])} B static + stack | "
                             f"{'equal' if c['equal'] else 'DIFFERENT'} | "
                             f"{'yes' if ok else 'no'} ({c['second'] / 133e6:.3f} s per s) |")
        s = r["size"]
        lines += ["", f"Package: {sum(s['py'].values()):,} B of .py ("
                  + ", ".join(f"{k} {v:,}" for k, v in s["py"].items())
                  + f"); compiled by mpy-cross -march=armv6m {sum(s['mpy'].values()):,} B; "
                  f"kws_native.mpy (armv6m) {s['native_armv6m']:,} B.", ""]
    return "\n".join(lines)


def main() -> None:
    from results import write_section
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--stream-seconds", type=float, default=4.0)
    parser.add_argument("--qemu", nargs="*", choices=["pure", "viper", "native"],
                        help="also on QEMU's Cortex-M3, these kernels (none given: all three)")
    parser.add_argument("--section", default="micropython",
                        help="the marker section of bench/RESULTS.md to write")
    parser.add_argument("--title", default="MicroPython target",
                        help="the section's heading")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    qemu = [] if args.qemu is None else (args.qemu or ["pure", "viper", "native"])
    results = [bench_run(r, args.clips, args.stream_seconds, qemu) for r in args.runs]
    text = report(results, "python bench/micropython.py " + " ".join(sys.argv[1:]))
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", args.section, f"## {args.title}\n\n" + text)


if __name__ == "__main__":
    main()
