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
from kws.golden.detector import Detection, detect_stream
from kws.golden.network import run_network
from kws.io import atomic_path, write_text
from kws.toolchain.host import build_sections, result_array, run_tool, sources_fingerprint
from kws.toolchain.results import read_results

CONFIG_KEYS = ("verify",)
OUTPUT = "verify"
REQUIRES = ("data", "features", "quantize", "export")
STREAM_CHUNK = 320                         # samples per feed: 20 ms, as an audio DMA would give


def input_fingerprint(cfg) -> str:
    return sources_fingerprint()            # the firmware/ C it builds


def build_host(generated: Path, out_dir: Path, sanitize: bool = False) -> dict[str, Path]:
    """kws_verify_tool and kws_demo, linked with the generated files in `generated`."""
    app = ("mfcc", "nn", "detector", "wakeword", "model", "model-data", "app")
    suffix = "_san" if sanitize else ""
    return {"verify": build_sections(out_dir / f"kws_verify_tool{suffix}",
                                     app + ("tests-host-verify",), sanitize,
                                     ["KWS_MODEL_TRACE_HOOK=kws_verify_trace"],
                                     model=generated, tables=generated),
            "demo": build_sections(out_dir / f"kws_demo{suffix}", app + ("demo",), sanitize,
                                   model=generated, tables=generated)}


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


def run_stream_c(tool: Path, pcm: np.ndarray, chunk: int = STREAM_CHUNK) -> list[Detection]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "stream.raw"
        np.ascontiguousarray(pcm, dtype="<i2").tofile(src)
        arrays = _run(tool, "stream", src, chunk)
    rows = result_array(arrays, "events", (None, 3), np.uint32, f"{tool.name} stream")
    return [Detection(*map(int, row)) for row in rows]


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
    tools = build_host(generated, out / "build", sanitize=v.sanitize)
    layers, labels, settings = run.golden_network(), run.labels(), run.detector_settings()
    test, features = run.split("test"), run.features("test")
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
    c_events = run_stream_c(tools["verify"], pcm)
    c_seconds = time.perf_counter() - started
    equal = python_events == c_events
    if not equal:
        first = next((i for i, (a, b) in enumerate(zip(python_events, c_events)) if a != b),
                     min(len(python_events), len(c_events)))
        show = lambda ev: ev[first] if first < len(ev) else "none"  # noqa: E731
        raise KwsError(f"verify: stream events differ at event {first}: Python {show(python_events)}, "
                       f"C {show(c_events)} ({len(python_events)} vs {len(c_events)} events)")
    stream_seconds = len(pcm) / rate
    return {"bitexact_clips": bitexact, "total_clips": int(len(test["audio"])),
            "stream_seconds": round(stream_seconds, 1), "stream_keywords": sum(
                1 for p in placed if settings.is_keyword[p.label]),
            "stream_events_python": len(python_events), "stream_events_c": len(c_events),
            "stream_events_equal": bool(equal),
            "python_realtime_factor": round(stream_seconds / python_seconds, 1),
            "c_host_realtime_factor": round(stream_seconds / c_seconds, 1),
            "sanitized": bool(v.sanitize),
            "demo": str(run.verify / tools["demo"].relative_to(out))}


def summarize(entry: dict) -> str:
    same = "stream events equal" if entry.get("stream_events_equal") else "stream events DIFFER"
    return (f"{entry.get('bitexact_clips')}/{entry.get('total_clips')} clips bit-exact, {same} "
            f"({entry.get('stream_events_c')} events in {entry.get('stream_seconds')} s)")
