"""The ctest cases of the CMake build (firmware/cmake/kws_tests.cmake): inputs for the C
harnesses and what the golden models say they must output, for one exported run.

    python -m kws.toolchain.ctest_cases RUN_DIR FOLDER [--clips K]
    cmake -S firmware -B build -DKWS_MODEL_DIR=RUN_DIR/firmware -DKWS_TEST_CASES=FOLDER
    cmake --build build && ctest --test-dir build

Writes FOLDER/cases.cmake (the model's hash, then one kws_case(...) per test), the inputs (raw
little-endian arrays, a WAV) and the golden result files (*.kwsr, kws.toolchain.results'
layout, written from numpy by encode_results). Every golden number comes from kws/golden/ (and
the features stage's golden features), never from running the C. ctest runs each harness and
compares its result file with the golden one array by array (kws_results_compare): a single
differing value fails the test. One case compares against a golden file with one value changed
and passes only if the comparison reports that difference (DIFFERS), so it is seen to bite.

The cases, by harness (each the twin of a Python test's use of it):
  kws_mfcc_tool        K test clips, whole and in 137-sample chunks → features (golden MFCC)
  kws_verify_tool      clips → features and logits; one clip's every layer output (trace);
                       the clips back to back through the wake-word loop → events, frames
                       (and inferences on the window path)
  kws_invoke_tool      the golden features → logits
  kws_step_tool        (a streaming network) the clips' features as one stream → window ends
                       and logits; each clip step by step → its logits; and kws_verify_tool on
                       the window path (-DKWS_APP_STREAMING=0) → the window path's events
  kws_nn_tool          every layer of the network on its golden input → its golden output
  kws_detector_tool    the golden logits at their frames through the recogniser → events;
                       the whole loop (stream mode) over a synthesised stream with the test
                       stand-in network (kws_standin_model.c) → events and counters
  kws_results_tool     the writer's every dtype, byte for byte (`write`), its misuse (`misuse`)
  kws_demo             the WAV of the same stream: its summary line names the golden count
  kws_mps2_board_app   the board app (examples/mps2) on the same stream under QEMU, when
                       cross-compiled: every golden detection line, then the counts
  kws_fuzz_*_libfuzzer each fuzz harness (tests/fuzz/), FUZZ_RUNS libFuzzer executions from
                       kws.toolchain.fuzz's seeds: no finding (when clang links libFuzzer)
  kws_mps2_check       the firmware stage's board program with these vectors in flash
                       (FOLDER/target/kws_target_data.c), under QEMU, when cross-compiled
  kws_mps2_nn_cases    the network's layers through the kernels on the board
                       (tests/target/nn_cases_main.c, FOLDER/target/nn/kws_nn_cases.c)
  kws_mps2_bench       bench/kernels.py's program (tests/target/bench_main.c) over the model:
                       every layer of the clips' features by hash and the logits
                       (FOLDER/target/bench/kws_bench_data.c) → logits, mismatches 0
  kws_mps2_mfcc_bench  bench/mfcc_target.py's program (tests/target/peer/mfcc_bench_main.c)
                       over the model's front end, frame by frame on the clips, with each
                       frame's power spectrum (FOLDER/target/mfcc/mfcc_bench_data.c) → every
                       frame and spectrum equal
"""
from __future__ import annotations

import argparse
import sys
import wave
from pathlib import Path

import numpy as np

from kws.artifacts import RunDir
from kws.errors import KwsError
from kws.golden.detector import (detect_stream, inference_frames, make_settings,
                                 n_stream_frames, recognize)
from kws.golden.network import AvgPool, Conv, Dense, run_layer, run_network
from kws.golden.streaming import can_stream, stream_logits_streaming
from kws.io import write_text
from kws.toolchain import fuzz
from kws.toolchain.cortex_m import STREAM_CHUNK, expected_vectors, write_test_data
from kws.toolchain.detector_harness import (STANDIN_LABELS, settings_text, standin_logits,
                                            standin_stream)
from kws.toolchain.mfcc_bench import golden_power, power_hashes
from kws.toolchain.mfcc_bench import write_bench_data as write_mfcc_bench_data
from kws.toolchain.model_bench import write_bench_data as write_model_bench_data
from kws.toolchain.nn_harness import layer_case, write_target_cases
from kws.toolchain.results import write_results

