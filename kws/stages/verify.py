"""Stage `verify`: the exported C, built for the host, against the golden models, bit for bit.

Reads:  firmware/ (export), data/test.npz and data/noise_test.npz, features/test.npz,
        quantize/ (the golden int8 network)
Writes: verify/build/ (kws_verify_tool, kws_demo), verify/stream.wav + stream_truth.csv (the
        verification stream, so others can replay it), verify/mismatch.txt when a check fails

1. Clips: every test clip through kws_mfcc_clip + kws_model_invoke; features and logits must
   equal the golden front end's and the golden network's exactly.
2. Stream: test clips over test background noise (verify.stream_seconds), through the whole
   wake-word loop in C and through its Python twin (kws.golden.detector.detect_stream); the detection
   events (frame, label, score) must be identical.
3. Streaming network (a valid-in-time network: export generated kws_model_step): every test
   clip's window stepped from a reset through kws_model_step == the window model's logits; the
   verify stream's golden features step by step through kws_model_step == the golden
   StreamingNetwork (window ends and logits); the loop of 2 runs the streaming path (kws_app
   picks it) and its twin is the golden streaming twin
   (kws.golden.streaming.detect_stream_streamed); the same loop built on the window path
   (-DKWS_APP_STREAMING=0) must give detect_stream's events, and the two twins must agree but for
   windows in the stream's last, incomplete step (which the streaming path never runs).
A mismatch raises with the first differing clip, layer, index and values.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from kws.artifacts import RunDir
from kws.audio.streams import mix_stream
from kws.errors import KwsError
from kws.emit.model_c import layer_shapes, plan_streaming
from kws.golden.detector import Detection, Recognizer, detect_stream, n_stream_frames
from kws.golden.mfcc import frame_clips, mfcc_frames
from kws.golden.network import run_network
from kws.golden.streaming import detect_stream_streamed, geometry, stream_logits_streaming
from kws.io import atomic_path, write_text
from kws.toolchain.host import build_sections, result_array, run_tool, sources_fingerprint
from kws.toolchain.results import read_results, scalars
from kws.toolchain.step_harness import build_step_tool, run_steps_c, run_window_steps_c

CONFIG_KEYS = ("verify",)
OUTPUT = "verify"
REQUIRES = ("data", "features", "quantize", "export")
STREAM_CHUNK = 320                         # samples per feed: 20 ms, as an audio DMA would give


def input_fingerprint(cfg) -> str:
    return sources_fingerprint()            # the firmware/ C it builds


def build_host(generated: Path, out_dir: Path, sanitize: bool = False,
               streaming: bool = False) -> dict[str, Path]:
    """kws_verify_tool and kws_demo, linked with the generated files in `generated` (the app's
    default model path); for a streaming network also the verify tool on the window path
    ("verify_window", -DKWS_APP_STREAMING=0) and the step harness ("step")."""
    app = ("mfcc", "nn", "detector", "wakeword", "model-info", "model", "model-data", "app")
    suffix = "_san" if sanitize else ""
    trace = ["KWS_MODEL_TRACE_HOOK=kws_verify_trace"]
    tools = {"verify": build_sections(out_dir / f"kws_verify_tool{suffix}",
                                      app + ("tests-host-verify",), sanitize, trace,
                                      model=generated, tables=generated),
             "demo": build_sections(out_dir / f"kws_demo{suffix}", app + ("demo", "demo-wav"), sanitize,
                                    model=generated, tables=generated)}
    if streaming:
        tools["verify_window"] = build_sections(
            out_dir / f"kws_verify_tool_window{suffix}", app + ("tests-host-verify",), sanitize,
            trace + ["KWS_APP_STREAMING=0"], model=generated, tables=generated)
        tools["step"] = build_step_tool(generated, out_dir, sanitize)
    return tools


def _run(tool: Path, mode: str, *args) -> dict:
    """kws_verify_tool in `mode`; the arrays of the result file it writes (its last argument)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.kwsr"
        run_tool(tool, mode, *args, out, what=mode)
        return read_results(out)


