"""Running the C network kernels (firmware/src/nn/) on the host, layer by layer.

The harness firmware/tests/host/kws_nn_tool.c reads a file of layer "cases" and writes their int8
outputs as a result file (kws.toolchain.results); its header comment documents both. Typical use, mirroring kws.golden.network.run_layer:

    tool = build_nn_tool(out_dir, sanitize=True)
    y = run_layer_c(tool, layer, x)                  # == kws.golden.network.run_layer(layer, x)
    ys = run_layers_c(tool, [(layer1, x1), ...])     # many layers, one process

Lower level, for arbitrary (also invalid) kernel arguments: build an NnCase, run_cases(tool, ...).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import numpy as np

from kws.toolchain.host import build_sections, result_array, run_tool
from kws.toolchain.results import read_results
from kws.errors import KwsError
from kws.golden.network import AvgPool, Conv, Dense, conv_padding, run_layer, same_padding
from kws.io import write_text

MAGIC = 0x4E4E574B                     # the bytes "KWNN", little-endian
HEADER = np.dtype("<i4")


class Kind(IntEnum):
    """A case's kernel (the harness's kind field)."""
    CONV = 1                           # kws_conv2d_s8
    DWCONV = 2                         # kws_dwconv2d_s8
    PWCONV = 3                         # kws_pwconv2d_s8
    AVGPOOL = 4                        # kws_avgpool_s8
    FC = 5                             # kws_fc_s8


@dataclass
class NnCase:
    """One layer as the kernel sees it, applied to a batch. Arrays are in the C layouts
    (kws_nn.h); None is sent as an empty array, which the harness passes as NULL.

    in_dims (h, w, c), for fc (1, 1, in_n). out_dims (h, w, c); pointwise: (h, w, out_c) with
    h, w unused; fc: (1, 1, out_n); average pool: unused. input: int8 [batch, ...], each sample
    of the size the kernel reads.
    """
    kind: Kind
    input: np.ndarray
    in_dims: tuple[int, int, int]
    out_dims: tuple[int, int, int] = (1, 1, 1)
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    shift: np.ndarray | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)                  # (top, left)
    input_offset: int = 0
    output_offset: int = 0
    act_min: int = -128
    act_max: int = 127

    @property
    def batch(self) -> int:
        return len(self.input)

    def output_size(self) -> int:
        """int8 values the kernel writes per sample (what the harness writes per sample)."""
        (ih, iw, ic), (oh, ow, oc) = self.in_dims, self.out_dims
        return {Kind.CONV: oh * ow * oc, Kind.DWCONV: oh * ow * oc, Kind.PWCONV: ih * iw * oc,
                Kind.AVGPOOL: ic, Kind.FC: oc}[self.kind]

    def encode(self) -> bytes:
        """The case in the harness's file format."""
        def arr(a, dtype):
            return np.zeros(0, dtype) if a is None else np.ascontiguousarray(a, dtype).ravel()
        mult, shift = arr(self.multiplier, "<i4"), arr(self.shift, "<i4")
        bias, weights, x = arr(self.bias, "<i4"), arr(self.weights, "i1"), arr(self.input, "i1")
        if len(mult) != len(shift):
            raise ValueError("multiplier and shift differ in length")
        header = np.array([MAGIC, int(self.kind), self.batch, *self.in_dims, *self.out_dims,
                           *self.kernel, *self.stride, *self.pad, self.input_offset,
                           self.output_offset, self.act_min, self.act_max,
                           len(mult), len(bias), len(weights), len(x)], dtype=HEADER)
        return b"".join(a.tobytes() for a in (header, mult, shift, bias, weights, x))


def build_nn_tool(out_dir: Path, sanitize: bool = False) -> Path:
    """Compile the kernels with the host harness into out_dir/kws_nn_tool[_san]."""
    name = "kws_nn_tool" + ("_san" if sanitize else "")
    return build_sections(Path(out_dir) / name, ("nn", "tests-host-nn"), sanitize)