DEFAULT_CLIPS = 4
CHUNK = 137                      # an odd chunk: frames straddle pushes
# kws_detector_tool stream: chunk sizes from xorshift32(seed) in [1, max], the ring's capacity
DETECTOR_SEED, DETECTOR_MAX_CHUNK, DETECTOR_RING = 7, 700, 1024
FUZZ_RUNS = 2000                 # libFuzzer executions per harness (a few seconds each)


def model_hash(model_dir: Path) -> str:
    """KWS_MODEL_HASH of the generated kws_model.h in model_dir."""
    header = Path(model_dir) / "kws_model.h"
    for line in header.read_text().splitlines() if header.is_file() else []:
        if line.startswith("#define KWS_MODEL_HASH "):
            return line.split(None, 2)[2].strip().strip('"')
    raise KwsError(f"{header}: no KWS_MODEL_HASH (missing, or exported by an older kws: re-run "
                   "the export stage)")


def results_tool_expected() -> dict[str, np.ndarray]:
    """What `kws_results_tool write` writes (firmware/tests/host/kws_results_tool.c)."""
    return {"int8.matrix": np.array([[-128, -1, 0, 1], [2, 3, 4, 5], [6, 7, 126, 127]], np.int8),
            "uint8": np.array([255], np.uint8),
            "empty": np.zeros((2, 0, 3), np.int16),
            "uint16_scalar": np.array(65535, np.uint16),
            "int32": np.array([-2**31, -1, 0, 1, 2**31 - 1], np.int32),
            "uint32-2x2": np.array([[0, 1], [2**31, 2**32 - 1]], np.uint32),
            "int64_min": np.array(-2**63, np.int64),
            "uint64_max": np.array(2**64 - 1, np.uint64),
            "eight_dims": np.array([i * 1000 - 8000 for i in range(16)],
                                   np.int16).reshape(1, 2, 1, 2, 1, 2, 1, 2),
            "pieces": np.array([i * i - 50 for i in range(12)], np.int32).reshape(4, 3)}


def _events(rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.uint32).reshape(-1, 3)


def _cmake_regex(text: str) -> str:
    """text matched literally by a CMake regular expression, inside a quoted argument."""
    return "".join(f"\\\\{c}" if c in "^$.[]()*+?|\\" else c for c in text)


def _cmake_args(args) -> str:
    return " ".join(f'"{a}"' for a in args)


