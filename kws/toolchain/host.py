"""Building and running the C in firmware/ on the host with gcc (or $CC)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from kws.errors import KwsError
from kws.io import atomic_path
from kws.toolchain import sources
from kws.toolchain.results import read_results
from kws.toolchain.sources import FIRMWARE, SOURCES_TXT

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]


def sources_fingerprint(paths: list[Path] | None = None) -> str:
    """sha256 over firmware/sources.txt, firmware/'s headers and the firmware/ files among
    `paths` (default: every C source and linker script): a stage that builds them re-runs when
    they change (its input_fingerprint). Generated files outside firmware/ are skipped: the
    stages that write them fingerprint them."""
    digest = hashlib.sha256()
    every = sorted(p for p in FIRMWARE.rglob("*") if p.suffix in (".c", ".h", ".ld"))
    chosen = every if paths is None else sorted(
        {p for p in every if p.suffix == ".h"}
        | {Path(p).resolve() for p in paths if Path(p).resolve().is_relative_to(FIRMWARE)})
    for path in [SOURCES_TXT, *chosen]:
        digest.update(str(path.relative_to(FIRMWARE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def compiler() -> str:
    cc = os.environ.get("CC", "gcc")
    path = shutil.which(cc)
    if path is None:
        raise KwsError(f"C compiler {cc!r} not found: install gcc (Debian: apt-get install gcc) "
                       "or set CC, or turn the C check off with features.verify_c=false")
    return path


def build(output: Path, sources: list[Path], include_dirs: list[Path],
          sanitize: bool = False, defines: list[str] | None = None,
          cc: str | None = None, flags: list[str] | None = None) -> Path:
    """Compile and link `sources` into the executable `output` (atomically).

    defines: preprocessor definitions, e.g. ["KWS_MODEL_TRACE_HOOK=kws_verify_trace"].
    cc: the compiler (default: compiler()); flags: more flags, after the others (e.g.
    ["-fsanitize=fuzzer"] for clang's libFuzzer: kws.toolchain.fuzz)."""
    flags = CFLAGS + (SANITIZE if sanitize else []) + [f"-D{d}" for d in defines or []] + \
        list(flags or [])
    includes = [f"-I{d}" for d in include_dirs]
    with atomic_path(output, suffix=".bin") as tmp:
        cmd = [cc or compiler(), *flags, *includes, *map(str, sources), "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise KwsError(f"building {output.name} failed:\n{' '.join(cmd)}\n{proc.stderr}")
        tmp.chmod(0o755)
    return output


# sections of firmware/sources.txt: every host tool writes its outputs as a result file
# (kws.toolchain.results) through the writer and its stdio sink
HOST_RESULTS = ("tests-results", "tests-host-results")
MFCC_TOOL = ("mfcc", "tests-host-mfcc")


def mfcc_tool_sources() -> list[Path]:
    """The firmware/ sources of the host MFCC harness, its result writer included (besides
    the generated tables): what the features stage fingerprints."""
    return sources.load().firmware_sources(*MFCC_TOOL, *HOST_RESULTS)


def build_sections(output: Path, sections: tuple[str, ...], sanitize: bool = False,
                   defines: list[str] | None = None, cc: str | None = None,
                   flags: list[str] | None = None, **generated: Path) -> Path:
    """build() of the sections of firmware/sources.txt (generated folders by key), with the
    result-file writer (HOST_RESULTS) every host tool uses."""
    b = sources.build(*sections, *HOST_RESULTS, **generated)
    return build(output, b.sources, b.includes, sanitize=sanitize, defines=defines, cc=cc,
                 flags=flags)


def build_results_tool(out_dir: Path, sanitize: bool = True) -> Path:
    """The result writer's own host harness (firmware/tests/host/kws_results_tool.c)."""
    name = "kws_results_tool" + ("_san" if sanitize else "")
    return build_sections(Path(out_dir) / name, ("tests-host-results-tool",), sanitize)


def build_mfcc_tool(tables_dir: Path, out_dir: Path, sanitize: bool = False) -> Path:
    """The host MFCC harness linked with the generated tables in `tables_dir`."""
    name = "kws_mfcc_tool" + ("_san" if sanitize else "")
    return build_sections(Path(out_dir) / name, MFCC_TOOL, sanitize, tables=Path(tables_dir))


def run_tool(tool: Path, *args, what: str = "") -> str:
    """Runs a host tool; its stdout. A non-zero exit raises KwsError with its stderr; `what`
    (e.g. the tool's mode) follows the tool's name in the message."""
    proc = subprocess.run([str(tool), *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KwsError(f"{' '.join(filter(None, (Path(tool).name, what)))} failed (exit "
                       f"{proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def result_array(arrays: dict, name: str, shape: tuple, dtype, source: str) -> np.ndarray:
    """arrays[name], checked to be of `dtype` and `shape` (None: any size on that axis)."""
    a = arrays.get(name)
    if a is None or a.dtype != np.dtype(dtype) or a.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(a.shape, shape)):
        got = "none" if a is None else f"{a.dtype} {list(a.shape)}"
        raise KwsError(f"{source}: array {name!r} is {got}, expected {np.dtype(dtype)} "
                       f"{['*' if d is None else d for d in shape]}")
    return a


def run_mfcc_tool(tool: Path, clips: np.ndarray, n_frames: int, n_out: int,
                  chunk: int = 0) -> np.ndarray:
    """Features of int16 clips [N, S] computed by the C: int8 [N, n_frames, n_out]."""
    clips = np.ascontiguousarray(clips, dtype="<i2")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "clips.raw", Path(tmp) / "features.kwsr"
        clips.tofile(src)
        run_tool(tool, src, clips.shape[1], dst, chunk)
        arrays = read_results(dst)
    if not len(clips):
        return np.zeros((0, n_frames, n_out), np.int8)
    return result_array(arrays, "features", (len(clips), n_frames, n_out), np.int8,
                        f"{Path(tool).name}'s result file")
