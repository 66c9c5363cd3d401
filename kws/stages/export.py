"""Stage `export`: the int8 student and the front end as C files for firmware/.

Reads:  quantize/ (the golden int8 layers), features/kws_mfcc_tables.{c,h}, features/quant.json,
        data/labels.json, stream/operating_point.json (when made for this int8 network)
Writes: firmware/kws_model_data.{c,h}   weights, biases, multipliers, shifts, exp LUT (flash)
        firmware/kws_model.{c,h}        kws_model_invoke(): straight-line kernel calls, one arena;
                                        for a valid-in-time network also kws_model_reset() and
                                        kws_model_step() (the streaming network: state + scratch);
                                        the API version, generator, model hash and
                                        kws_model_info (kws.emit.model_info)
        firmware/kws_model_settings.h   labels, frame and window sizes, detector settings
        firmware/detector.json          the same detector settings, for the verify and firmware
                                        stages (and anyone scripting against the C)
        firmware/kws_mfcc_tables.{c,h}  the front end's tables (as the features stage verified)
        firmware/micropython/kws_mp/    the same detector in MicroPython (kws.emit.micropython)
Build them with the library in firmware/ (src/, include/); see firmware/app/.
"""
from __future__ import annotations

import logging
from pathlib import Path

from kws.artifacts import RunDir
from kws.emit.micropython import write_package as write_micropython_package
from kws.emit.model_c import (check_requantization, constant_bytes, layer_shapes,
                              model_data_sources, model_sources, plan_memory, plan_streaming,
                              settings_header)
from kws.emit.limits import API_VERSION
from kws.emit.model_info import add_model_info, model_hash
from kws.errors import KwsError
from kws.golden.detector import settings_from_config
from kws.golden.streaming import inference_cadence
from kws.io import write_json, write_text

CONFIG_KEYS = ("detector", "export")
OUTPUT = "firmware"
REQUIRES = ("data", "features", "quantize")   # and the stream stage's operating point, if made

log = logging.getLogger(__name__)


def input_fingerprint(cfg) -> str:
    """The generated API's version: a run exported for another one is exported again."""
    return f"api={API_VERSION}"


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    run = RunDir(run_dir)
    out = Path(out) if out else run.export
    layers = run.golden_network()
    labels = run.labels()
    quant = run.quant()
    tables = run.mfcc_tables()
    if not (run.features_dir / "kws_mfcc_tables.c").exists():
        raise KwsError(f"{run.features_dir}/kws_mfcc_tables.c is missing: run the features stage")
    shapes = layer_shapes(layers, (quant["frames"], quant["n_out"], 1))
    if shapes[-1].out_dims != (len(labels),):
        raise KwsError(f"the int8 network has {shapes[-1].out_dims} outputs for "
                       f"{len(labels)} labels: re-run the quantize stage")
    check_requantization(shapes)
    plan = plan_memory(shapes)
    point = run.operating_point() or {}
    window_ms = point.get("average_window_ms") or cfg.detector.average_window_ms
    settings = settings_from_config(cfg.detector, labels, layers[-1].output.scale,
                                    quant["settings"]["stride_ms"], point.get("threshold"),
                                    infer_every=inference_cadence(layers, tables.frames_per_clip,
                                                                  cfg.detector.infer_every_frames),
                                    average_window_ms=window_ms)
    data_h, data_c, _ = model_data_sources(shapes, settings)
    flash = constant_bytes(shapes)
    weights_bytes = flash["portable"]
    step = plan_streaming(shapes, quant["frames"])
    model_h, model_c = model_sources(shapes, plan, step)
    ram_bytes = plan.arena_bytes + (0 if step is None else step.state_bytes
                                    + step.memory.scratch_bytes)
    check_budgets(cfg.export, ram_bytes, max(flash.values()))
    log.info("export: writing the C (%d layers, arena %d B, constants %d B)", len(shapes),
             plan.arena_bytes, weights_bytes)
    generated = {"kws_model_data.h": data_h, "kws_model_data.c": data_c,
                 "kws_model.h": model_h, "kws_model.c": model_c,
                 "kws_model_settings.h": settings_header(labels, quant, settings,
                                                         tables.sample_rate, tables.stride,
                                                         tables.window_len, step),
                 **{name: (run.features_dir / name).read_text()
                    for name in ("kws_mfcc_tables.c", "kws_mfcc_tables.h")}}
    # the API version, generator and model hash (kws_model.h) and kws_model_info (kws_model.c)
    generated = add_model_info(generated, tables, quant["frames"], len(labels))
    for name, text in generated.items():
        write_text(out / name, text)
    write_json(out / run.detector_json_path.name, settings.to_json())
    write_micropython_package(out / "micropython", layers, tables, quant["frames"], labels,
                              settings)
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    return {"folder": str(run.export), "files": files,
            "api_version": API_VERSION, "model_hash": model_hash(generated),
            "model_ram_bytes": ram_bytes,
            "ram_bytes": plan.arena_bytes, "ram_lower_bound_bytes": plan.lower_bound_bytes,
            "weights_bytes": weights_bytes, "weights_bytes_packed": flash["packed"],
            "layers": len(shapes),
            "streaming": None if step is None else {
                "step_frames": step.geometry.time_stride, "lag_frames": step.geometry.lag,
                "pool_rows": step.geometry.final_rows,
                "state_bytes": step.state_bytes,
                "state_buffer_bytes": step.memory.state_bytes,
                "state_counter_bytes": step.counter_bytes,
                "scratch_bytes": step.memory.scratch_bytes,
                "state": {p.name: p.size for p in step.memory.state}},
            "detector": {"average_window": settings.average_window,
                         "min_count": settings.min_count, "threshold": settings.threshold,
                         "suppression_frames": settings.suppression_frames,
                         "infer_every_frames": settings.infer_every,
                         "threshold_from": "stream stage operating point" if point
                         else "detector.threshold",
                         "average_window_ms": window_ms}}


def check_budgets(budgets, ram_bytes: int, flash_bytes: int) -> None:
    """One KwsError naming each budget the network exceeds, and by how much."""
    over = [f"export.{key}={limit}: the network needs {need} B of {what}, {need - limit} B over"
            for key, limit, need, what in (
                ("ram_budget_bytes", budgets.ram_budget_bytes, ram_bytes, "RAM"),
                ("flash_budget_bytes", budgets.flash_budget_bytes, flash_bytes, "flash constants"))
            if limit is not None and need > limit]
    if over:
        raise KwsError("; ".join(over) + ": nothing exported (a smaller network: prune=l1 with "
                       "prune.budget, or a smaller student_model)")


def summarize(entry: dict) -> str:
    streaming = entry.get("streaming")
    step = "" if not streaming else (f"; streaming step of {streaming['step_frames']} frames: "
                                     f"state {streaming['state_bytes']} B, scratch "
                                     f"{streaming['scratch_bytes']} B")
    return (f"{entry.get('folder')}: activations {entry.get('ram_bytes')} B "
            f"(lower bound {entry.get('ram_lower_bound_bytes')} B), constants "
            f"{entry.get('weights_bytes')} B ({entry.get('weights_bytes_packed')} B with DSP "
            f"builds' packed weights){step}")