def write_cases(run_dir: Path, folder: Path, n_clips: int = DEFAULT_CLIPS) -> list[str]:
    """The cases for the run's exported model (RUN_DIR/firmware) into `folder`; their names."""
    run, folder = RunDir(run_dir), Path(folder)
    model_dir = run.export
    digest = model_hash(model_dir)
    vectors = expected_vectors(run.root, n_clips)
    layers, tables, settings = run.golden_network(), run.mfcc_tables(), run.detector_settings()
    streaming = can_stream(layers)
    clips, features, logits = vectors["clips"], vectors["features"], vectors["logits"]
    n, samples = clips.shape
    frames = features.shape[1]
    pcm = clips.reshape(-1)
    events = vectors["events_streaming"] if streaming else vectors["events"]
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, str]] = []

    def case(name: str, tool: str, args: list, expect: dict | None = None,
             differs: bool = False) -> None:
        line = f"kws_case({name} TOOL {tool} ARGS {_cmake_args(args)}"
        if expect is not None:
            write_results(folder / f"{name}.kwsr", expect)
            line += f' EXPECT "${{KWS_CASES}}/{name}.kwsr"'
        cases.append((name, line + (" DIFFERS" if differs else "") + ")"))

    d = "${KWS_CASES}"
    np.ascontiguousarray(clips, "<i2").tofile(folder / "clips.raw")
    np.ascontiguousarray(features, np.int8).tofile(folder / "features.raw")
    case("mfcc_clips", "kws_mfcc_tool", [f"{d}/clips.raw", samples, "@OUT@", 0],
         {"features": features})
    case("mfcc_clips_chunked", "kws_mfcc_tool", [f"{d}/clips.raw", samples, "@OUT@", CHUNK],
         {"features": features})
    case("verify_clips", "kws_verify_tool", ["clips", f"{d}/clips.raw", samples, "@OUT@"],
         {"features": features, "logits": logits})
    wrong = logits.copy()
    wrong.flat[0] = np.int8(int(wrong.flat[0]) + 1 if wrong.flat[0] < 127 else 126)
    case("verify_clips_planted_difference", "kws_verify_tool",
         ["clips", f"{d}/clips.raw", samples, "@OUT@"], {"features": features, "logits": wrong},
         differs=True)
    pcm.astype("<i2").tofile(folder / "stream.raw")
    n_frames = n_stream_frames(len(pcm), tables)
    stream = {"events": _events(events), "frames": np.array(n_frames, np.uint64)}
    if not streaming:
        stream["inferences"] = np.array(
            len(inference_frames(n_frames, frames, settings.infer_every)), np.uint64)
    stream["detections"] = np.array(len(events), np.uint64)
    case("verify_stream", "kws_verify_tool",
         ["stream", f"{d}/stream.raw", STREAM_CHUNK, "@OUT@"], stream)
    case("invoke", "kws_invoke_tool", [f"{d}/features.raw", "@OUT@"], {"logits": logits})
    # every layer's output for each clip; the trace case: the first clip's (the model built
    # with KWS_MODEL_TRACE_HOOK)
    per_layer = run_network(layers, features[..., None], keep=True)
    features[:1].astype(np.int8).tofile(folder / "trace_input.raw")
    case("verify_trace", "kws_verify_tool", ["trace", f"{d}/trace_input.raw", "@OUT@"],
         {f"layer.{i}": np.ascontiguousarray(y[0], np.int8).reshape(-1)
          for i, y in enumerate(per_layer)})

    if streaming:   # the streaming step (kws_model_step) and the loop on the window path
        flat = np.ascontiguousarray(features.reshape(-1, features.shape[2]), np.int8)
        flat.tofile(folder / "feature_stream.raw")
        ends, step_logits = stream_logits_streaming(flat, layers, frames)
        case("step_stream", "kws_step_tool", ["stream", f"{d}/feature_stream.raw", -1, "@OUT@"],
             {"window_end": ends.astype(np.uint32), "logits": step_logits.astype(np.int8)})
        case("step_clips", "kws_step_tool", ["clips", f"{d}/features.raw", "@OUT@"],
             {"logits": logits})
        window = {"events": _events(vectors["events"]), "frames": stream["frames"],
                  "inferences": np.array(len(inference_frames(n_frames, frames,
                                                              settings.infer_every)), np.uint64),
                  "detections": np.array(len(vectors["events"]), np.uint64)}
        case("verify_stream_window_path", "kws_verify_tool_window",
             ["stream", f"{d}/stream.raw", STREAM_CHUNK, "@OUT@"], window)

    # every layer on its golden input, one harness process
    x, nn_cases, nn_expect, nn_jobs = features[..., None], [], {}, []
    for layer in layers:
        if not isinstance(layer, (Conv, AvgPool, Dense)):
            break                           # kws_nn_tool's kinds; the rest: kws_invoke_tool
        y = run_layer(layer, x)
        c = layer_case(layer, x)
        nn_jobs.append((layer, x))
        nn_expect[f"case.{len(nn_cases)}"] = y.reshape(c.batch, c.output_size())
        nn_cases.append(c)
        x = y
    (folder / "nn_cases.bin").write_bytes(b"".join(c.encode() for c in nn_cases))
    case("nn_layers", "kws_nn_tool", [f"{d}/nn_cases.bin", "@OUT@"], nn_expect)

    # the recogniser alone: the clips' logits as inferences infer_every frames apart
    at = (frames - 1 + settings.infer_every * np.arange(n)).astype(np.int64)
    write_text(folder / "settings.txt", settings_text(settings))
    at.astype("<u4").tofile(folder / "frames.u32")
    np.ascontiguousarray(logits, np.int8).tofile(folder / "logits.s8")
    recognised = [(e.frame_index, e.label, e.score) for e in recognize(settings, at, logits)]
    case("detector_recognizer", "kws_detector_tool",
         ["recognizer", f"{d}/settings.txt", f"{d}/frames.u32", f"{d}/logits.s8", "@OUT@"],
         {"events": _events(recognised)})

    # the whole loop with the stand-in network (the tool's build), in pseudo-random chunks
    standin = make_settings(STANDIN_LABELS, 0.08, average_window=10, min_count=3, threshold=180,
                            suppression_frames=30, infer_every=2)
    tones = standin_stream(tables.sample_rate)
    write_text(folder / "standin_settings.txt", settings_text(standin))
    tones.astype("<i2").tofile(folder / "standin_stream.raw")
    expected = detect_stream(tones, tables, lambda x: standin_logits(x, tables.out_zero_point),
                             standin)
    n_tone_frames = n_stream_frames(len(tones), tables)
    case("detector_stream", "kws_detector_tool",
         ["stream", f"{d}/standin_settings.txt", f"{d}/standin_stream.raw", "@OUT@",
          DETECTOR_SEED, DETECTOR_MAX_CHUNK, DETECTOR_RING],
         {"events": _events([(e.frame_index, e.label, e.score) for e in expected]),
          "frames": np.array(n_tone_frames, np.uint64),
          "inferences": np.array(len(inference_frames(n_tone_frames, frames,
                                                      standin.infer_every)), np.uint64),
          "detections": np.array(len(expected), np.uint64), "dropped": np.array(0, np.uint64)})

    case("results_write", "kws_results_tool", ["write", "@OUT@"], results_tool_expected())
    case("results_misuse", "kws_results_tool", ["misuse", "@OUT@"])

    with wave.open(str(folder / "stream.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(tables.sample_rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    cases.append(("demo", f'kws_case_output(demo TOOL kws_demo ARGS "{d}/stream.wav" MATCH '
                          f'", {len(events)} detections\\n")'))
    # the board app on the same stream: every detection line, then its counts
    inferences = str(int(stream["inferences"])) if "inferences" in stream else "[0-9]+"
    lines = "".join(f"detection at frame {f}: {_cmake_regex(run.labels()[c])} {s}/255\\n"
                    for f, c, s in events)
    cases.append(("board_app", f'kws_case_output(board_app TOOL kws_mps2_board_app ARGS '
                               f'"{d}/stream.raw" MATCH "^{lines}{len(pcm)} samples, '
                               f'{inferences} inferences, {len(events)} detections\\n$")'))

    # a short libFuzzer campaign per harness from the generated seeds (when clang links it)
    for harness in sorted(fuzz.HARNESSES):
        fuzz.write_seeds(harness, folder / "fuzz" / harness)
        cases.append((f"fuzz_{harness}_libfuzzer",
                      f'kws_fuzz_case({harness} SEEDS "{d}/fuzz/{harness}" '
                      f"MAX_LEN {fuzz.MAX_LENS[harness]} RUNS {FUZZ_RUNS})"))

    write_test_data(vectors, folder / "target")
    cases.append(("mps2_check", "kws_case(mps2_check TOOL kws_mps2_check)"))
    # the same layers through the kernels on the board (unaligned inputs, guard bytes)
    (folder / "target" / "nn").mkdir(parents=True, exist_ok=True)
    write_target_cases(nn_jobs, folder / "target" / "nn")
    cases.append(("mps2_nn_cases", "kws_case(mps2_nn_cases TOOL kws_mps2_nn_cases)"))
    # the two benchmark programs, their own checks' results against the golden numbers
    (folder / "target" / "bench").mkdir(parents=True, exist_ok=True)
    write_model_bench_data(folder / "target" / "bench", features[..., None], per_layer)
    case("mps2_bench", "kws_mps2_bench", [],
         {"logits": logits, "mismatches": np.array(0, np.uint64),
          "inputs_checked": np.array(n, np.uint64), "input_ok": np.ones(n, np.uint8)})
    power = golden_power(clips, tables)
    write_mfcc_bench_data(folder / "target" / "mfcc", clips, features, tables.stride,
                          tables.window_len, "int8_t", power)
    checked = int(np.count_nonzero(power_hashes(power)))
    case("mps2_mfcc_bench", "kws_mps2_mfcc_bench", [],
         {"frames": np.array(n * frames, np.uint64),
          "frames_equal": np.array(n * frames, np.uint64),
          "max_abs_difference": np.array(0, np.uint64),
          "power_checked": np.array(checked, np.uint64),
          "power_equal": np.array(checked, np.uint64)})

    text = ("# Written by kws.toolchain.ctest_cases: do not edit (remake: python -m "
            f"kws.toolchain.ctest_cases {run.root} {folder}).\n"
            f"# test clips {vectors['index'].tolist()} of the run; "
            f"{'streaming' if streaming else 'window'} model.\n"
            f'set(KWS_CASES_MODEL_HASH "{digest}")\n' + "\n".join(line for _, line in cases)
            + "\n")
    write_text(folder / "cases.cmake", text)
    return [name for name, _ in cases]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kws.toolchain.ctest_cases",
                                description="Write the ctest cases (inputs and golden results) "
                                            "for an exported run's model.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("folder", type=Path)
    p.add_argument("--clips", type=int, default=DEFAULT_CLIPS, help="test clips (default 4)")
    a = p.parse_args(argv)
    try:
        names = write_cases(a.run_dir, a.folder, a.clips)
    except KwsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(names)} ctest cases to {a.folder}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
