"""A streaming step's depthwise and pointwise rows of DS-CNN-S on Cortex-M (QEMU), per layer.

    .venv/bin/python bench/stream_layers.py [--baseline REV]

bench/kernels.py's DS-CNN-S (seeded, quantised by kws.training.ptq), cut to what a streaming step
(kws_model_step) runs per block: the first depthwise layer made valid in time on a 3 x 5 x 64
window (one output row of 5 pixels), its 1 x 5 x 64 pointwise row, then the average pool and the
FC so that the model is whole. Exported by kws.emit.model_c and run by
firmware/tests/target/bench_main.c on the M4 and M3 (instructions per layer, every layer
checked bit-exact against the golden model on 3 random inputs), with this checkout's kernels and,
with --baseline, those of revision REV. Prints; writes nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

import kernels as K
from kws.emit.model_c import (check_requantization, layer_shapes, model_data_sources,
                              model_sources, plan_memory)
from kws.golden.network import Conv, run_network
from kws.toolchain.model_bench import write_bench_data

WINDOW = (3, 5, 64)           # kernel_h rows of the 5-pixel, 64-channel map


def step_network() -> list:
    layers = K.golden_network(0)
    dw = next(layer for layer in layers if isinstance(layer, Conv) and layer.depthwise)
    pw = layers[layers.index(dw) + 1]
    return [dataclasses.replace(dw, time_padding="valid"), pw, layers[-2], layers[-1]]


def generate(gen: Path, net: list) -> None:
    gen.mkdir(parents=True)
    shapes = layer_shapes(net, WINDOW)
    check_requantization(shapes)
    data_h, data_c, _ = model_data_sources(shapes)
    model_h, model_c = model_sources(shapes, plan_memory(shapes))
    for name, text in (("kws_model_data.h", data_h), ("kws_model_data.c", data_c),
                       ("kws_model.h", model_h), ("kws_model.c", model_c)):
        (gen / name).write_text(text)
    x = np.random.default_rng(1).integers(-128, 128, (3, *WINDOW)).astype(np.int8)
    write_bench_data(gen, x, run_network(net, x, keep=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", help="also the kernels as of revision REV")
    args = parser.parse_args()
    net = step_network()
    with tempfile.TemporaryDirectory() as tmp:
        gen = Path(tmp) / "gen"
        generate(gen, net)
        trees = [("this checkout", K.FIRMWARE)]
        if args.baseline:
            trees.insert(0, (args.baseline, K.checkout_firmware(args.baseline,
                                                                 Path(tmp) / "baseline")))
        print("kernels | board | depthwise row | pointwise row | avgpool | FC")
        for t, (label, tree) in enumerate(trees):
            for board in ("mps2-an386", "mps2-an385"):
                r = K.build_and_run(board, gen, tree, Path(tmp) / f"build-{t}-{board}")
                counts = " | ".join(f"{r['layers'][i]:,}" for i in range(len(net)))
                print(f"{label} | {board} | {counts}")


if __name__ == "__main__":
    main()