def run_clips_c(tool: Path, clips: np.ndarray, frames: int, n_out: int, n_classes: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """C features int8 [N, frames, n_out] and logits int8 [N, n_classes] of int16 clips."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "clips.raw"
        np.ascontiguousarray(clips, dtype="<i2").tofile(src)
        arrays = _run(tool, "clips", src, clips.shape[1])
    source = f"{tool.name} clips"
    return (result_array(arrays, "features", (len(clips), frames, n_out), np.int8, source),
            result_array(arrays, "logits", (len(clips), n_classes), np.int8, source))


def trace_c(tool: Path, features: np.ndarray, layer_sizes: list[int]) -> list[np.ndarray]:
    """Every layer's C output for one int8 input [frames, n_out]."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "features.raw"
        np.ascontiguousarray(features, dtype=np.int8).tofile(src)
        arrays = _run(tool, "trace", src)
    return [result_array(arrays, f"layer.{i}", (size,), np.int8, f"{tool.name} trace")
            for i, size in enumerate(layer_sizes)]


def run_stream_c(tool: Path, pcm: np.ndarray, chunk: int = STREAM_CHUNK,
                 reset_at: int | None = None) -> list[Detection]:
    """The C wake-word loop's events on int16 samples; with reset_at, only those after a
    kws_app_reset once the first reset_at samples are in (their frames count from there)."""
    events, _ = run_stream_c_stats(tool, pcm, chunk, reset_at)
    return events


def run_stream_c_stats(tool: Path, pcm: np.ndarray, chunk: int = STREAM_CHUNK,
                       reset_at: int | None = None) -> tuple[list[Detection], dict]:
    """run_stream_c and the loop's counters (frames, inferences, detections since the reset,
    events_before_reset, streaming: 1 when the loop ran kws_model_step)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "stream.raw"
        np.ascontiguousarray(pcm, dtype="<i2").tofile(src)
        arrays = _run(tool, "stream", src, chunk, *(() if reset_at is None else (reset_at,)))
    source = f"{tool.name} stream"
    rows = result_array(arrays, "events", (None, 3), np.uint32, source)
    stats = scalars(arrays, ["events_before_reset", "streaming", "frames", "inferences",
                             "detections"], source)
    skip = stats["events_before_reset"] if reset_at is not None else 0
    return [Detection(*map(int, row)) for row in rows[skip:]], stats


def golden_stream_features(pcm: np.ndarray, tables, chunk_frames: int = 4096) -> np.ndarray:
    """The golden front end's int8 frames [N, n_out] of an int16 stream, chunk by chunk."""
    total = n_stream_frames(len(pcm), tables)
    parts = [mfcc_frames(frame_clips(pcm[a * tables.stride:(min(a + chunk_frames, total) - 1)
                                         * tables.stride + tables.window_len], tables), tables)
             for a in range(0, total, chunk_frames)]
    return np.concatenate(parts) if parts else np.zeros((0, tables.n_out), np.int8)


def _events_differ(what: str, python_events: list, c_events: list) -> KwsError:
    first = next((i for i, (a, b) in enumerate(zip(python_events, c_events)) if a != b),
                 min(len(python_events), len(c_events)))
    show = lambda ev: ev[first] if first < len(ev) else "none"  # noqa: E731
    return KwsError(f"verify: {what} events differ at event {first}: Python "
                    f"{show(python_events)}, C {show(c_events)} ({len(python_events)} vs "
                    f"{len(c_events)} events)")


def window_events_python(events: list, g, whole_frames: int) -> list:
    """The window model's events a streaming loop can give on a stream of whole_frames frames in
    whole steps: those whose window was completed (end - lag) inside them."""
    return [e for e in events if e.frame_index - g.lag < whole_frames]


def _check_streaming(tools: dict, layers: list, features: np.ndarray, pcm: np.ndarray, tables,
                     settings, python_events: list, n_classes: int) -> dict:
    """Check 3 (see the module docstring); the report's "streaming" entry."""
    frames = features.shape[1]
    c_clip_logits = run_window_steps_c(tools["step"], features, n_classes)
    golden = run_network(layers, features[..., None])
    ok = np.all(c_clip_logits == golden, axis=1)
    if not ok.all():
        clip = int(np.flatnonzero(~ok)[0])
        raise KwsError(f"verify: test clip {clip}: kws_model_step logits "
                       f"{c_clip_logits[clip].tolist()} != the window model's "
                       f"{golden[clip].tolist()}")
    stream_features = golden_stream_features(pcm, tables)
    ends, logits = stream_logits_streaming(stream_features, layers, frames)
    c_ends, c_logits, _ = run_steps_c(tools["step"], stream_features, n_classes)
    if not (np.array_equal(c_ends, ends) and np.array_equal(c_logits, logits)):
        bad = next((i for i in range(min(len(ends), len(c_ends)))
                    if c_ends[i] != ends[i] or np.any(c_logits[i] != logits[i])),
                   min(len(ends), len(c_ends)))
        raise KwsError(f"verify: stream: kws_model_step differs from the golden streaming "
                       f"network at window {bad} of {len(ends)} (C {len(c_ends)} windows)")
    keep = ends < len(stream_features)
    twin_events = Recognizer(settings).push(ends[keep], logits[keep])
    g = geometry(layers, frames)
    whole = (len(stream_features) // g.time_stride) * g.time_stride
    reachable = window_events_python(python_events, g, whole)
    if twin_events != reachable:
        raise _events_differ("golden streaming twin vs window model", reachable, twin_events)
    window_events = run_stream_c(tools["verify_window"], pcm)
    if window_events != python_events:
        raise _events_differ("stream (C loop on the window path)", python_events, window_events)
    return {"clips_bitexact_step": int(ok.sum()), "stream_windows": int(len(ends)),
            "stream_steps_bitexact": True, "stream_events_equal_window_path": True,
            "stream_events_equal_streaming_twin": True,
            "stream_events_streaming": len(twin_events),
            "stream_events_window": len(python_events)}


def first_layer_mismatch(tool: Path, layers: list, features: np.ndarray) -> str:
    """Which layer of the C differs from the golden network on this input, and where."""
    golden = [o.reshape(-1) for o in run_network(layers, features[None, ..., None], keep=True)]
    c = trace_c(tool, features, [g.size for g in golden])
    for layer, g, got in zip(layers, golden, c):
        diff = np.flatnonzero(g != got)
        if len(diff):
            i = int(diff[0])
            return (f"layer {layer.name}: first difference at flat index {i} (NHWC): "
                    f"C {int(got[i])}, golden {int(g[i])} ({len(diff)} of {g.size} differ)")
    return "every layer equal when traced alone: the input features differ"


def _check_clips(tool: Path, layers: list, audio: np.ndarray, golden_features: np.ndarray,
                 n_classes: int) -> int:
    frames, n_out = golden_features.shape[1:]
    features, logits = run_clips_c(tool, audio, frames, n_out, n_classes)
    golden_logits = run_network(layers, golden_features[..., None])
    feature_ok = np.all(features == golden_features, axis=(1, 2))
    logit_ok = np.all(logits == golden_logits, axis=1)
    if not feature_ok.all():
        clip = int(np.flatnonzero(~feature_ok)[0])
        frame, coeff = map(int, np.argwhere(features[clip] != golden_features[clip])[0])
        raise KwsError(f"verify: test clip {clip}: C features differ from golden at frame "
                       f"{frame}, coefficient {coeff}: C {features[clip, frame, coeff]}, "
                       f"golden {golden_features[clip, frame, coeff]}")
    if not logit_ok.all():
        clip = int(np.flatnonzero(~logit_ok)[0])
        raise KwsError(f"verify: test clip {clip}: C logits {logits[clip].tolist()} != golden "
                       f"{golden_logits[clip].tolist()}; "
                       f"{first_layer_mismatch(tool, layers, golden_features[clip])}")
    return int(feature_ok.sum())


def _write_stream(out: Path, pcm: np.ndarray, placed, labels: list[str], rate: int) -> None:
    with atomic_path(out / "stream.wav", suffix=".wav") as tmp:
        sf.write(tmp, pcm, rate, subtype="PCM_16", format="WAV")
    rows = ["label,start_s,end_s"] + [f"{labels[p.label]},{p.start / rate:.4f},{p.end / rate:.4f}"
                                      for p in placed]
    write_text(out / "stream_truth.csv", "\n".join(rows) + "\n")


def _index(labels: list[str], name: str) -> int | None:
    return labels.index(name) if name in labels else None


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    run = RunDir(run_dir)
    out = Path(out) if out else run.verify
    generated = run.export
    if not (generated / "kws_model.c").exists():
        raise KwsError(f"{generated}/kws_model.c is missing: run the export stage first")
    v = cfg.verify
    layers, labels, settings = run.golden_network(), run.labels(), run.detector_settings()
    test, features = run.split("test"), run.features("test")
    frames, n_out = features["features"].shape[1:]
    step = plan_streaming(layer_shapes(layers, (frames, n_out, 1)), frames)
    tools = build_host(generated, out / "build", sanitize=v.sanitize, streaming=step is not None)
    bitexact = _check_clips(tools["verify"], layers, test["audio"], features["features"],
                            len(labels))

    tables = run.mfcc_tables()
    rate = tables.sample_rate
    pcm, placed = mix_stream(test["audio"], test["label"], np.arange(len(test["label"])),
                             run.noise("test"), v.stream_seconds, rate,
                             np.random.default_rng(v.seed), snr_db=(v.stream_snr_db,) * 2,
                             silence_label=_index(labels, "_silence_"))
    _write_stream(out, pcm, placed, labels, rate)
    started = time.perf_counter()
    python_events = detect_stream(pcm, tables, lambda x: run_network(layers, x), settings)
    python_seconds = time.perf_counter() - started
    started = time.perf_counter()
    c_events, c_stats = run_stream_c_stats(tools["verify"], pcm)
    c_seconds = time.perf_counter() - started
    window_events = python_events
    if step is not None:            # the loop's twin: the streaming path's
        python_events = detect_stream_streamed(pcm, tables, layers, frames, settings)
    equal = python_events == c_events
    if not equal:
        raise _events_differ("stream", python_events, c_events)
    if bool(c_stats["streaming"]) != (step is not None):
        raise KwsError(f"verify: the C loop ran the {'streaming' if c_stats['streaming'] else 'window'}"
                       f" path for a {'streaming' if step is not None else 'window'} network")
    streaming = None if step is None else {
        "step_frames": step.geometry.time_stride,
        **_check_streaming(tools, layers, features["features"], pcm, tables, settings,
                           window_events, len(labels))}
    stream_seconds = len(pcm) / rate
    return {"bitexact_clips": bitexact, "total_clips": int(len(test["audio"])),
            "stream_seconds": round(stream_seconds, 1), "stream_keywords": sum(
                1 for p in placed if settings.is_keyword[p.label]),
            "stream_events_python": len(python_events), "stream_events_c": len(c_events),
            "stream_events_equal": bool(equal),
            "python_realtime_factor": round(stream_seconds / python_seconds, 1),
            "c_host_realtime_factor": round(stream_seconds / c_seconds, 1),
            "sanitized": bool(v.sanitize),
            "loop_path": "step" if c_stats["streaming"] else "window",
            "streaming": streaming,
            "demo": str(run.verify / tools["demo"].relative_to(out))}


def summarize(entry: dict) -> str:
    same = "stream events equal" if entry.get("stream_events_equal") else "stream events DIFFER"
    s = entry.get("streaming")
    step = "" if not s else (f"; streaming step ({s['step_frames']} frames): "
                             f"{s['clips_bitexact_step']} clips and {s['stream_windows']} stream "
                             "windows bit-exact, window path events equal")
    return (f"{entry.get('bitexact_clips')}/{entry.get('total_clips')} clips bit-exact, {same} "
            f"({entry.get('stream_events_c')} events in {entry.get('stream_seconds')} s, "
            f"{entry.get('loop_path', 'window')} path){step}")