def is_pointwise(layer: Conv) -> bool:
    """A 1x1, stride-1, non-depthwise conv: run by kws_pwconv2d_s8."""
    return (not layer.depthwise and layer.weights.shape[1:3] == (1, 1)
            and tuple(layer.stride) == (1, 1))


def layer_case(layer: Conv | AvgPool | Dense, x: np.ndarray) -> NnCase:
    """The case running a golden layer on x (int8 [N, H, W, C]; [N, C] for Dense)."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise ValueError(f"input must be int8, got {x.dtype}")
    if isinstance(layer, Dense):
        out_n, in_n = layer.weights.shape
        if x.ndim != 2 or x.shape[1] != in_n:
            raise ValueError(f"{layer.name}: input {x.shape}, expected [N, {in_n}]")
        return NnCase(Kind.FC, x, (1, 1, in_n), (1, 1, out_n), layer.weights, layer.bias,
                      np.array([layer.multiplier]), np.array([layer.shift]),
                      input_offset=-layer.input.zero_point,
                      output_offset=layer.output.zero_point)
    if x.ndim != 4:
        raise ValueError(f"{layer.name}: input {x.shape}, expected [N, H, W, C]")
    _, h, w, c = x.shape
    if isinstance(layer, AvgPool):
        return NnCase(Kind.AVGPOOL, x, (h, w, c))
    cout, kh, kw, cin = layer.weights.shape
    if cin != (1 if layer.depthwise else c) or (layer.depthwise and cout != c):
        raise ValueError(f"{layer.name}: weights {layer.weights.shape} do not fit input {x.shape}")
    quant = dict(input_offset=-layer.input.zero_point, output_offset=layer.output.zero_point,
                 act_min=layer.act_min, act_max=layer.act_max)
    channels = (layer.bias, layer.multiplier, layer.shift)
    if is_pointwise(layer):
        return NnCase(Kind.PWCONV, x, (h, w, c), (h, w, cout), layer.weights.reshape(cout, c),
                      *channels, **quant)
    (sh, sw) = layer.stride
    oh, top, _ = conv_padding(h, kh, sh, layer.time_padding)
    ow, left, _ = same_padding(w, kw, sw)
    # golden depthwise weights are [C][kh][kw][1]; the C takes TFLite's [kh][kw][C]
    weights = layer.weights[..., 0].transpose(1, 2, 0) if layer.depthwise else layer.weights
    return NnCase(Kind.DWCONV if layer.depthwise else Kind.CONV, x, (h, w, c), (oh, ow, cout),
                  weights, *channels, kernel=(kh, kw), stride=(sh, sw), pad=(top, left), **quant)


def run_cases(tool: Path, cases: list[NnCase]) -> list[np.ndarray]:
    """Run the cases in one harness process: per case, int8 [batch, output_size()].
    A kernel error status (or any harness failure) raises KwsError with the harness's message."""
    sent = [case for case in cases if case.batch > 0]      # the harness needs batch >= 1
    if not sent:
        return [np.zeros((0, case.output_size()), np.int8) for case in cases]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "cases.bin", Path(tmp) / "out.kwsr"
        src.write_bytes(b"".join(case.encode() for case in sent))
        run_tool(tool, src, dst)
        arrays = read_results(dst)
    source = f"{Path(tool).name}'s result file"
    if len(arrays) != len(sent):
        raise KwsError(f"{source}: {len(arrays)} arrays for {len(sent)} cases")
    outs = iter(result_array(arrays, f"case.{i}", (case.batch, case.output_size()), np.int8,
                             source) for i, case in enumerate(sent))
    return [next(outs) if case.batch > 0 else np.zeros((0, case.output_size()), np.int8)
            for case in cases]


def _golden_shape(case: NnCase) -> tuple[int, ...]:
    if case.kind in (Kind.AVGPOOL, Kind.FC):
        return (case.batch, case.output_size())
    h, w, c = case.out_dims
    return (case.batch, h, w, c)


