"""Building and running the C wake-word detector on the host (firmware/tests/host/
kws_detector_tool.c), returning events in kws.golden.detector's form so tests compare with ==."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from kws.toolchain.host import build_sections, result_array, run_tool
from kws.toolchain.results import read_results, scalars
from kws.errors import KwsError
from kws.golden.mfcc_tables import MfccTables
from kws.golden.detector import Detection, DetectorSettings, inference_frames, n_stream_frames


# the stand-in network's classes (firmware/tests/host/kws_standin_model.c): silence, broadband
# noise, low tones, high tones
STANDIN_LABELS = ["_silence_", "_unknown_", "low", "high"]


def standin_logits(x: np.ndarray, zero_point: int) -> np.ndarray:
    """numpy twin of firmware/tests/host/kws_standin_model.c: int8 [M, F, n_out, 1] → [M, 4]."""
    a = x[..., 0].astype(np.int64) - zero_point
    m0 = a[:, :, 0].sum(axis=1) // x.shape[1]
    m1 = a[:, :, 1].sum(axis=1) // x.shape[1]
    logits = np.stack([-m0 - 120, m0 + 20, 2 * m1 - 30, -3 * m1 - 50], axis=1)
    return np.clip(logits, -128, 127).astype(np.int8)


def standin_stream(sample_rate: int, seconds_each: float = 1.5) -> np.ndarray:
    """A project-synthesised int16 stream for the stand-in network: silence, a low tone (300 Hz),
    silence, a high tone (3 kHz), silence, each `seconds_each` long (both keywords fire)."""
    n = int(seconds_each * sample_rate)
    t = np.arange(n) / sample_rate
    quiet = np.zeros(n)
    tone = lambda f: 8000 * np.sin(2 * np.pi * f * t)     # noqa: E731
    pcm = np.concatenate([quiet, tone(300), quiet, tone(3000), quiet])
    return np.round(pcm).astype(np.int16)


def build_detector_tool(tables_dir: Path, out_dir: Path, sanitize: bool = False) -> Path:
    """The harness linked with the MFCC tables in `tables_dir` (kws.golden.mfcc_tables.write_c_tables)
    and the test stand-in model (kws_standin_model.c)."""
    name = "kws_detector_tool" + ("_san" if sanitize else "")
    return build_sections(Path(out_dir) / name, ("detector", "wakeword", "model-info", "mfcc",
                                                 "tests-host-detector"),
                          sanitize, tables=Path(tables_dir))


def settings_text(s: DetectorSettings) -> str:
    """The harness's SETTINGS.txt."""
    head = [s.n_classes, s.average_window, s.min_count, s.threshold, s.suppression_frames,
            s.infer_every]
    return "\n".join([" ".join(map(str, head)), " ".join(str(int(k)) for k in s.is_keyword),
                      " ".join(str(int(v)) for v in s.exp_lut)]) + "\n"


def _run(tool: Path, args: list[str]) -> None:
    """Runs the tool in mode args[0]; it writes its result file (the OUT argument)."""
    run_tool(tool, *args, what=args[0])


def _events(arrays: dict, tool: Path) -> list[Detection]:
    rows = result_array(arrays, "events", (None, 3), np.uint32, f"{Path(tool).name}'s result file")
    return [Detection(*map(int, row)) for row in rows]


def run_recognizer(tool: Path, settings: DetectorSettings, frame_indices,
                   logits: np.ndarray) -> list[Detection]:
    """kws_detector_push over a sequence of inferences (frame indices < 2**32)."""
    frames = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
    logits = np.asarray(logits)
    if logits.shape != (len(frames), settings.n_classes) or frames.min(initial=0) < 0 or \
            frames.max(initial=0) >= 2**32:
        raise KwsError("run_recognizer: need frame indices in [0, 2**32) and logits "
                       f"[{len(frames)}, {settings.n_classes}]")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "settings.txt").write_text(settings_text(settings))
        frames.astype("<u4").tofile(d / "frames.u32")
        np.ascontiguousarray(logits, dtype=np.int8).tofile(d / "logits.s8")
        _run(tool, ["recognizer", str(d / "settings.txt"), str(d / "frames.u32"),
                    str(d / "logits.s8"), str(d / "out.kwsr")])
        return _events(read_results(d / "out.kwsr"), tool)


def run_stream(tool: Path, settings: DetectorSettings, pcm: np.ndarray, tables: MfccTables,
               seed: int = 1, max_chunk: int = 700, ring_capacity: int = 1024) -> list[Detection]:
    """The whole C loop (kws_wakeword) over int16 samples fed in pseudo-random chunk sizes.
    Checks the harness's frame and inference counts against the stream's and that no sample
    was dropped."""
    pcm = np.ascontiguousarray(pcm, dtype="<i2").reshape(-1)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "settings.txt").write_text(settings_text(settings))
        pcm.tofile(d / "pcm.s16")
        _run(tool, ["stream", str(d / "settings.txt"), str(d / "pcm.s16"), str(d / "out.kwsr"),
                    str(seed), str(max_chunk), str(ring_capacity)])
        arrays = read_results(d / "out.kwsr")
    events = _events(arrays, tool)
    stats = scalars(arrays, ["frames", "dropped", "detections", "inferences"],
                    f"{Path(tool).name}'s result file")
    n_frames = n_stream_frames(len(pcm), tables)
    expected = {"frames": n_frames, "dropped": 0, "detections": len(events),
                "inferences": len(inference_frames(n_frames, tables.frames_per_clip,
                                                   settings.infer_every))}
    if stats != expected:
        raise KwsError(f"{Path(tool).name} stream: got {stats}, expected {expected}")
    return events
