"""MicroPython for tests and bench: the Unix port and the QEMU Cortex-M3 port, built from the
vendored tarball (../shared/vendor/micropython-1c3c201.tar.gz, see its README), never from the
network, and run on a kws_mp package (kws.emit.micropython).

build_unix() extracts the sources into ~/.cache/kws/micropython/<tarball sha256[:16]>/ (or
$KWS_CACHE_DIR) once and builds mpy-cross and the Unix port there (about a minute on 2 cores);
later calls reuse them. build_qemu() builds the MPS2_AN385 (Cortex-M3) firmware with a manifest
that freezes the given folders into it, in its own build folder. Both use the sources as they
are: nothing in the tarball is changed.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from kws.errors import KwsError

ROOT = Path(__file__).resolve().parents[2]
TARBALL = ROOT.parent / "shared" / "vendor" / "micropython-1c3c201.tar.gz"
SOURCE_DIR = "micropython-1c3c201"
# Parts that need git submodules the tarball does not have (its README).
UNIX_FLAGS = ["MICROPY_PY_BTREE=0", "MICROPY_PY_FFI=0", "MICROPY_PY_SSL=0", "MICROPY_SSL_AXTLS=0",
              "MICROPY_SSL_MBEDTLS=0"]
QEMU_BOARD = "MPS2_AN385"
QEMU_MACHINE = "mps2-an385"
DONE = "KWS-DONE"


def missing() -> str | None:
    """Why MicroPython cannot be built here (a reason to skip), or None."""
    if not TARBALL.is_file():
        return f"{TARBALL} not found (the vendored MicroPython sources)"
    for tool in ("make", os.environ.get("CC", "gcc")):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install build-essential)"
    return None


def qemu_missing() -> str | None:
    """Why the QEMU Cortex-M3 port cannot be built and run here, or None."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return (f"{tool} not found (apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm; `make toolchain` as root)")
    return missing()


def cache_root() -> Path:
    base = Path(os.environ.get("KWS_CACHE_DIR", "~/.cache/kws")).expanduser()
    digest = hashlib.sha256(TARBALL.read_bytes()).hexdigest()[:16]
    return base / "micropython" / digest


def _make(args: list[str], cwd: Path, what: str, timeout: float = 1800) -> None:
    proc = subprocess.run(["make", "-j2", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode:
        raise KwsError(f"{what} failed (make {' '.join(args)} in {cwd}):\n{proc.stdout[-2000:]}"
                       f"\n{proc.stderr[-3000:]}")


def sources() -> Path:
    """The extracted tree (extracted once per tarball, into a temp folder then renamed)."""
    reason = missing()
    if reason:
        raise KwsError(f"cannot build MicroPython: {reason}")
    root = cache_root()
    tree = root / SOURCE_DIR
    if not tree.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".extract-"))
        with tarfile.open(TARBALL) as tar:
            tar.extractall(tmp, filter="data")
        try:
            (tmp / SOURCE_DIR).rename(tree)
        except OSError:
            if not tree.is_dir():
                raise
        shutil.rmtree(tmp, ignore_errors=True)
    return tree


def build_unix() -> Path:
    """The Unix port's `micropython` (and mpy-cross), built once per tarball."""
    tree = sources()
    binary = tree / "ports" / "unix" / "build-standard" / "micropython"
    if not binary.is_file():
        _make([], tree / "mpy-cross", "building mpy-cross")
        _make([*UNIX_FLAGS, "FROZEN_MANIFEST="], tree / "ports" / "unix",
              "building the MicroPython Unix port")
    return binary


