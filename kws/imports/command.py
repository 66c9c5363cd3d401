"""`kws-import MODEL.tflite --out DIR [--verify]`: generated C for an int8 .tflite you already
have, proved equal to the TensorFlow Lite Micro interpreter.

Writes DIR/firmware/ (whole, or nothing: built aside and swapped in): kws_model.{c,h} (the
straight-line kernel calls, one planned arena), kws_model_data.{c,h} (weights, biases,
requantisation), kws_model_settings.h (input and output shapes and quantisation, the source
file's SHA-256). Build them with the library in firmware/ (src/, include/). The same versioned
API as our own export (kws.emit.model_info): kws_model.h carries KWS_MODEL_API_VERSION,
KWS_MODEL_GENERATOR and KWS_MODEL_HASH, kws_model.c `kws_model_info` (no front end: its
front-end fields are 0), which the application checks before the first inference with
kws_model_check(&kws_model_info, NULL, NULL) (the harness of --verify does).

--verify runs N random int8 inputs (seeded) plus the rows of --inputs FILE.npy through the golden
model (kws.golden.network), the generated C on the host and on a Cortex-M4 under QEMU (when the
Arm toolchain is installed), each compared with the interpreter, and writes DIR/report.json:
the fractions equal (golden_vs_tflm, host_c_vs_tflm, cortex_m_vs_tflm), the first mismatch,
our arena against the interpreter's smallest, flash, and the M4's instructions per inference.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from kws.emit.limits import API_VERSION
from kws.emit.model_c import (GENERATED, check_requantization, layer_shapes, model_data_sources,
                              model_sources, plan_memory)
from kws.emit.model_info import IMPORT_HASHED, add_model_info, model_hash
from kws.errors import KwsError
from kws.golden.network import run_network
from kws.imports.tflite import ImportedModel, read_tflite
from kws.io import atomic_dir, write_json

BAD_INPUT = 2
BOARD = "mps2-an386"


def settings_header(model: ImportedModel, source: Path, digest: str) -> str:
    h, w, c = model.input_dims
    iq, oq = model.input_quant, model.output_quant
    return GENERATED + f"""/* The imported model's interface (kws-import {source.name}, sha256 {digest[:16]}...). */
#ifndef KWS_MODEL_SETTINGS_H
#define KWS_MODEL_SETTINGS_H

/* input: int8 [1, {h}, {w}, {c}] NHWC, real = scale * (q - zero_point) */
#define KWS_IMPORT_INPUT_H          {h}
#define KWS_IMPORT_INPUT_W          {w}
#define KWS_IMPORT_INPUT_C          {c}
#define KWS_IMPORT_INPUT_SCALE      {iq.scale!r}f
#define KWS_IMPORT_INPUT_ZERO_POINT {iq.zero_point}
/* output: int8 [{model.n_outputs}] */
#define KWS_IMPORT_OUTPUTS          {model.n_outputs}
#define KWS_IMPORT_OUTPUT_SCALE     {oq.scale!r}f
#define KWS_IMPORT_OUTPUT_ZERO_POINT {oq.zero_point}

