"""Benchmark the int8 kernels on Cortex-M (QEMU): DS-CNN-S, instructions per layer kind, bit-exact.

    .venv/bin/python bench/kernels.py [--boards mps2-an386 mps2-an385] [--inputs 3]
                                      [--baseline REV] [--no-write]

Builds the DS-CNN-S topology (conf/model/dscnn_s.yaml; untrained, seeded weights: instruction
counts do not depend on the values, only on the shapes) on the default 49x10 int8 MFCC input,
quantises it with kws.training.ptq (calibrated on random inputs), exports it with kws.emit.model_c and runs it
under QEMU (-icount shift=0: SysTick counts instructions) with the harness
firmware/tests/target/bench_main.c. Prints instructions per layer kind and in total next to
CMSIS-NN's on the same network (/work/shared/ANCHORS.md), checks every layer's output on a few
random inputs against the golden model (kws.golden.network, exact), and writes the "kernels" section of
bench/RESULTS.md. --baseline REV also measures the kernels (firmware/src/nn/) as of git revision
REV (extracted with `git archive`) for a before/after column.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kws.toolchain import cortex_m as target
from kws.toolchain.model_bench import run_model_bench, write_bench_data
from kws.toolchain.sources import FIRMWARE, SourceList
from kws.emit.model_c import (check_requantization, is_pointwise, layer_shapes, model_data_sources,
                         model_sources, plan_memory)
from kws.golden.network import AvgPool, Conv, QuantParams, run_network
from results import HERE, write_section

REPO = HERE.parent

INPUT_DIMS = (49, 10, 1)          # conf/features/mfcc.yaml: 49 frames x 10 MFCC
INPUT_QUANT = QuantParams(0.5, 47)
N_CLASSES = 12
KINDS = ("conv", "dwconv", "pwconv", "avgpool", "fc")
KIND_TITLES = {"conv": "conv 10x4 s2", "dwconv": "depthwise 3x3 (x4)",
               "pwconv": "pointwise 1x1 (x4)", "avgpool": "avgpool", "fc": "FC 12"}
# CMSIS-NN (main, 2026) on the same network, -O2, arm-none-eabi-gcc 12.2, QEMU 7.2, instructions
# (/work/shared/ANCHORS.md); per kind rounded as published there.
ANCHOR = {
    "mps2-an386": {"conv": 1_120_000, "dwconv": 2_240_000, "pwconv": 4_280_000,
                   "avgpool": 50_000, "fc": 2_000, "total": 7_691_170},
    "mps2-an385": {"conv": 1_380_000, "dwconv": 2_660_000, "pwconv": 6_370_000,
                   "avgpool": 120_000, "fc": 3_000, "total": 10_526_017},
}


def golden_network(seed: int = 0) -> list:
    """DS-CNN-S as golden int8 layers: seeded torch init, BN folded, PTQ on random inputs."""
    import torch
    from omegaconf import OmegaConf
    from kws.training.models import build_model
    from kws.training.ptq import activation_ranges, convert, fold

    torch.manual_seed(seed)
    model = build_model(OmegaConf.load(REPO / "conf" / "model" / "dscnn_s.yaml"), N_CLASSES)
    model.eval()
    layers = fold(model)
    rng = np.random.default_rng(seed)
    calib = rng.integers(-128, 128, (64, 1, *INPUT_DIMS[:2])).astype(np.float32)
    x = torch.from_numpy((calib - INPUT_QUANT.zero_point) * INPUT_QUANT.scale)
    ranges = activation_ranges(layers, x, "minmax", 100.0)
    return convert(layers, ranges, INPUT_QUANT)


def kind_of(layer) -> str:
    if isinstance(layer, AvgPool):
        return "avgpool"
    if isinstance(layer, Conv):
        return "pwconv" if is_pointwise(layer) else ("dwconv" if layer.depthwise else "conv")
    return "fc"


def macs(shape) -> int:
    layer = shape.layer
    if isinstance(layer, AvgPool):
        return 0
    if isinstance(layer, Conv):
        return int(np.prod(shape.out_dims)) * int(np.prod(layer.weights.shape[1:]))
    return int(layer.weights.size)


def generate(gen: Path, n_inputs: int, seed: int = 0) -> list:
    """Writes the model and the bench data into gen; returns the layer shapes."""
    gen.mkdir(parents=True, exist_ok=True)
    layers = golden_network(seed)
    shapes = layer_shapes(layers, INPUT_DIMS)
    check_requantization(shapes)
    plan = plan_memory(shapes)
    data_h, data_c, _ = model_data_sources(shapes)
    model_h, model_c = model_sources(shapes, plan)
    for name, text in (("kws_model_data.h", data_h), ("kws_model_data.c", data_c),
                       ("kws_model.h", model_h), ("kws_model.c", model_c)):
        (gen / name).write_text(text)
    rng = np.random.default_rng(seed + 1)
    inputs = rng.integers(-128, 128, (n_inputs, *INPUT_DIMS)).astype(np.int8)
    inputs[-1] = np.clip(rng.normal(INPUT_QUANT.zero_point, 40, INPUT_DIMS), -128, 127)
    outputs = run_network(layers, inputs, keep=True)
    write_bench_data(gen, inputs, outputs)
    return shapes


def kernel_sources(tree: Path) -> tuple[list[Path], list[Path]]:
    """The kernels of a firmware tree (its sources.txt's [nn]) and its public headers."""
    listed = tree / "sources.txt"
    if not listed.is_file():
        raise SystemExit(f"bench: {tree} has no sources.txt (a revision before the source "
                         "list; measure it with that revision's own bench/kernels.py)")
    b = SourceList.load(listed).build("nn")
    return b.sources, b.includes


def build_and_run(board: str, gen: Path, tree: Path, build_dir: Path) -> dict:
    """The benchmark over the kernels of firmware tree `tree` (the harness, board and model
    from this checkout)."""
    kernels, include = kernel_sources(tree)
    r = run_model_bench(board, gen, gen, build_dir, extra_sources=tuple(kernels),
                        extra_includes=tuple(include), timeout_s=120)
    v = {k: r[k] for k in ("total_instructions", "inputs_checked", "mismatches", "stack_bytes")}
    if v["mismatches"] != 0 or "layer_instructions" not in r:
        raise SystemExit(f"bench: {board}: {v['mismatches']} mismatches; see "
                         f"{build_dir / 'qemu.log'}")
    arrays = r
    objects = target.objects_from_map(build_dir / "app.map")
    kernels_text = sum(objects.get(f"{s.stem}.o", {}).get("flash", 0) for s in kernels)
    return {"layers": dict(enumerate(int(n) for n in arrays["layer_instructions"])),
            "total": v["total_instructions"], "checked": v["inputs_checked"],
            "kernels_bytes": kernels_text, "stack": v["stack_bytes"]}


def by_kind(shapes, layers: dict) -> dict:
    out = {k: 0 for k in KINDS}
    for i, s in enumerate(shapes):
        out[kind_of(s.layer)] += layers[i]
    return out


def fmt_m(v: float) -> str:
    return f"{v / 1e6:.3f} M" if v >= 100_000 else f"{v:,.0f}"


def table(board: str, shapes, ours: dict, base: dict | None, label: str) -> list[str]:
    kinds_ours = by_kind(shapes, ours["layers"])
    kinds_base = by_kind(shapes, base["layers"]) if base else None
    anchor = ANCHOR.get(board)
    mac = {k: 0 for k in KINDS}
    for s in shapes:
        mac[kind_of(s.layer)] += macs(s)
    head = "| layer kind | MACs | ours | ours / MAC |"
    rule = "|---|---:|---:|---:|"
    if base:
        head += f" {label} | speedup |"
        rule += "---:|---:|"
    if anchor:
        head += " CMSIS-NN | ours / CMSIS-NN |"
        rule += "---:|---:|"
    rows = [head, rule]
    for k in (*KINDS, "total"):
        v = ours["total"] if k == "total" else kinds_ours[k]
        m = sum(mac.values()) if k == "total" else mac[k]
        title = "**total** (one inference)" if k == "total" else KIND_TITLES[k]
        row = f"| {title} | {m:,} | {v:,} | {v / m:.2f} |" if m else \
            f"| {title} | – | {v:,} | – |"
        if base:
            b = base["total"] if k == "total" else kinds_base[k]
            row += f" {b:,} | {b / v:.2f}x |"
        if anchor:
            row += f" {fmt_m(anchor[k])} | {v / anchor[k]:.2f} |"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", nargs="+", default=["mps2-an386", "mps2-an385"],
                        choices=sorted(target.BOARDS))
    parser.add_argument("--inputs", type=int, default=3, help="random inputs checked bit-exact")
    parser.add_argument("--baseline", metavar="REV",
                        help="also measure the kernels of firmware/ as of this git revision")
    parser.add_argument("--firmware", type=Path, default=FIRMWARE,
                        help="the firmware tree whose kernels to measure (default: the working "
                             "tree's)")
    parser.add_argument("--out", type=Path, help="build directory (default: a temporary one)")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    missing = target.missing_tools()
    if missing:
        sys.exit(f"bench: {target.toolchain_hint(missing)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        shapes = generate(out / "gen", args.inputs)
        baseline = None
        if args.baseline:
            baseline = checkout_firmware(args.baseline, out / "baseline")
        results = {}
        for board in args.boards:
            ours = build_and_run(board, out / "gen", args.firmware, out / board)
            base = build_and_run(board, out / "gen", baseline, out / f"{board}-baseline") \
                if baseline else None
            results[board] = (ours, base)
    seconds = time.perf_counter() - started

    cmd = "`.venv/bin/python bench/kernels.py" + \
        (f" --baseline {args.baseline}" if args.baseline else "") + \
        ("" if args.boards == ["mps2-an386", "mps2-an385"] else " --boards " +
         " ".join(args.boards)) + (f" --inputs {args.inputs}" if args.inputs != 3 else "") + "`"
    label = f"`{args.baseline}`" if args.baseline else ""
    lines = ["## Kernels: int8 DS-CNN-S on Cortex-M (QEMU, instructions)", "",
             f"Command: {cmd} ({time.strftime('%Y-%m-%d')}, {seconds:.0f} s). DS-CNN-S "
             "(conf/model/dscnn_s.yaml: conv 64 10x4 s2, 4 DS blocks of 64, avgpool, FC 12) on a "
             "49x10 int8 input, seeded untrained weights quantised with kws.training.ptq, exported with "
             "kws.emit.model_c, run by firmware/tests/target/bench_main.c under QEMU 7.2 "
             "`-icount shift=0` (executed instructions, not cycles), -O2, arm-none-eabi-gcc "
             f"{gcc_version()}. Every layer's output on {args.inputs} random inputs equals the "
             "golden model's (kws.golden.network) exactly. CMSIS-NN: the same network, from "
             "/work/shared/ANCHORS.md. A layer's count includes the harness's SysTick read "
             "(tens of instructions); the first layer's also the input copy."]
    for board, (ours, base) in results.items():
        b = target.BOARDS[board]
        flags = " ".join(b.cpu_flags)
        lines += ["", f"### {board} ({b.cpu}, `{flags}`)", "",
                  *table(board, shapes, ours, base, label or "baseline"), "",
                  f"Kernels' code (src/nn/*.o, linked): {ours['kernels_bytes']} B"
                  + (f" (baseline {base['kernels_bytes']} B)" if base else "")
                  + f"; harness stack high-water {ours['stack']} B"
                  + (f" (baseline {base['stack']} B)" if base else "")
                  + f"; bit-exact on {ours['checked']}/{args.inputs} inputs, every layer."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", "kernels", text)
        print(f"\nwrote the 'kernels' section of {HERE / 'RESULTS.md'}")


def checkout_firmware(rev: str, dest: Path) -> Path:
    """firmware/ as of git revision `rev`, extracted (read-only git archive) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "firmware"],
                             capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"bench: git archive {rev} firmware failed: "
                         f"{archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "firmware"


def gcc_version() -> str:
    out = subprocess.run(["arm-none-eabi-gcc", "-dumpversion"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


if __name__ == "__main__":
    main()