def run_unix(script: Path, path: list[Path], timeout: float = 600,
             heap: str = "16M") -> str:
    """Run `script` under the Unix port with `path` as its module search path; its output.
    Raises KwsError unless it exits 0."""
    binary = build_unix()
    env = dict(os.environ, MICROPYPATH=":".join(str(p) for p in path))
    proc = subprocess.run([str(binary), "-X", f"heapsize={heap}", str(script)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise KwsError(f"micropython {script} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                       f"\n{proc.stderr[-3000:]}")
    return proc.stdout


QEMU_HEAP = 192 * 1024   # the GC heap: about what MicroPython has on an RP2040 (264 KB of RAM)


def build_qemu(frozen: list[Path], build_dir: Path, heap: int = QEMU_HEAP) -> Path:
    """firmware.elf of the QEMU MPS2_AN385 (Cortex-M3) port with the folders `frozen` frozen
    in (each a folder of modules and packages, as MicroPython's manifest freeze() takes) and a
    GC heap of `heap` bytes (the port's make variable MICROPY_HEAP_SIZE; its default 140 KB)."""
    reason = qemu_missing()
    if reason:
        raise KwsError(f"cannot build the MicroPython QEMU port: {reason}")
    tree = sources()
    if not (tree / "mpy-cross" / "build" / "mpy-cross").is_file():
        _make([], tree / "mpy-cross", "building mpy-cross")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    manifest = build_dir / "manifest.py"
    # A folder holding the kws_mp package freezes that package only (a kws_native.mpy beside
    # it is native code for some board, which cannot be frozen); other folders whole.
    manifest.write_text("".join(
        f"package('kws_mp', base_path={str(Path(f).resolve())!r})\n"
        if (Path(f) / "kws_mp").is_dir() else f"freeze({str(Path(f).resolve())!r})\n"
        for f in frozen))
    # Freezing insists on micropython-lib (a submodule the tarball leaves out) being present,
    # though this manifest require()s nothing from it: an empty stand-in folder.
    no_lib = build_dir / "no-micropython-lib"
    no_lib.mkdir(exist_ok=True)
    (no_lib / "README.md").write_text("Empty: the manifest uses nothing from micropython-lib.\n")
    _make([f"BOARD={QEMU_BOARD}", f"BUILD={build_dir / 'build'}", f"MPY_LIB_DIR={no_lib}",
           f"MICROPY_HEAP_SIZE={int(heap)}",
           f"FROZEN_MANIFEST={manifest}"], tree / "ports" / "qemu",
          "building the MicroPython QEMU port", timeout=3600)
    return build_dir / "build" / "firmware.elf"


def make_romfs(folder: Path, image: Path) -> Path:
    """A ROMFS image of `folder` (MicroPython's own writer, tools/mpremote/mpremote/romfs.py)
    for the QEMU port's ROM partition, which it mounts at /rom (on sys.path): how a native
    module (.mpy), which cannot be frozen, reaches the firmware."""
    import contextlib
    import io
    import sys

    tools = str(sources() / "tools" / "mpremote")
    sys.path.insert(0, tools)
    try:
        from mpremote.romfs import make_romfs as writer
        with contextlib.redirect_stdout(io.StringIO()):
            data = writer(str(folder), mpy_cross=False)
    finally:
        sys.path.remove(tools)
    Path(image).write_bytes(data)
    return Path(image)


ROMFS_ADDRESS = 0x21000000      # MPS2_AN385's MICROPY_HW_ROMFS_PART0_START


def run_qemu(elf: Path, code: str, timeout: float = 1800, icount: bool = True,
             romfs: Path | None = None) -> str:
    """Type `code` (one line, e.g. "import kws_check") at the REPL of the firmware under QEMU and
    return what it prints up to DONE. With icount, every instruction is 1 ns of virtual time
    (-icount shift=0), so time.ticks_us() counts thousands of instructions. romfs: an image
    (make_romfs) loaded into the ROM partition."""
    rom = (["-device", f"loader,file={Path(romfs).resolve()},addr={ROMFS_ADDRESS:#x},"
            "force-raw=on"] if romfs else [])
    cmd = ["qemu-system-arm", "-machine", QEMU_MACHINE, "-nographic", "-monitor", "null",
           "-semihosting", *(["-icount", "shift=0"] if icount else []), *rom,
           "-kernel", str(elf)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(
        lambda: proc.stdout.read1(65536), b"")), daemon=True)
    reader.start()
    proc.stdin.write((code + "\r\n").encode())
    proc.stdin.flush()
    deadline = time.monotonic() + timeout
    prompt = b"\n>>> "                  # back at the prompt: finished, or failed
    while time.monotonic() < deadline and proc.poll() is None:
        text = b"".join(chunks)
        if DONE.encode() in text or text.count(prompt) >= 2:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    reader.join(5)
    text = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    if DONE not in text:
        raise KwsError(f"MicroPython under QEMU did not finish ({' '.join(cmd)}):\n"
                       f"{text[-3000:]}")
    return text[:text.index(DONE)]


# ---------------------------------------------------------------- tests/micropython_check.py

CHECK_SCRIPT = ROOT / "tests" / "micropython_check.py"


def write_inputs(folder: Path, clips, stream, chunk: int, kernels: str | None = None) -> Path:
    """kws_mp_input.py in `folder`: int16 clips [N, S] and a stream [S] as little-endian bytes,
    the samples per push and the kernel variant (None: the package's choice)."""
    import numpy as np

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clips_src = ",\n    ".join(repr(np.asarray(c, dtype="<i2").tobytes()) for c in clips)
    stream_bytes = repr(np.asarray(stream, dtype="<i2").tobytes()) if stream is not None else "b''"
    (folder / "kws_mp_input.py").write_text(
        "# Generated by kws.toolchain.micropython.write_inputs.\n"
        f"CLIPS = (\n    {clips_src},\n)\nSTREAM = {stream_bytes}\nCHUNK = {int(chunk)}\n"
        f"KERNELS = {kernels!r}\n")
    return folder / "kws_mp_input.py"


def parse_output(text: str) -> dict:
    """micropython_check.py's lines → {"features": {clip: bytes}, "logits": {clip: bytes},
    "slogits": [(frame, bytes)], "events": [(frame, label, score)], "time": {...},
    "mem": {...}}."""
    out = {"features": {}, "logits": {}, "slogits": [], "events": [], "time": {}, "mem": {}}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] not in ("features", "logits", "slogits", "event", "time",
                                              "mem"):
            continue
        kind = parts[0]
        if kind in ("features", "logits"):
            out[kind][int(parts[1])] = bytes.fromhex(parts[2])
        elif kind == "slogits":
            out["slogits"].append((int(parts[1]), bytes.fromhex(parts[2])))
        elif kind == "event":
            out["events"].append(tuple(int(p) for p in parts[1:4]))
        else:
            out[kind][parts[1]] = int(parts[2])
    return out


def golden_results(run_dir: Path, clips, stream) -> dict:
    """What micropython_check.py must print for these inputs, from the golden models: every
    clip's features and window-model logits, and the loop's inferences and events on the
    stream (detect_stream, or detect_stream_streamed for a streaming network)."""
    import numpy as np

    from kws.artifacts import RunDir
    from kws.golden.detector import Recognizer, stream_logits
    from kws.golden.mfcc import mfcc_clips
    from kws.golden.network import run_network
    from kws.golden.streaming import can_stream, stream_logits_streamed

    run = RunDir(run_dir)
    tables, layers, settings = run.mfcc_tables(), run.golden_network(), run.detector_settings()
    clips = np.asarray(clips, dtype=np.int16)
    features = mfcc_clips(clips, tables)
    logits = run_network(layers, features[..., None])
    out = {"features": {i: f.tobytes() for i, f in enumerate(features)},
           "logits": {i: v.tobytes() for i, v in enumerate(logits)}, "slogits": [],
           "events": []}
    if stream is not None:
        stream = np.asarray(stream, dtype=np.int16)
        if can_stream(layers):
            ts, sl = stream_logits_streamed(stream, tables, layers, tables.frames_per_clip)
        else:
            ts, sl = stream_logits(stream, tables, lambda x: run_network(layers, x),
                                   settings.n_classes, settings.infer_every)
        out["slogits"] = [(int(t), v.tobytes()) for t, v in zip(ts, sl)]
        out["events"] = [(e.frame_index, e.label, e.score)
                         for e in Recognizer(settings).push(ts, sl)]
    return out


def run_check(package: Path, work: Path, clips, stream, chunk: int, kernels: str | None,
              runner: str = "unix") -> dict:
    """micropython_check.py on `package` (the folder holding kws_mp/) under `runner`
    ("cpython" or "unix"), inputs written to `work`; its parsed output."""
    write_inputs(work, clips, stream, chunk, kernels)
    if runner == "unix":
        return parse_output(run_unix(CHECK_SCRIPT, [Path(package), Path(work)]))
    import sys
    env = dict(os.environ, PYTHONPATH=f"{package}{os.pathsep}{work}")
    proc = subprocess.run([sys.executable, str(CHECK_SCRIPT)], env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode:
        raise KwsError(f"{CHECK_SCRIPT} under CPython failed:\n{proc.stderr[-3000:]}")
    return parse_output(proc.stdout)


# ---------------------------------------------------------------- the native module

NATIVE_ARCHS = {"x64": "gcc", "armv6m": "arm-none-eabi-gcc", "armv7m": "arm-none-eabi-gcc",
                "armv7emsp": "arm-none-eabi-gcc"}


def native_missing(arch: str) -> str | None:
    """Why kws_native.mpy cannot be built for `arch` here, or None."""
    if arch not in NATIVE_ARCHS:
        return f"arch {arch!r}: expected one of {sorted(NATIVE_ARCHS)}"
    if shutil.which(NATIVE_ARCHS[arch]) is None:
        return f"{NATIVE_ARCHS[arch]} not found"
    try:
        import ar  # noqa: F401      tools/mpy_ld.py needs pyelftools, and ar for libgcc
        import elftools  # noqa: F401
    except ImportError:
        return "pyelftools or ar is not installed (pip install -e '.[micropython]')"
    return missing()


def build_native(tables_dir: Path, arch: str, output: Path) -> Path:
    """kws_native.mpy for `arch` (x64: the Unix port; armv7m: Cortex-M3; armv6m: RP2040's
    Cortex-M0+): [micropython] of firmware/sources.txt (the module's glue) with the library's
    [mfcc] and [nn] and the kws_mfcc_tables.c of `tables_dir` (a run's firmware/)."""
    import sys

    from kws.toolchain import sources as firmware_sources

    reason = native_missing(arch)
    if reason:
        raise KwsError(f"cannot build kws_native.mpy: {reason}")
    tree = sources()
    build = firmware_sources.build("micropython", "mfcc", "nn", tables=Path(tables_dir))
    with tempfile.TemporaryDirectory(prefix="kws_native-") as tmp:
        work = Path(tmp)
        names = []
        for src in build.sources:
            shutil.copyfile(src, work / src.name)
            names.append(src.name)
        folders = dict.fromkeys([*build.includes, *(s.parent for s in build.sources)])
        includes = " ".join(f"-I{d}" for d in folders)
        (work / "Makefile").write_text(
            f"MPY_DIR = {tree}\nMOD = kws_native\nSRC = {' '.join(names)}\nARCH = {arch}\n"
            + ("LINK_RUNTIME = 1\n" if arch != "x64" else "")      # libgcc: 64-bit division
            + f"CFLAGS_EXTRA = {includes} -O2\n"
            "include $(MPY_DIR)/py/dynruntime.mk\n")
        _make([f"PYTHON={sys.executable}"], work, f"building kws_native.mpy ({arch})")
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "kws_native.mpy", output)
    return output


def main(argv: list[str] | None = None) -> None:
    """`python -m kws.toolchain.micropython native RUN [--arch armv6m] [--out FILE]`: build
    kws_native.mpy for a board from a run's exported tables (default: beside the package,
    RUN/firmware/micropython/kws_native.mpy)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kws.toolchain.micropython",
                                     description="kws_native.mpy for a run (MicroPython's "
                                                 "dynamic native module of the C front end "
                                                 "and kernels)")
    sub = parser.add_subparsers(dest="command", required=True)
    native = sub.add_parser("native", help="build kws_native.mpy")
    native.add_argument("run", type=Path, help="a run directory through the export stage")
    native.add_argument("--arch", default="armv6m", choices=sorted(NATIVE_ARCHS),
                        help="armv6m: RP2040 (Cortex-M0+); armv7m: Cortex-M3; armv7emsp: "
                             "Cortex-M4F; x64: the Unix port")
    native.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    tables = args.run / "firmware"
    if not (tables / "kws_mfcc_tables.c").is_file():
        raise SystemExit(f"kws: error: {tables}/kws_mfcc_tables.c is missing: run the export "
                         "stage first")
    out = args.out or tables / "micropython" / "kws_native.mpy"
    try:
        print(build_native(tables, args.arch, out))
    except KwsError as e:
        raise SystemExit(f"kws: error: {e}")


if __name__ == "__main__":
    main()