#endif /* KWS_MODEL_SETTINGS_H */
"""


def write_firmware(model: ImportedModel, source: Path, out: Path) -> dict:
    """DIR/firmware/ for the imported layers (built aside, swapped in whole)."""
    shapes = layer_shapes(model.layers, model.input_dims)
    check_requantization(shapes)
    plan = plan_memory(shapes)
    data_h, data_c, weights_bytes = model_data_sources(shapes)
    model_h, model_c = model_sources(shapes, plan)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    files = add_model_info({"kws_model_data.h": data_h, "kws_model_data.c": data_c,
                            "kws_model.h": model_h, "kws_model.c": model_c,
                            "kws_model_settings.h": settings_header(model, source, digest)},
                           None, model.input_dims[0], model.n_outputs, IMPORT_HASHED)
    with atomic_dir(out) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text)
    return {"folder": str(out), "arena_bytes": plan.arena_bytes, "weights_bytes": weights_bytes,
            "layers": [s.layer.name for s in shapes], "operators": model.operators,
            "sha256": digest, "api_version": API_VERSION,
            "model_hash": model_hash(files, IMPORT_HASHED)}


def verification_inputs(model: ImportedModel, n: int, seed: int, extra: Path | None
                        ) -> np.ndarray:
    """n seeded random int8 inputs [n, H, W, C], then the rows of `extra` (.npy, int8)."""
    dims = model.input_dims
    x = np.random.default_rng(seed).integers(-128, 128, (n, *dims)).astype(np.int8)
    if extra is None:
        return x
    try:
        given = np.load(extra, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise KwsError(f"{extra}: cannot read as .npy ({exc})") from None
    if given.dtype != np.int8:
        raise KwsError(f"{extra}: inputs must be int8, not {given.dtype}")
    if given.shape == dims:
        given = given[None]
    if given.shape[1:] != dims:
        raise KwsError(f"{extra}: inputs of shape {list(given.shape)}; [N, {', '.join(map(str, dims))}] "
                       "expected")
    return np.concatenate([x, given])


def _agreement(ours: np.ndarray, tflm: np.ndarray, what: str) -> dict:
    equal = np.all(ours == tflm, axis=1)
    out = {f"{what}_vs_tflm": float(equal.mean())}
    if not equal.all():
        i = int(np.flatnonzero(~equal)[0])
        j = int(np.flatnonzero(ours[i] != tflm[i])[0])
        out[f"{what}_first_mismatch"] = {"input": i, "output": j, "ours": int(ours[i, j]),
                                         "tflm": int(tflm[i, j])}
    return out


def verify(model: ImportedModel, source: Path, firmware: Path, x: np.ndarray, board: str,
           work: Path) -> dict:
    from kws.emit.tflite import run_tflm, smallest_arena
    data = source.read_bytes()
    tflm = run_tflm(data, x)
    golden = run_network(model.layers, x)
    report = {"inputs": int(len(x)), **_agreement(golden, tflm, "golden")}
    report["tflm_smallest_arena_bytes"] = smallest_arena(data, x[:1])
    report.update(_host_c(firmware, x, tflm, work))
    report.update(_cortex_m(model, firmware, x, tflm, board, work))
    return report


def _host_c(firmware: Path, x: np.ndarray, tflm: np.ndarray, work: Path) -> dict:
    from kws.toolchain.host import build_sections, result_array, run_tool
    from kws.toolchain.results import read_results
    tool = build_sections(work / "kws_invoke_tool", ("nn", "model-info", "model", "model-data",
                                                     "tests-host-invoke"), model=firmware)
    src, out = work / "inputs.raw", work / "host.kwsr"
    np.ascontiguousarray(x).tofile(src)
    run_tool(tool, src, out, what="the imported model on the host")
    logits = result_array(read_results(out), "logits", tflm.shape, np.int8, str(out))
    return _agreement(logits, tflm, "host_c")


def _cortex_m(model: ImportedModel, firmware: Path, x: np.ndarray, tflm: np.ndarray,
              board: str, work: Path) -> dict:
    from kws.toolchain import cortex_m as target
    from kws.toolchain.model_bench import bench_golden_network
    missing = target.missing_tools()
    if missing:
        return {"cortex_m": f"not run: {target.toolchain_hint(missing)}"}
    r = bench_golden_network(board, firmware, model.layers, x, work)
    parts = target.parts_from_map(work / board / "app.map")
    flash = sum(parts.get(p, {}).get("flash", 0) for p in ("kernels", "model", "model_data"))
    return {**_agreement(np.asarray(r["logits"]), tflm, "cortex_m"), "board": board,
            "cpu": target.BOARDS[board].cpu,
            "insn_per_inference": int(r["total_instructions"]),
            "layer_instructions": [int(v) for v in r["layer_instructions"]],
            # the figure the issue names, on the Cortex-M4 board only
            **({"m4_insn_per_inference": int(r["total_instructions"])} if board == BOARD else {}),
            "flash_bytes": int(flash), "stack_bytes": int(r["stack_bytes"])}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="kws-import", description="Generated C for an int8 .tflite, checked against "
        "TensorFlow Lite Micro.")
    p.add_argument("model", type=Path, help="the int8 .tflite file")
    p.add_argument("--out", type=Path, required=True, help="writes OUT/firmware/ (and "
                   "OUT/report.json with --verify)")
    p.add_argument("--verify", action="store_true", help="compare golden, host C and Cortex-M4 "
                   "with the interpreter")
    p.add_argument("--inputs", type=Path, help="more int8 inputs (.npy, [N, H, W, C])")
    p.add_argument("-n", "--random-inputs", type=int, default=100,
                   help="random int8 inputs for --verify (default 100)")
    p.add_argument("--seed", type=int, default=0)
    from kws.toolchain.cortex_m import BOARDS
    p.add_argument("--board", default=BOARD, choices=sorted(BOARDS),
                   help=f"QEMU board for --verify (default {BOARD}, the Cortex-M4F)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    if args.random_inputs < 0:
        raise KwsError(f"--random-inputs {args.random_inputs}: must be >= 0")
    model = read_tflite(args.model)
    firmware = args.out / "firmware"
    report = {"model": str(args.model), **write_firmware(model, args.model, firmware)}
    if args.verify:
        x = verification_inputs(model, args.random_inputs, args.seed, args.inputs)
        if len(x) == 0:
            raise KwsError("--verify needs at least one input (--random-inputs or --inputs)")
        with tempfile.TemporaryDirectory() as tmp:
            report["verify"] = verify(model, args.model, firmware, x, args.board, Path(tmp))
        write_json(args.out / "report.json", report)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        report = run(args)
    except KwsError as exc:
        print(f"kws-import: error: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(f"kws-import: {report['folder']}: {len(report['layers'])} layers, arena "
          f"{report['arena_bytes']} B, weights {report['weights_bytes']} B")
    v = report.get("verify")
    if v:
        m4 = (f"{v['cortex_m_vs_tflm']:.0%} {v['cpu']} ({v['insn_per_inference']:,} "
              f"instructions)" if "cortex_m_vs_tflm" in v else v.get("cortex_m", ""))
        print(f"kws-import: equal to TFLite Micro on {v['inputs']} inputs: "
              f"{v['golden_vs_tflm']:.0%} golden, {v['host_c_vs_tflm']:.0%} host C, {m4}; "
              f"report {args.out / 'report.json'}")
    return 0


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
