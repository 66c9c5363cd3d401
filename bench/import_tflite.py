"""Benchmark `kws-import` on DS-CNN-S, made two ways: by the pinned builder and by TensorFlow's
converter; each imported, its C run on the Cortex-M4 under QEMU and checked against the TFLite
Micro interpreter.

    .venv/bin/python bench/import_tflite.py [--inputs 100] [--no-write]

Builder: bench/kernels.py's network (conf/model/dscnn_s.yaml, seeded untrained weights quantised
by kws.training.ptq) written to a .tflite by kws.emit.tflite (the tflite-micro package's model
builder). Converter (needs the tf extra, pip install -e '.[tf]'; skipped, naming tensorflow,
without): the ML-zoo DS-CNN-S topology in Keras (kws.imports.converter.dscnn: 49x10x1 input,
conv 10x4 stride 2 64 ch, 4 depthwise-separable blocks of 64, average pool over the map, FC 12,
softmax; seeded random weights and BatchNorm statistics), quantised by tf.lite.TFLiteConverter
(full integer, int8 in and out) on 200 seeded random normal inputs as the representative data.
Instruction counts depend on the shapes, not the values. `kws-import --verify` then reads each
back, writes the C and compares the golden model, the host C and the M4 with the interpreter on
N random inputs; this writes the "import" section of bench/RESULTS.md beside CMSIS-NN's figure for
the same network (../shared/ANCHORS.md).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from kernels import ANCHOR, golden_network
from results import HERE, write_section

from kws.emit.tflite import to_tflite
from kws.errors import KwsError
from kws.imports import command

GOAL = 3_850_000          # issue 17: <= 3.85 M instructions per inference on the M4 (0.5x CMSIS-NN)


def builder_model() -> bytes:
    return to_tflite(golden_network(0), (49, 10))


def converter_model() -> bytes:
    """The converter's DS-CNN-S (KwsError naming tensorflow when it is not installed)."""
    from kws.imports import converter
    model = converter.dscnn(seed=0, global_pool="avgpool")
    representative = np.random.default_rng(0).normal(0.0, 1.5, (200, 49, 10, 1))
    return converter.to_int8_tflite(model, representative.astype(np.float32))


def measure(data: bytes, n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "dscnn_s.tflite"
        model.write_bytes(data)
        out = Path(tmp) / "out"
        if command.main([str(model), "--out", str(out), "--verify", "-n", str(n)]):
            raise SystemExit("bench: kws-import failed")
        report = json.loads((out / "report.json").read_text())
    if "m4_insn_per_inference" not in report["verify"]:
        raise SystemExit(f"bench: {report['verify'].get('cortex_m')}")
    return {**report, "bytes": len(data)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=100)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    started = time.perf_counter()
    runs = {"builder": measure(builder_model(), args.inputs)}
    try:
        runs["converter"] = measure(converter_model(), args.inputs)
        skipped = ""
    except KwsError as exc:
        skipped = f"converter model skipped: {exc}"
        print("bench:", skipped)
    cmsis = ANCHOR["mps2-an386"]["total"]
    rows = []
    for name, r in runs.items():
        v = r["verify"]
        m4 = v["m4_insn_per_inference"]
        ops = "+".join(sorted(set(r["operators"])))
        rows.append(f"| {name} ({r['bytes']:,} B; {ops}) | {v['golden_vs_tflm']:.0%} / "
                    f"{v['host_c_vs_tflm']:.0%} / {v['cortex_m_vs_tflm']:.0%} | **{m4:,}** | "
                    f"{m4 / cmsis:.2f} | {r['arena_bytes']:,} B (stack {v['stack_bytes']:,} B) | "
                    f"{v['tflm_smallest_arena_bytes']:,} B | {v['flash_bytes']:,} B |")
    best = min(r["verify"]["m4_insn_per_inference"] for r in runs.values())
    text = f"""## Bring your own model: kws-import on DS-CNN-S (Cortex-M4, QEMU)

Command: `.venv/bin/python bench/import_tflite.py --inputs {args.inputs}` ({time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s). Two .tflite files of the same DS-CNN-S topology (49x10x1, conv 10x4 stride 2 64 ch, 4 depthwise-separable blocks of 64, average pool, FC 12): **builder**: conf/model/dscnn_s.yaml, seeded untrained weights quantised by kws.training.ptq, written by the pinned tflite-micro model builder (kws.emit.tflite); **converter**: Keras (kws.imports.converter.dscnn, seed 0: random weights and BatchNorm statistics, then softmax) quantised by TensorFlow 2.21's tf.lite.TFLiteConverter, full integer with int8 in and out, on 200 seeded random normal inputs as the representative data (no training, no real features: instruction counts depend on the shapes). Each then `kws-import MODEL --out DIR --verify -n {args.inputs}`: {args.inputs} seeded random int8 inputs, each compared bit for bit with the TFLite Micro interpreter (reference kernels, Python package).{(' ' + skipped + '.') if skipped else ''}

| model | equal to TFLite Micro: golden / host C / mps2-an386 | M4 instructions / inference | ours / CMSIS-NN | our arena | interpreter's smallest arena | flash (kernels + model + weights) |
|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}
| CMSIS-NN, same network (ANCHORS.md) | – | {cmsis:,} | 1.00 | 16,000 B | – | – |

Goal ≤ {GOAL:,} instructions (0.5x CMSIS-NN): **{'met' if best <= GOAL else 'not met'}** (best {best:,}, {best / cmsis:.2f}x)."""
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", "import", text)
        print("wrote the 'import' section of", HERE / "RESULTS.md")


if __name__ == "__main__":
    main()
