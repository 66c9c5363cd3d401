"""Fuzzing the C in firmware/ under ASan + UBSan (-fno-sanitize-recover=all): the harnesses in
firmware/tests/fuzz/ (their header, kws_fuzz.h, says what they check), built from the sections
of firmware/sources.txt, run with clang's libFuzzer or with their own seeded random driver,
and their recorded calls compared with the golden models.

    tables = write_default_tables(work)                        # the MFCC harness's tables
    fuzzer = build_fuzzer("nn", work, "libfuzzer")             # clang -fsanitize=fuzzer,...
    run = run_libfuzzer(fuzzer, work / "corpus", runs=10**6)   # FuzzRun: executions, corpus, ...
    driver = build_fuzzer("nn", work, "driver")                # gcc (or $CC), its own main
    run = run_driver(driver, random=10**5, seed=0)
    cases = record(driver, inputs)                             # per input: its arrays
    compared = check_golden("nn", cases)                       # KwsError on a difference

libfuzzer_missing() says why the libFuzzer engine cannot be built here (None when it can);
the driver needs only the host C compiler.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kws.errors import KwsError
from kws.toolchain.host import build_sections
from kws.toolchain.results import read_results

# harness → the library sections it links (besides its own, tests-fuzz-<name>)
HARNESSES = {"mfcc": ("mfcc",), "nn": ("nn",), "detector": ("detector",), "wav": ("demo-wav",)}
ENGINES = {"libfuzzer": "tests-fuzz-libfuzzer", "driver": "tests-fuzz-driver"}
COMMON = ("tests-fuzz",)
LIBFUZZER_FLAGS = ["-fsanitize=fuzzer"]     # with host.SANITIZE: address, undefined, no recover
OPTIMIZE = "-O1"                            # after host.CFLAGS' -O2: half the build time of the
                                            # kernels under the sanitizers, as many executions/s
MAX_LEN = 4096                              # bytes per input, both engines (default)
# per harness: past these lengths an input only adds more of the same (samples, pushes, values)
MAX_LENS = {"mfcc": 1024, "nn": 2048, "detector": 2048, "wav": 4096}
FINDING_PREFIXES = ("crash-", "leak-", "timeout-", "oom-")


def clang() -> str | None:
    """The clang that builds libFuzzer harnesses ($KWS_FUZZ_CC, default clang), or None."""
    return shutil.which(os.environ.get("KWS_FUZZ_CC", "clang"))


@functools.cache
def libfuzzer_missing() -> str | None:
    """Why the libFuzzer engine cannot be built here, or None when it can (a trivial fuzzer is
    compiled once per process to find out)."""
    cc = clang()
    if cc is None:
        return ("clang is not installed (Debian: apt-get install clang libclang-rt-14-dev); "
                "the seeded random driver runs instead")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput("
                       "const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
        proc = subprocess.run([cc, "-fsanitize=fuzzer,address,undefined", str(src), "-o",
                               str(Path(tmp) / "probe")], capture_output=True, text=True)
    if proc.returncode != 0:
        return (f"{cc} cannot link libFuzzer (Debian: apt-get install libclang-rt-14-dev): "
                f"{proc.stderr.strip()[-300:]}")
    return None


def build_fuzzer(name: str, out_dir: Path, engine: str = "libfuzzer",
                 tables: Path | None = None, defines: list[str] | None = None,
                 optimize: str = OPTIMIZE) -> Path:
    """out_dir/kws_fuzz_<name>_<engine>: the harness with the sanitizers, for libFuzzer (clang)
    or with its own driver (the host compiler, gcc unless $CC). tables: the folder of
    kws_mfcc_tables.{c,h} (the mfcc harness only; write_default_tables makes one). defines:
    e.g. ["KWS_FUZZ_PLANT"], the detector harness's planted fault (tests/test_fuzz_c.py).
    optimize: the optimisation flag (-O0 builds the kernels in a sixth of the time but runs
    them four times slower)."""
    if name not in HARNESSES:
        raise KwsError(f"fuzz harness {name!r} is not one of {sorted(HARNESSES)}")
    if engine not in ENGINES:
        raise KwsError(f"fuzz engine {engine!r} is not one of {sorted(ENGINES)}")
    generated = {"tables": Path(tables)} if name == "mfcc" else {}
    if name == "mfcc" and tables is None:
        raise KwsError("the mfcc fuzz harness needs tables= (kws.toolchain.fuzz."
                       "write_default_tables)")
    cc, flags = None, [optimize]
    if engine == "libfuzzer":
        reason = libfuzzer_missing()
        if reason:
            raise KwsError(f"cannot build the libFuzzer harness {name}: {reason}")
        cc, flags = clang(), LIBFUZZER_FLAGS + [optimize]
    sections = (*HARNESSES[name], *COMMON, f"tests-fuzz-{name}", ENGINES[engine])
    suffix = "_planted" if defines else ""
    return build_sections(Path(out_dir) / f"kws_fuzz_{name}_{engine}{suffix}", sections,
                          sanitize=True, defines=defines, cc=cc, flags=flags, **generated)


def default_tables():
    """The default front end's tables (conf/features/, 16 kHz), as the features stage makes
    them."""
    from kws.config import compose
    from kws.golden.mfcc_tables import make_tables
    return make_tables(compose().features, 16000)


def write_default_tables(out_dir: Path):
    """default_tables() written as C into out_dir (kws_mfcc_tables.{c,h}); returns the tables."""
    from kws.emit.mfcc_c import write_c_tables
    t = default_tables()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_c_tables(t, Path(out_dir))
    return t


def _wav(n_samples: int, rate: int = 16000, extra: bytes = b"", data_size: int | None = None,
         fmt_size: int = 16) -> bytes:
    pcm = (np.arange(n_samples, dtype=np.int64) * 2654435761 % 65536 - 32768).astype("<i2")
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little") + \
        (2 * rate).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    fmt += bytes(fmt_size - 16)
    size = 2 * n_samples if data_size is None else data_size
    body = (b"WAVE" + b"fmt " + fmt_size.to_bytes(4, "little") + fmt + extra + b"data" +
            size.to_bytes(4, "little") + pcm.tobytes())
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def seed_inputs(name: str, seed: int = 0) -> dict[str, bytes]:
    """Generated seeds for harness `name` (nothing fetched): for the WAV reader well-formed files
    with odd chunks, the streamed length, an extended fmt, in both modes and rates; for the others
    a few seeded random inputs (nn: one per kernel)."""
    rng = np.random.default_rng(seed)
    if name == "wav":
        odd = b"LIST" + (3).to_bytes(4, "little") + b"abc\0"
        files = {"plain": _wav(200), "odd_chunk": _wav(100, extra=odd),
                 "streamed": _wav(50, data_size=0xFFFFFFFF), "fmt18": _wav(30, fmt_size=18),
                 "8k": _wav(40, rate=8000), "empty_data": _wav(0)}
        return {f"{k}_mode{m}": bytes([m]) + v for k, v in files.items() for m in range(4)
                if (m & 2 == 2) == (k == "8k")}
    if name == "nn":
        return {f"kind{k}": bytes([k]) + rng.integers(0, 256, 200, np.uint8).tobytes()
                for k in range(len(NN_KINDS))}
    return {f"random{i}": rng.integers(0, 256, int(rng.integers(16, 600)), np.uint8).tobytes()
            for i in range(4)}


def write_seeds(name: str, folder: Path, seed: int = 0) -> Path:
    """seed_inputs(name) as files in folder (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for key, data in seed_inputs(name, seed).items():
        (folder / key).write_bytes(data)
    return folder


@dataclass
class FuzzRun:
    """One campaign of one harness."""
    harness: str
    engine: str
    executions: int
    seconds: float
    corpus_files: int = 0                  # libFuzzer: inputs kept in the corpus folder
    corpus_bytes: int = 0
    findings: list[Path] = field(default_factory=list)   # crash/leak/timeout/oom inputs
    exit_status: int = 0
    log: str = ""                          # the engine's last lines
    coverage: tuple[int, int] | None = None  # libFuzzer's last (cov, ft)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.findings and self.executions > 0


def _harness_of(binary: Path) -> str:
    return Path(binary).name.removeprefix("kws_fuzz_").split("_")[0]


def _corpus(folder: Path) -> tuple[int, int]:
    files = [p for p in Path(folder).iterdir() if p.is_file()] if Path(folder).is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def _findings(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.name.startswith(FINDING_PREFIXES))


RSS_LIMIT_MB = 8192


def run_libfuzzer(binary: Path, corpus: Path, *, runs: int | None = None,
                  seconds: int | None = None, seeds: Path | None = None,
                  artifacts: Path | None = None, seed: int = 0, max_len: int = MAX_LEN,
                  timeout: int = 10) -> FuzzRun:
    """libFuzzer on `corpus` (created; new inputs are kept there), also reading `seeds`, for
    `runs` executions and/or `seconds`; findings go to `artifacts` (default: corpus/../
    artifacts). A fault stops the run: its input is in FuzzRun.findings."""
    corpus = Path(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = Path(artifacts or corpus.parent / "artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary), str(corpus), *([str(seeds)] if seeds else []), f"-seed={seed + 1}",
           f"-max_len={max_len}", f"-timeout={timeout}",
           # the process's RSS counts ASan's shadow and quarantine: on a CI machine the NN
           # harness passed 2 GB with 24 MB live; one malloc over 2 GB is still a finding
           f"-rss_limit_mb={RSS_LIMIT_MB}", "-malloc_limit_mb=2048",
           "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]
    cmd += [f"-runs={runs}"] if runs is not None else []
    cmd += [f"-max_total_time={seconds}"] if seconds is not None else []
    if runs is None and seconds is None:
        raise KwsError("run_libfuzzer needs runs= or seconds=")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - started
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    files, size = _corpus(corpus)
    name = _harness_of(binary)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", proc.stderr)
    return FuzzRun(name, "libfuzzer", int(m.group(1)) if m else 0, took, files, size,
                   _findings(artifacts), proc.returncode, proc.stderr[-4000:],
                   tuple(map(int, cov[-1])) if cov else None)


def run_driver(binary: Path, *, random: int, seed: int = 0, seeds: list[Path] = (),
               artifacts: Path | None = None, max_len: int = MAX_LEN) -> FuzzRun:
    """The harness's own driver: the seed files, then `random` seeded random inputs (fresh or
    seeds mutated). A fault stops it; the input is written to `artifacts`."""
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = Path(artifacts or tmp)
        artifacts.mkdir(parents=True, exist_ok=True)
        cmd = [str(binary), "--random", str(random), "--seed", str(seed), "--max-len",
               str(max_len), "--artifact-prefix", f"{artifacts}/", *map(str, seeds)]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        took = time.perf_counter() - started
        m = re.search(r"executions: (\d+)", proc.stdout)
        name = _harness_of(binary)
        found = _findings(artifacts)
        executions = int(m.group(1)) if m else 0
        if found and not m:                        # crash-<i>: the i-th input (from 0)
            executions = 1 + max(int(p.name.split("-")[1]) for p in found)
        if found and artifacts == Path(tmp):       # keep nothing in a folder about to go
            found = [Path(f"{p.name} (removed with its temporary folder)") for p in found]
        return FuzzRun(name, "driver", executions, took, 0, 0, found,
                       proc.returncode, (proc.stderr + proc.stdout)[-4000:])


def record(binary: Path, inputs: list[Path] = (), *, random: int = 0, seed: int = 0,
           max_len: int = MAX_LEN) -> list[dict[str, np.ndarray]]:
    """Runs the harness on the input files (the driver: then `random` seeded random inputs)
    recording each call: per input, its arrays by name ("input": its bytes, and the harness's
    own). A libFuzzer build records through $KWS_FUZZ_RECORD (inputs only). A fault or a failed
    check raises KwsError with the harness's message."""
    libfuzzer = Path(binary).name.split("_planted")[0].endswith("_libfuzzer")
    if libfuzzer and random:
        raise KwsError("record: random inputs need the driver build (engine 'driver')")
    if libfuzzer and not inputs:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.kwsr"
        env = dict(os.environ, KWS_FUZZ_RECORD=str(out)) if libfuzzer else None
        cmd = ([str(binary), f"-artifact_prefix={tmp}/", *map(str, inputs)] if libfuzzer else
               [str(binary), "--record", str(out), "--random", str(random), "--seed", str(seed),
                "--max-len", str(max_len), "--artifact-prefix", f"{tmp}/", *map(str, inputs)])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise KwsError(f"{Path(binary).name} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
        arrays = read_results(out)
    cases: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
    for key, value in arrays.items():
        index, name = key.split(".", 1)
        cases[int(index)][name] = value
    return [cases[i] for i in sorted(cases)]


# ---- the golden comparison of recorded calls -------------------------------------------------

def check_golden(name: str, cases: list[dict[str, np.ndarray]], tables=None) -> int:
    """Compares each recorded call of harness `name` with the golden model; returns how many
    inputs were compared (not counted: those the golden model does not cover, e.g. refused
    arguments, and MFCC streams too short for a frame). KwsError names the first input that
    differs."""
    check = {"mfcc": _check_mfcc, "nn": _check_nn, "detector": _check_detector,
             "wav": _check_wav}[name]
    compared = 0
    for i, case in enumerate(cases):
        try:
            compared += check(case, tables)
        except AssertionError as e:
            raise KwsError(f"fuzz harness {name}: recorded input {i} "
                           f"({bytes(case['input'][:64]).hex()}...): the C differs from the "
                           f"golden model: {e}") from None
    return compared


def _check_mfcc(case, tables) -> int:
    from kws.golden.mfcc import mfcc_clips
    samples, features = case["samples"], case["features"]
    want = (mfcc_clips(samples[None, :], tables)[0] if len(samples) >= tables.window_len
            else np.zeros((0, tables.n_out), np.int8))
    assert want.shape == features.shape, f"frames {features.shape}, golden {want.shape}"
    diff = np.argwhere(want != features)
    assert not len(diff), f"frame {diff[0][0]}: C {features[tuple(diff[0])]}, golden " \
                          f"{want[tuple(diff[0])]}"
    return int(len(features) > 0)


# kws_fuzz_nn.c's kinds and params layout (its enums K_* and P_*)
NN_KINDS = ("conv", "dwconv", "pwconv", "fc", "avgpool", "avgpool_stream", "maxpool",
            "avgpool2d", "mean", "add", "softmax")
(P_IN_H, P_IN_W, P_IN_C, P_OUT_H, P_OUT_W, P_OUT_C, P_KERNEL_H, P_KERNEL_W, P_STRIDE_H,
 P_STRIDE_W, P_PAD_TOP, P_PAD_LEFT, P_INPUT_OFFSET, P_OUTPUT_OFFSET, P_ACT_MIN, P_ACT_MAX,
 P_VALID_H, P_VALID_W, P_A, P_B, P_C, P_D, P_E, P_F, P_G, P_H, P_I) = range(27)


def nn_golden(case) -> np.ndarray | None:
    """The golden model's output for a recorded kws_fuzz_nn call (flat int8), or None where the
    golden model has no such call (ADD with a left shift other than TFLite's 20)."""
    from kws.golden import network as g
    from kws.golden.softmax import softmax_s8
    kind, p = NN_KINDS[int(case["kind"])], [int(v) for v in case["params"]]
    x, w = case["x"], case["weights"]
    h, wd, c = p[P_IN_H], p[P_IN_W], p[P_IN_C]
    q_in, q_out = g.QuantParams(1.0, -p[P_INPUT_OFFSET]), g.QuantParams(1.0, p[P_OUTPUT_OFFSET])
    act = (p[P_ACT_MIN], p[P_ACT_MAX])
    window = dict(stride=(p[P_STRIDE_H], p[P_STRIDE_W]))
    if kind in ("conv", "dwconv", "pwconv"):
        cout = p[P_OUT_C]
        kh, kw = p[P_KERNEL_H], p[P_KERNEL_W]
        weights = (w.reshape(kh, kw, c).transpose(2, 0, 1)[..., None] if kind == "dwconv"
                   else w.reshape(cout, kh, kw, c))
        layer = g.Conv("fuzz", weights, case["bias"], case["multiplier"], case["shift"],
                       window["stride"], kind == "dwconv", q_in, q_out, *act,
                       time_padding="valid" if p[P_VALID_H] else "same",
                       freq_padding="valid" if p[P_VALID_W] else "same")
        return g.run_conv(layer, x.reshape(1, h, wd, c)).ravel()
    if kind == "fc":
        layer = g.Dense("fuzz", w.reshape(p[P_OUT_C], c), case["bias"],
                        int(case["multiplier"][0]), int(case["shift"][0]), q_in, q_out)
        return np.clip(g.run_dense(layer, x.reshape(1, c)), *act).astype(np.int8).ravel()
    if kind == "avgpool":
        return g.run_avgpool(g.AvgPool("fuzz", q_in), x.reshape(1, h, wd, c)).ravel()
    if kind == "avgpool_stream":                    # x: the last window of h rows
        return g.run_avgpool(g.AvgPool("fuzz", q_in), x.reshape(1, h, wd, c)).ravel()
    if kind in ("maxpool", "avgpool2d"):
        cls = g.MaxPool if kind == "maxpool" else g.AvgPool2D
        layer = cls("fuzz", (p[P_KERNEL_H], p[P_KERNEL_W]), window["stride"],
                    "valid" if p[P_VALID_H] else "same", q_in, *act)
        return g.run_layer(layer, x.reshape(1, h, wd, c)).ravel()
    if kind == "mean":
        layer = g.Mean("fuzz", q_in, q_out, p[P_A], p[P_B])
        return np.clip(g.run_mean(layer, x.reshape(1, h, wd, c)), *act).astype(np.int8).ravel()
    if kind == "add":
        if p[P_B] != g.ADD_LEFT_SHIFT:
            return None
        layer = g.Add("fuzz", 0, q_in, g.QuantParams(1.0, -p[P_A]), q_out, p[P_C], p[P_D],
                      p[P_E], p[P_F], p[P_G], p[P_H], *act)
        return g.run_add(layer, x, case["x2"]).ravel()
    return softmax_s8(x.reshape(1, c), p[P_A], p[P_B], p[P_C]).ravel()


def _check_nn(case, tables) -> int:
    if "kind" not in case:                          # a call with a broken argument: refused
        return 0
    want = nn_golden(case)
    if want is None:
        return 0
    got = case["out"]
    kind = NN_KINDS[int(case["kind"])]
    assert want.shape == got.shape, f"{kind}: {got.shape} values, golden {want.shape}"
    diff = np.flatnonzero(want != got)
    assert not len(diff), f"{kind} params {case['params'].tolist()}: out[{diff[0]}] = " \
                          f"{got[diff[0]]}, golden {want[diff[0]]} ({len(diff)} differ)"
    return 1


def _check_detector(case, tables) -> int:
    from kws.golden.detector import DetectorSettings, Recognizer, softmax_u8
    if "settings" not in case:                      # broken settings: refused
        return 0
    n_classes, window, min_count, threshold, suppression, every = map(int, case["settings"])
    settings = DetectorSettings(is_keyword=tuple(bool(k) for k in case["is_keyword"]),
                                exp_lut=case["exp_lut"], average_window=window,
                                min_count=min_count, threshold=threshold,
                                suppression_frames=suppression, infer_every=every)
    logits, frames = case["logits"], case["frames"].astype(np.int64)
    assert np.array_equal(softmax_u8(logits, settings.exp_lut), case["p"]), "softmax differs"
    if len(frames) and np.any(np.diff(frames) <= 0):
        return 0                                    # the uint32 counter wrapped
    events = Recognizer(settings).push(frames, logits) if len(frames) else []
    want = [(int(np.searchsorted(frames, e.frame_index)), e.label, e.score) for e in events]
    got = [tuple(int(v) for v in row) for row in case["events"]]
    assert got == want, f"events {got}, golden {want}"
    return 1


def wav_walk(data: bytes, pipe: bool, rate: int) -> tuple[int, int] | None:
    """An independent reading of kws_wav.h's contract: (offset of the first sample, samples,
    -1 for 0xFFFFFFFF) of an acceptable file, else None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, have_fmt = 12, False
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        pos += 8
        padded = size + (size & 1)
        if cid == b"fmt " and size >= 16:
            if pos + padded > len(data):
                return None
            f = data[pos:pos + 16]
            fields = (int.from_bytes(f[0:2], "little"), int.from_bytes(f[2:4], "little"),
                      int.from_bytes(f[4:8], "little"), int.from_bytes(f[14:16], "little"))
            if fields != (1, 1, rate, 16):
                return None
            have_fmt, pos = True, pos + padded
        elif cid == b"data":
            if not have_fmt:
                return None
            if size == 0xFFFFFFFF:
                return pos, -1
            if not pipe and len(data) - pos < size:
                return None
            return pos, size // 2
        else:
            if pos + padded > len(data):
                return None
            pos += padded
    return None


def _check_wav(case, tables) -> int:
    raw = bytes(case["input"])
    mode, data = (raw[0], raw[1:]) if raw else (0, b"")
    want = wav_walk(data, bool(mode & 1), 8000 if mode & 2 else 16000)
    got = (int(case["offset"]), int(case["n_samples"])) if int(case["accepted"]) else None
    assert got == want, f"kws_wav_open gave {got}, the Python walk {want}"
    return 1
