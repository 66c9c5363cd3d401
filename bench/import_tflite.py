"""Benchmark `kws-import` on DS-CNN-S: a .tflite written by the pinned builder, imported, its C run
on the Cortex-M4 under QEMU and checked against the TFLite Micro interpreter.

    .venv/bin/python bench/import_tflite.py [--inputs 100] [--no-write]

The network is bench/kernels.py's (conf/model/dscnn_s.yaml, seeded untrained weights quantised by
kws.training.ptq: instruction counts depend on the shapes, not the values) written to a .tflite by
kws.emit.tflite (the tflite-micro package's model builder; TensorFlow's own converter is not
installed here). `kws-import --verify` then reads it back, writes the C and compares the golden
model, the host C and the M4 with the interpreter on N random inputs; this writes the "import"
section of bench/RESULTS.md beside CMSIS-NN's figure for the same network (../shared/ANCHORS.md).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from kernels import ANCHOR, golden_network
from results import HERE, write_section

from kws.emit.tflite import to_tflite
from kws.imports import command

GOAL = 3_850_000          # issue 17: <= 3.85 M instructions per inference on the M4 (0.5x CMSIS-NN)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=100)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "dscnn_s.tflite"
        model.write_bytes(to_tflite(golden_network(0), (49, 10)))
        size = model.stat().st_size
        out = Path(tmp) / "out"
        if command.main([str(model), "--out", str(out), "--verify", "-n", str(args.inputs)]):
            raise SystemExit("bench: kws-import failed")
        report = json.loads((out / "report.json").read_text())
    v = report["verify"]
    if "m4_insn_per_inference" not in v:
        raise SystemExit(f"bench: {v.get('cortex_m')}")
    cmsis = ANCHOR["mps2-an386"]["total"]
    m4 = v["m4_insn_per_inference"]
    text = f"""## Bring your own model: kws-import on DS-CNN-S (Cortex-M4, QEMU)

Command: `.venv/bin/python bench/import_tflite.py --inputs {args.inputs}` ({time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s). DS-CNN-S (conf/model/dscnn_s.yaml, seeded untrained weights, kws.training.ptq) written as a {size:,}-byte .tflite by the pinned tflite-micro model builder (kws.emit.tflite; TensorFlow's converter is not installed here, so no converter-made model yet), then `kws-import MODEL --out DIR --verify -n {args.inputs}`: {v['inputs']} seeded random int8 inputs, each compared bit for bit with the TFLite Micro interpreter (reference kernels, Python package).

| | equal to TFLite Micro | M4 instructions / inference | ours / CMSIS-NN | arena | flash (kernels + model + weights) |
|---|---:|---:|---:|---:|---:|
| golden model (numpy) | {v['golden_vs_tflm']:.0%} | – | – | – | – |
| generated C, host | {v['host_c_vs_tflm']:.0%} | – | – | {report['arena_bytes']:,} B | – |
| generated C, mps2-an386 | {v['cortex_m_vs_tflm']:.0%} | **{m4:,}** | {m4 / cmsis:.2f} | {report['arena_bytes']:,} B (stack {v['stack_bytes']:,} B) | {v['flash_bytes']:,} B |
| TFLite Micro interpreter | – | – | – | smallest arena {v['tflm_smallest_arena_bytes']:,} B | – |
| CMSIS-NN, same network (ANCHORS.md) | – | {cmsis:,} | 1.00 | – | – |

Goal ≤ {GOAL:,} instructions (0.5x CMSIS-NN): **{'met' if m4 <= GOAL else 'not met'}** ({m4:,}, {m4 / cmsis:.2f}x)."""
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", "import", text)
        print("wrote the 'import' section of", HERE / "RESULTS.md")


if __name__ == "__main__":
    main()
