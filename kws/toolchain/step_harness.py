"""Building and running the generated streaming step (kws_model_step) on the host
(firmware/tests/host/kws_step_tool.c), in kws.golden.streaming's form so tests compare with ==."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from kws.toolchain.host import build_sections, result_array, run_tool
from kws.toolchain.results import read_results, scalars


def build_step_tool(generated: Path, out_dir: Path, sanitize: bool = False) -> Path:
    """The harness linked with the generated kws_model{,_data}.c in `generated`."""
    name = "kws_step_tool" + ("_san" if sanitize else "")
    return build_sections(Path(out_dir) / name, ("nn", "model", "model-data", "tests-host-step"),
                          sanitize, model=Path(generated))


def run_steps_c(tool: Path, features: np.ndarray, n_classes: int, reset_at: int = -1
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The C steps over int8 frames [N, n_out] (kws_model_reset, a reset again before step
    `reset_at` if >= 0): (window-end frames int64 [M], logits int8 [M, n_classes], the step
    that made each int64 [M]), as kws.golden.streaming.stream_logits_streaming."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "features.raw", Path(tmp) / "out.kwsr"
        np.ascontiguousarray(features, dtype=np.int8).tofile(src)
        run_tool(tool, "stream", src, reset_at, out, what="stream")
        arrays = read_results(out)
    source = f"{Path(tool).name} stream"
    ends = result_array(arrays, "window_end", (None,), np.uint32, source).astype(np.int64)
    logits = result_array(arrays, "logits", (len(ends), n_classes), np.int8, source)
    steps = result_array(arrays, "step", (len(ends),), np.uint32, source).astype(np.int64)
    scalars(arrays, ["steps"], source)
    return ends, logits, steps


def run_window_steps_c(tool: Path, windows: np.ndarray, n_classes: int) -> np.ndarray:
    """Per int8 window [N, frames, n_out]: reset, the window step by step; the logits of the
    window (int8 [N, n_classes])."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "windows.raw", Path(tmp) / "out.kwsr"
        np.ascontiguousarray(windows, dtype=np.int8).tofile(src)
        run_tool(tool, "clips", src, out, what="clips")
        arrays = read_results(out)
    return result_array(arrays, "logits", (len(windows), n_classes), np.int8,
                        f"{Path(tool).name} clips")