def run_layers_c(tool: Path, jobs: list[tuple[object, np.ndarray]]) -> list[np.ndarray]:
    """[(golden layer, x), ...] → their int8 outputs computed by the C, shaped as
    kws.golden.network.run_layer returns them; one harness process for all."""
    cases = [layer_case(layer, x) for layer, x in jobs]
    outs = run_cases(tool, cases)
    return [o.reshape(_golden_shape(case)) for o, case in zip(outs, cases)]


def run_layer_c(tool: Path, layer, x: np.ndarray) -> np.ndarray:
    """kws.golden.network.run_layer(layer, x), computed by the C kernels."""
    return run_layers_c(tool, [(layer, x)])[0]


def _arr(ctype: str, name: str, values) -> str:
    flat = np.asarray(values).ravel().tolist()
    rows = [", ".join(map(str, flat[i:i + 32])) for i in range(0, len(flat), 32)]
    return f"static const {ctype} {name}[{len(flat)}] = {{\n" + ",\n".join(rows) + "\n};\n"


def write_target_cases(jobs: list, out_dir: Path) -> None:
    """kws_nn_cases.{c,h} in out_dir for firmware/tests/target/nn_cases_main.c: each (golden
    layer, x) of `jobs` as a kernel call with its golden output, in flash (tests/
    test_nn_fastpath.py's random layers; kws.toolchain.ctest_cases' model layers)."""
    header = """/* Generated by kws.toolchain.nn_harness.write_target_cases: do not edit. */
#ifndef KWS_NN_CASES_H
#define KWS_NN_CASES_H

#include <stdint.h>

typedef struct {
    int32_t kind, batch;
    int32_t in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
    int32_t input_offset, output_offset, act_min, act_max;
    int32_t n_weights, n_input, out_size, align;
    const int32_t *multiplier, *shift, *bias;
    const int8_t *weights, *input, *expected;
} kws_nn_case_t;

"""
    parts, rows = ['#include "kws_nn_cases.h"\n\n'], []
    max_in = max_w = max_out = 1
    for i, (layer, x) in enumerate(jobs):
        case = layer_case(layer, x)
        want = run_layer(layer, x).reshape(case.batch, -1)
        if want.shape[1] != case.output_size():
            raise KwsError(f"case {i}: golden output of {want.shape[1]} values per sample, the "
                           f"kernel writes {case.output_size()}")
        names = {}
        for key, ctype, values in (("m", "int32_t", case.multiplier), ("s", "int32_t", case.shift),
                                   ("b", "int32_t", case.bias), ("w", "int8_t", case.weights),
                                   ("x", "int8_t", case.input), ("y", "int8_t", want)):
            if values is None or np.asarray(values).size == 0:
                names[key] = "0"
            else:
                names[key] = f"c{i}_{key}"
                parts.append(_arr(ctype, names[key], values))
        n_w = 0 if case.weights is None else int(case.weights.size)
        n_x = int(case.input.size)
        max_in = max(max_in, n_x // case.batch)
        max_w = max(max_w, n_w)
        max_out = max(max_out, case.output_size())
        fields = [int(case.kind), case.batch, *case.in_dims, *case.out_dims, *case.kernel,
                  *case.stride, *case.pad, case.input_offset, case.output_offset, case.act_min,
                  case.act_max, n_w, n_x, case.output_size(), i % 4]
        rows.append("    {" + ", ".join(map(str, fields)) + ", "
                    + ", ".join(names[k] for k in "msbwxy") + "}")
    header += (f"#define KWS_NN_N_CASES {len(jobs)}\n#define KWS_NN_MAX_INPUT {max_in}\n"
               f"#define KWS_NN_MAX_WEIGHTS {max_w}\n#define KWS_NN_MAX_OUTPUT {max_out}\n\n"
               "extern const kws_nn_case_t kws_nn_cases[KWS_NN_N_CASES];\n\n#endif\n")
    parts.append("const kws_nn_case_t kws_nn_cases[KWS_NN_N_CASES] = {\n" + ",\n".join(rows)
                 + "\n};\n")
    write_text(Path(out_dir) / "kws_nn_cases.h", header)
    write_text(Path(out_dir) / "kws_nn_cases.c", "".join(parts))
