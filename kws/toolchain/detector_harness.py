"""Building and running the C wake-word detector on the host (firmware/tests/host/
kws_detector_tool.c), returning events in kws.golden.detector's form so tests compare with ==."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from kws.toolchain.host import build_sections
from kws.errors import KwsError
from kws.golden.mfcc_tables import MfccTables
from kws.golden.detector import Detection, DetectorSettings, inference_frames, n_stream_frames


def build_detector_tool(tables_dir: Path, out_dir: Path, sanitize: bool = False) -> Path:
    """The harness linked with the MFCC tables in `tables_dir` (kws.golden.mfcc_tables.write_c_tables)
    and the test stand-in model (kws_standin_model.c)."""
    name = "kws_detector_tool" + ("_san" if sanitize else "")
    return build_sections(Path(out_dir) / name, ("detector", "wakeword", "mfcc",
                                                 "tests-host-detector"),
                          sanitize, tables=Path(tables_dir))


def settings_text(s: DetectorSettings) -> str:
    """The harness's SETTINGS.txt."""
    head = [s.n_classes, s.average_window, s.min_count, s.threshold, s.suppression_frames,
            s.infer_every]
    return "\n".join([" ".join(map(str, head)), " ".join(str(int(k)) for k in s.is_keyword),
                      " ".join(str(int(v)) for v in s.exp_lut)]) + "\n"


def _run(tool: Path, args: list[str]) -> str:
    proc = subprocess.run([str(tool), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KwsError(f"{Path(tool).name} failed (exit {proc.returncode}):\n"
                       f"{proc.stderr[-3000:]}")
    return proc.stdout


def _read_events(path: Path) -> list[Detection]:
    return [Detection(*map(int, line.split())) for line in path.read_text().splitlines() if line]


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
                    str(d / "logits.s8"), str(d / "events.txt")])
        return _read_events(d / "events.txt")


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
        out = _run(tool, ["stream", str(d / "settings.txt"), str(d / "pcm.s16"),
                          str(d / "events.txt"), str(seed), str(max_chunk), str(ring_capacity)])
        events = _read_events(d / "events.txt")
    words = out.split()
    stats = dict(zip(words[0::2], map(int, words[1::2])))
    n_frames = n_stream_frames(len(pcm), tables)
    expected = {"frames": n_frames, "dropped": 0, "detections": len(events),
                "inferences": len(inference_frames(n_frames, tables.frames_per_clip,
                                                   settings.infer_every))}
    if stats != expected:
        raise KwsError(f"{Path(tool).name} stream: got {stats}, expected {expected}")
    return events
