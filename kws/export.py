"""Stage `export`: the int8 student and the front end as C files for firmware/.

Reads:  quantize/ (the golden int8 layers), features/kws_mfcc_tables.{c,h}, features/quant.json,
        data/labels
Writes: firmware/kws_model_data.{c,h}   weights, biases, multipliers, shifts, exp LUT (flash)
        firmware/kws_model.{c,h}        kws_model_invoke(): straight-line kernel calls, one arena
        firmware/kws_model_settings.h   labels, frame and window sizes, detector settings
        firmware/kws_mfcc_tables.{c,h}  the front end's tables (as the features stage verified)
Build them with the library in firmware/ (src/, include/); see firmware/ports/host/.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from . import data as data_stage
from .codegen import (GENERATED, check_requantization, layer_shapes, model_data_sources,
                      model_sources, plan_memory)
from .detector import DetectorSettings, make_settings
from .errors import KwsError
from .features import load_quant
from .io import read_json, write_text
from .quantize import load_golden

CONFIG_KEYS = ("detector",)
OPERATING_POINT = Path("stream") / "operating_point.json"
FIRMWARE_DIR = "firmware"
OUTPUT = FIRMWARE_DIR
REQUIRES = ("data", "features", "quantize")   # and the stream stage's operating point, if made


def detector_settings(cfg, labels: list[str], output_scale: float, stride_ms: float,
                      threshold: int | None = None) -> DetectorSettings:
    """The recogniser's integer settings from `detector` (times in ms → frames/inferences);
    `threshold` replaces detector.threshold (the stream stage's operating point)."""
    d = cfg.detector
    inference_ms = d.infer_every_frames * stride_ms
    return make_settings(labels, output_scale,
                         average_window=max(1, round(d.average_window_ms / inference_ms)),
                         min_count=d.min_count,
                         threshold=d.threshold if threshold is None else threshold,
                         suppression_frames=round(d.suppression_ms / stride_ms),
                         infer_every=d.infer_every_frames)


def detector_settings_source(settings: DetectorSettings) -> str:
    """C definition of `kws_model_detector_settings` (kws_detector_settings_t)."""
    flags = ", ".join("1" if k else "0" for k in settings.is_keyword)
    lut = ",\n        ".join(", ".join(str(int(v)) for v in settings.exp_lut[i:i + 16])
                            for i in range(0, 256, 16))
    return f"""
/* The recogniser's settings (kws_detector.h); exp_lut[d] = round(32767 exp(-d * output scale)),
 * the integer softmax over the logits' LSB gaps. */
const kws_detector_settings_t kws_model_detector_settings = {{
    .n_classes = {settings.n_classes},
    .is_keyword = {{ {flags} }},
    .average_window = {settings.average_window},
    .min_count = {settings.min_count},
    .threshold = {settings.threshold},
    .suppression_frames = {settings.suppression_frames},
    .infer_every = {settings.infer_every},
    .exp_lut = {{
        {lut}
    }},
}};
"""


def load_operating_point(run_dir: Path) -> dict | None:
    """The stream stage's chosen threshold, if it was made for this run's int8 network."""
    point = read_json(Path(run_dir) / OPERATING_POINT)
    if point is None or point.get("model_sha256") != model_hash(run_dir):
        return None
    return point


def model_hash(run_dir: Path) -> str:
    return hashlib.sha256((Path(run_dir) / "quantize" / "model_int8.npz").read_bytes()).hexdigest()


def settings_header(labels: list[str], quant: dict, settings: DetectorSettings,
                    sample_rate: int, stride: int, window_len: int) -> str:
    label_list = ", ".join(f'"{label}"' for label in labels)
    keyword_flags = ", ".join("1" if k else "0" for k in settings.is_keyword)
    return GENERATED + f"""/* Labels, front-end sizes and the wake-word detector's settings of this model. */
#ifndef KWS_MODEL_SETTINGS_H
#define KWS_MODEL_SETTINGS_H

#define KWS_SAMPLE_RATE        {sample_rate}
#define KWS_WINDOW_SAMPLES     {window_len}
#define KWS_STRIDE_SAMPLES     {stride}
#define KWS_FEATURE_FRAMES     {quant['frames']}
#define KWS_FEATURE_COEFFS     {quant['n_out']}
#define KWS_N_CLASSES          {len(labels)}
#define KWS_LABELS             {{ {label_list} }}
#define KWS_IS_KEYWORD         {{ {keyword_flags} }}

/* Recogniser (kws_model_detector_settings in kws_model_data.c holds the same values): an
 * inference every KWS_INFER_EVERY_FRAMES frames; the class posteriors (uint8, integer softmax) averaged over the last KWS_AVERAGE_WINDOW inferences
 * (at least KWS_MIN_COUNT); a keyword fires at an average >= KWS_THRESHOLD (of 255), at most
 * once per KWS_SUPPRESSION_FRAMES frames. See kws/detector.py. */
#define KWS_INFER_EVERY_FRAMES {settings.infer_every}
#define KWS_AVERAGE_WINDOW     {settings.average_window}
#define KWS_MIN_COUNT          {settings.min_count}
#define KWS_THRESHOLD          {settings.threshold}
#define KWS_SUPPRESSION_FRAMES {settings.suppression_frames}

#endif /* KWS_MODEL_SETTINGS_H */
"""


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    run_dir = Path(run_dir)
    final = run_dir / OUTPUT
    out = Path(out) if out else final
    layers = load_golden(run_dir)
    labels = data_stage.load_labels(run_dir)
    quant = load_quant(run_dir)
    tables_dir = run_dir / "features"
    if not (tables_dir / "kws_mfcc_tables.c").exists():
        raise KwsError(f"{tables_dir}/kws_mfcc_tables.c is missing: run the features stage")
    f = quant["settings"]
    sample_rate = int(quant["sample_rate"])
    stride = round(f["stride_ms"] * sample_rate / 1000)
    window_len = round(f["window_ms"] * sample_rate / 1000)
    shapes = layer_shapes(layers, (quant["frames"], quant["n_out"], 1))
    if shapes[-1].out_dims != (len(labels),):
        raise KwsError(f"the int8 network has {shapes[-1].out_dims} outputs for "
                       f"{len(labels)} labels: re-run the quantize stage")
    check_requantization(shapes)
    plan = plan_memory(shapes)
    point = load_operating_point(run_dir)
    settings = detector_settings(cfg, labels, layers[-1].output.scale, f["stride_ms"],
                                 point["threshold"] if point else None)
    data_h, data_c, weights_bytes = model_data_sources(shapes)
    data_h = data_h.replace("#include <stdint.h>\n", "#include <stdint.h>\n\n#include \"kws_detector.h\"\n")
    data_h = data_h.replace("\n#endif", "\nextern const kws_detector_settings_t kws_model_detector_settings;\n\n#endif")
    data_c += detector_settings_source(settings)
    model_h, model_c = model_sources(shapes, plan)
    write_text(out / "kws_model_data.h", data_h)
    write_text(out / "kws_model_data.c", data_c)
    write_text(out / "kws_model.h", model_h)
    write_text(out / "kws_model.c", model_c)
    write_text(out / "kws_model_settings.h",
               settings_header(labels, quant, settings, sample_rate, stride, window_len))
    for name in ("kws_mfcc_tables.c", "kws_mfcc_tables.h"):
        shutil.copyfile(tables_dir / name, out / name)
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    report = {"folder": str(final), "files": files,
              "ram_bytes": plan.arena_bytes, "ram_lower_bound_bytes": plan.lower_bound_bytes,
              "weights_bytes": weights_bytes, "layers": len(shapes),
              "detector": {"average_window": settings.average_window,
                           "min_count": settings.min_count, "threshold": settings.threshold,
                           "suppression_frames": settings.suppression_frames,
                           "infer_every_frames": settings.infer_every,
                           "threshold_from": "stream stage operating point" if point
                           else "detector.threshold"}}
    return report


def summarize(entry: dict) -> str:
    return (f"{entry.get('folder')}: activations {entry.get('ram_bytes')} B "
            f"(lower bound {entry.get('ram_lower_bound_bytes')} B), constants "
            f"{entry.get('weights_bytes')} B")


def load_exported_settings(cfg, run_dir: Path) -> tuple[list, list[str], DetectorSettings]:
    """What the export stage wrote, as the verify and stream stages use it."""
    layers = load_golden(run_dir)
    labels = data_stage.load_labels(run_dir)
    quant = load_quant(run_dir)
    point = load_operating_point(run_dir)
    settings = detector_settings(cfg, labels, layers[-1].output.scale,
                                 quant["settings"]["stride_ms"],
                                 point["threshold"] if point else None)
    return layers, labels, settings

