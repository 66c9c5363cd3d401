"""An int8 .tflite flatbuffer as golden layers (kws.golden.network): bring your own model.

Read with the schema that ships in the pinned `tflite-micro` package (its generated object API).
What the golden model and our kernels serve, in one chain from the model's input to its output:

  CONV_2D             int8 weights [Cout, kh, kw, Cin], zero point 0, per-channel (axis 0) or
                      per-tensor scales; int32 bias (or none); strides; no dilation; padding SAME
                      or VALID (VALID in time, H, is the streamable form); fused NONE, RELU or
                      RELU6
  DEPTHWISE_CONV_2D   the same, weights [1, kh, kw, C] per-channel on axis 3, depth multiplier 1
  PAD + VALID conv    a PAD of the W axis alone by TF "same" amounts before a VALID convolution
                      (how kws.emit.tflite writes a conv valid in time, same in frequency)
  AVERAGE_POOL_2D,    any filter and stride, SAME or VALID, fused NONE/RELU/RELU6, the output
  MAX_POOL_2D         quantised as the input (an average over the whole map is our global pool)
  ADD                 the previous operator's output and an earlier tensor of the same shape (a
                      residual connection), fused NONE/RELU/RELU6; no broadcasting
  MEAN                over H and W (axes 1, 2; keepdims true or false): Keras'
                      GlobalAveragePooling2D as the converter writes it, with its own output
                      quantisation (TFLite Micro's integer MEAN, kws.golden.network.Mean)
  FULLY_CONNECTED     int8 weights [Cout, Cin] over a vector (after the pool), per-tensor or
                      per-channel (axis 0: the converter's default) scales, fused NONE
  SOFTMAX             after the classifier, int8 in and out (TFLite's integer algorithm,
                      kws.golden.softmax; output scale 1/256, zero point -128), any beta
  RESHAPE, SQUEEZE    no-ops on NHWC (the element count kept)

Anything else is one KwsError naming the operator's index, its type and the option. The
requantisation multipliers are computed as TFLite Micro computes them at load time (double
products of the float32 scales, QuantizeMultiplier): kws.golden.intmath.requant_scale, the rule
kws.training.ptq uses too (checked against the interpreter for FULLY_CONNECTED with and without
a bias, where a float32 product would give another multiplier).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.errors import KwsError
from kws.golden.intmath import f32, quantize_multiplier, requant_scale
from kws.golden.network import (
    ADD_LEFT_SHIFT,
    Add,
    AvgPool,
    AvgPool2D,
    Conv,
    Dense,
    MaxPool,
    Mean,
    QuantParams,
    Softmax,
    conv_padding,
    mean_multiplier,
    same_padding,
)
from kws.golden.softmax import softmax_params

INT8_IO = ("kws-import serves int8 inputs and outputs: convert with "
           "converter.inference_input_type = tf.int8 and converter.inference_output_type = "
           "tf.int8 (kws.imports.converter.to_int8_tflite)")


@dataclass
class ImportedModel:
    """The golden layers of a .tflite and what its C needs around them."""
    layers: list
    input_dims: tuple[int, int, int]          # (H, W, C) of the int8 input [1, H, W, C]
    input_quant: QuantParams
    output_quant: QuantParams
    n_outputs: int
    operators: list[str]                      # the file's operators, in order


def _schema():
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError as exc:
        raise KwsError(f"package tflite-micro is not installed ({exc})") from None
    return schema


def _ints(values) -> list[int]:
    """A generated vector field (None, a list or a numpy array) as ints."""
    return [] if values is None else [int(v) for v in values]


def _names(enum) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def _multipliers(r: "_Reader", where: str, reals) -> list[tuple[int, int]]:
    """quantize_multiplier of each effective scale; the kernels take shifts up to 30."""
    out = []
    for real in reals:
        if not (math.isfinite(real) and real > 0):
            r.fail(f"{where}: effective output scale {real:g}")
        multiplier, shift = quantize_multiplier(real)
        if shift > 30:
            r.fail(f"{where}: effective output scale {real:g} is too large (shift {shift} > 30)")
        out.append((multiplier, shift))
    return out


class _Reader:
    """The model's tensors and buffers, with errors that name the file."""

    def __init__(self, path: Path, data: bytes):
        self.path, self.data = path, data
        self.schema = _schema()
        try:
            model = self.schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        except Exception as exc:                          # the generated reader raises anything
            raise KwsError(f"{path}: not a valid .tflite flatbuffer "
                           f"({type(exc).__name__}: {exc})") from None
        if not model.subgraphs:
            raise KwsError(f"{path}: the model has no subgraph")
        if len(model.subgraphs) != 1:
            raise KwsError(f"{path}: {len(model.subgraphs)} subgraphs; one is supported")
        self.model, self.graph = model, model.subgraphs[0]
        self.op_names = _names(self.schema.BuiltinOperator)
        self.act_names = _names(self.schema.ActivationFunctionType)

    def fail(self, message: str):
        raise KwsError(f"{self.path}: {message}")

    def tensor(self, index: int, what: str):
        tensors = self.graph.tensors or []
        if not 0 <= index < len(tensors):
            self.fail(f"{what}: tensor index {index} out of range ({len(tensors)} tensors)")
        return tensors[index]

    def shape(self, index: int, what: str) -> tuple[int, ...]:
        t = self.tensor(index, what)
        shape = tuple(_ints(t.shape))
        if any(v <= 0 for v in shape):
            self.fail(f"{what}: tensor {index} has shape {shape}")
        return shape

    def values(self, index: int, dtype: str, what: str) -> np.ndarray:
        """A constant tensor's data, shaped."""
        t = self.tensor(index, what)
        buffers = self.model.buffers or []
        if not 0 < t.buffer < len(buffers):
            self.fail(f"{what}: tensor {index} has no constant data")
        b = buffers[t.buffer]
        if b.data is not None and len(b.data):
            raw = np.asarray(b.data, dtype=np.uint8).tobytes()
        elif b.offset and b.size:                          # data after the flatbuffer
            raw = self.data[b.offset:b.offset + b.size]
            if len(raw) != b.size:
                self.fail(f"{what}: tensor {index}'s data runs past the end of the file")
        else:
            self.fail(f"{what}: tensor {index} has no constant data")
        shape = self.shape(index, what)
        want = math.prod(shape) * np.dtype(dtype).itemsize
        if len(raw) != want:
            self.fail(f"{what}: tensor {index} holds {len(raw)} bytes for shape {shape} "
                      f"({want} expected)")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    def type_name(self, index: int) -> str:
        return _names(self.schema.TensorType).get(self.tensor(index, "").type, "?")

    def quant(self, index: int, what: str) -> QuantParams:
        """Per-tensor quantisation of an activation tensor."""
        q = self.tensor(index, what).quantization
        if q is None or q.scale is None or len(q.scale) != 1:
            self.fail(f"{what}: tensor {index} needs one scale (per-tensor quantisation)")
        zero = int(q.zeroPoint[0]) if q.zeroPoint is not None and len(q.zeroPoint) else 0
        scale = f32(q.scale[0])
        if not (math.isfinite(scale) and scale > 0) or not -128 <= zero <= 127:
            self.fail(f"{what}: tensor {index} has scale {scale:g} and zero point {zero}; a "
                      "finite scale > 0 and an int8 zero point are needed")
        return QuantParams(scale, zero)

    def weight_scales(self, index: int, axis: int, n: int, what: str) -> np.ndarray:
        q = self.tensor(index, what).quantization
        if q is None or q.scale is None or len(q.scale) not in (1, n):
            self.fail(f"{what}: weights need 1 or {n} scales")
        if len(q.scale) == n and n > 1 and q.quantizedDimension != axis:
            self.fail(f"{what}: weights quantised along axis {q.quantizedDimension}, "
                      f"expected {axis}")
        if q.zeroPoint is not None and np.any(np.asarray(q.zeroPoint) != 0):
            self.fail(f"{what}: weight zero points must be 0 (symmetric int8)")
        scales = np.array([f32(s) for s in q.scale], dtype=np.float64)
        if not np.all(np.isfinite(scales) & (scales > 0)):
            self.fail(f"{what}: weight scales must be finite and > 0")
        return np.broadcast_to(scales, (n,)).copy()

    def opcode(self, op) -> str:
        codes = self.model.operatorCodes or []
        if not 0 <= op.opcodeIndex < len(codes):
            self.fail(f"opcode index {op.opcodeIndex} out of range")
        code = codes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        if builtin == self.schema.BuiltinOperator.CUSTOM:
            return f"CUSTOM({code.customCode!r})"
        return self.op_names.get(builtin, f"builtin {builtin}")


def read_tflite(path: Path | str) -> ImportedModel:
    """The golden layers of an int8 .tflite file (KwsError naming what is not supported)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KwsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise KwsError(f"{path}: not a .tflite flatbuffer (no TFL3 identifier)")
    return _import(_Reader(path, data))


def _import(r: _Reader) -> ImportedModel:
    graph = r.graph
    graph_inputs, graph_outputs = _ints(graph.inputs), _ints(graph.outputs)
    if len(graph_inputs) != 1 or len(graph_outputs) != 1:
        r.fail(f"{len(graph_inputs)} inputs and {len(graph_outputs)} outputs; one of each is "
               "supported")
    x = graph_inputs[0]
    shape = r.shape(x, "the input")
    first = (graph.operators or [None])[0]
    if r.type_name(x) != "INT8" and first is not None and r.opcode(first) == "QUANTIZE":
        r.fail(f"operator 0 (QUANTIZE): the model takes a {r.type_name(x)} input and quantises "
               f"it; {INT8_IO}")
    if len(shape) != 4 or shape[0] != 1 or r.type_name(x) != "INT8":
        r.fail(f"the input is {r.type_name(x)} {list(shape)}; an int8 [1, H, W, C] is supported")
    input_dims = tuple(shape[1:])
    input_quant = r.quant(x, "the input")
    layers, operators, pending_pad = [], [], None
    ours = {x: 0}               # file tensor -> our tensor (0: the input, i + 1: layer i's output)
    for index, op in enumerate(graph.operators or []):
        kind = r.opcode(op)
        operators.append(kind)
        where = f"operator {index} ({kind})"
        inputs, outputs = _ints(op.inputs), _ints(op.outputs)
        if not inputs or len(outputs) != 1:
            r.fail(f"{where}: {len(inputs)} inputs and {len(outputs)} outputs")
        if kind == "ADD" and len(inputs) == 2 and inputs[1] == x:
            inputs = [inputs[1], inputs[0]]              # the chain's tensor first
        if inputs[0] != x:
            r.fail(f"{where}: does not take the previous operator's output (tensor {x}): "
                   "only a chain of operators, with residual ADDs, is supported")
        if pending_pad is not None and kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            r.fail(f"operator {index - 1} (PAD): only a PAD before a VALID convolution is "
                   "supported")
        y = outputs[0]
        if kind in ("QUANTIZE", "DEQUANTIZE"):
            r.fail(f"{where}: {r.type_name(inputs[0])} to {r.type_name(y)} inside the model; "
                   f"{INT8_IO}")
        if r.type_name(y) != "INT8":
            r.fail(f"{where}: output is {r.type_name(y)}; int8 is supported")
        if kind in ("RESHAPE", "SQUEEZE"):
            if math.prod(r.shape(y, where)) != math.prod(r.shape(x, where)):
                r.fail(f"{where}: changes the element count")
            if r.quant(y, where) != r.quant(x, where):
                r.fail(f"{where}: requantises (its output quantisation differs from its input's)")
        elif kind == "PAD":
            pending_pad = _pad(r, where, inputs, x, y)
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            layers.append(_conv(r, where, len(layers), kind, op, inputs, x, y, pending_pad))
            pending_pad = None
        elif kind == "AVERAGE_POOL_2D" and _is_global(r, op, x):
            layers.append(_avgpool(r, where, len(layers), op, x, y))
        elif kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            layers.append(_window_pool(r, where, len(layers), kind, op, x, y))
        elif kind == "MEAN":
            layers.append(_mean(r, where, len(layers), op, inputs, x, y))
        elif kind == "FULLY_CONNECTED":
            layers.append(_dense(r, where, len(layers), op, inputs, x, y))
        elif kind == "ADD":
            layers.append(_add(r, where, len(layers), op, inputs, x, y, ours))
        elif kind == "SOFTMAX":
            if not layers or not isinstance(layers[-1], Dense):
                r.fail(f"{where}: only a SOFTMAX after FULLY_CONNECTED is supported")
            layers.append(_softmax(r, where, len(layers), op, x, y))
        else:
            r.fail(f"{where}: operator type not supported (supported: CONV_2D, "
                   "DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, ADD, FULLY_CONNECTED, "
                   "SOFTMAX, RESHAPE, SQUEEZE, PAD before a VALID convolution)")
        x = y
        ours[y] = len(layers)       # a no-op (RESHAPE, SQUEEZE, PAD) keeps the tensor it renames
    if pending_pad is not None:
        r.fail("the model ends with a PAD")
    if x != graph_outputs[0]:
        r.fail(f"the last operator's output (tensor {x}) is not the model's output "
               f"(tensor {graph_outputs[0]})")
    classifier = [layer for layer in layers if isinstance(layer, Dense)]
    if not layers or not isinstance(layers[-1], (Dense, Softmax)) or len(classifier) != 1:
        r.fail("the model must end with one FULLY_CONNECTED (logits), optionally followed by "
               "SOFTMAX and reshaped")
    return ImportedModel(layers, input_dims, input_quant, r.quant(x, "the output"),
                         int(classifier[0].weights.shape[0]), operators)


def _options(r: _Reader, where: str, op, expected: str, optional: bool = False):
    """The operator's builtin options, of the type its operator needs."""
    opts = op.builtinOptions
    if opts is None and optional:
        return None
    if type(opts).__name__ != expected:
        r.fail(f"{where}: options of type {type(opts).__name__}, expected {expected}")
    return opts


def _activation(r: _Reader, where: str, fused: int, out: QuantParams) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8."""
    name = r.act_names.get(int(fused), str(fused))
    if name == "NONE":
        return -128, 127
    if name == "RELU":
        return max(-128, out.zero_point), 127
    if name == "RELU6":                         # zero point + TfLiteRound(6.0f / scale)
        six = float(np.float32(6.0) / np.float32(out.scale))
        return (max(-128, out.zero_point),
                min(127, out.zero_point + int(math.copysign(math.floor(abs(six) + 0.5), six))))
    r.fail(f"{where}: fused activation {name} not supported (NONE, RELU, RELU6)")


def _pad(r: _Reader, where: str, inputs: list[int], x: int, y: int) -> tuple[int, int]:
    if len(inputs) != 2:
        r.fail(f"{where}: expected 2 inputs")
    amounts = r.values(inputs[1], "<i4", where).astype(np.int64)
    if amounts.shape != (4, 2) or np.any(amounts[[0, 1, 3]] != 0) or np.any(amounts < 0):
        r.fail(f"{where}: only padding of the W axis is supported, got {amounts.tolist()}")
    if r.quant(y, where) != r.quant(x, where):
        r.fail(f"{where}: requantises")
    return int(amounts[2, 0]), int(amounts[2, 1])


def _conv(r: _Reader, where: str, i: int, kind: str, op, inputs: list[int], x: int, y: int,
          pad: tuple[int, int] | None) -> Conv:
    s = r.schema
    depthwise = kind == "DEPTHWISE_CONV_2D"
    opts = _options(r, where, op, "DepthwiseConv2DOptionsT" if depthwise else "Conv2DOptionsT")
    if len(inputs) not in (2, 3):
        r.fail(f"{where}: missing options or inputs")
    in_shape, out_shape = r.shape(x, where), r.shape(y, where)
    if len(in_shape) != 4 or len(out_shape) != 4:
        r.fail(f"{where}: input {list(in_shape)}, output {list(out_shape)}; NHWC expected")
    if opts.dilationHFactor not in (0, 1) or opts.dilationWFactor not in (0, 1):
        r.fail(f"{where}: dilation {opts.dilationHFactor}x{opts.dilationWFactor} not supported")
    stride = (int(opts.strideH), int(opts.strideW))
    if min(stride) < 1:
        r.fail(f"{where}: stride {stride}")
    w = r.values(inputs[1], "i1", where)
    if depthwise:
        if w.ndim != 4 or w.shape[0] != 1:
            r.fail(f"{where}: weights {list(w.shape)}; [1, kh, kw, C] expected")
        if int(opts.depthMultiplier) != 1 or w.shape[3] != in_shape[3]:
            r.fail(f"{where}: depth multiplier {opts.depthMultiplier} ({in_shape[3]} -> "
                   f"{w.shape[3]} channels); the kernels serve 1")
        weights = np.transpose(w, (3, 1, 2, 0))                  # [C, kh, kw, 1]
        scales = r.weight_scales(inputs[1], 3, w.shape[3], where)
    else:
        if w.ndim != 4 or w.shape[3] != in_shape[3]:
            r.fail(f"{where}: weights {list(w.shape)} for {in_shape[3]} input channels")
        weights = w
        scales = r.weight_scales(inputs[1], 0, w.shape[0], where)
    if np.any(weights == -128):
        r.fail(f"{where}: weights use -128; symmetric int8 weights are in [-127, 127]")
    cout, kh, kw = weights.shape[0], weights.shape[1], weights.shape[2]
    bias = (r.values(inputs[2], "<i4", where).astype(np.int32) if len(inputs) == 3
            and inputs[2] >= 0 else np.zeros(cout, np.int32))
    if bias.shape != (cout,):
        r.fail(f"{where}: bias {list(bias.shape)} for {cout} channels")
    padding = "SAME" if int(opts.padding) == s.Padding.SAME else "VALID"
    width = in_shape[2] - (sum(pad) if pad else 0)     # the map's width before a PAD
    freq_padding = "same"
    if padding == "SAME":
        if pad is not None:
            r.fail(f"{where}: a PAD before a SAME convolution is not supported")
        time_padding = "same"
        out_w = -(-width // stride[1])
    else:
        time_padding = "valid"
        same_w = same_padding(width, kw, stride[1])
        if pad is None:                            # VALID on both axes (Keras' default)
            freq_padding = "valid"
            if kw > width:
                r.fail(f"{where}: a {kw}-wide VALID kernel on a {width}-wide map")
            out_w = (width - kw) // stride[1] + 1
        elif pad == (same_w[1], same_w[2]):        # kws.emit.tflite's valid-in-time form
            out_w = same_w[0]
        else:
            r.fail(f"{where}: the PAD before it pads W by {pad}; only TF 'same' amounts "
                   f"({same_w[1]}, {same_w[2]}) are supported")
    out_h = (-(-in_shape[1] // stride[0]) if time_padding == "same"
             else (in_shape[1] - kh) // stride[0] + 1)
    if out_shape[1:] != (out_h, out_w, cout):
        r.fail(f"{where}: output {list(out_shape)}, expected [1, {out_h}, {out_w}, {cout}]")
    in_q, out_q = r.quant(x, where), r.quant(y, where)
    mults = _multipliers(r, where, [requant_scale(in_q.scale, sc, out_q.scale) for sc in scales])
    act_min, act_max = _activation(r, where, opts.fusedActivationFunction, out_q)
    return Conv(f"{i:02d}_{'dwconv' if depthwise else 'conv'}", weights.astype(np.int8), bias,
                np.array([m for m, _ in mults], np.int32), np.array([e for _, e in mults], np.int32),
                stride, depthwise, in_q, out_q, act_min=act_min, act_max=act_max,
                weight_scale=scales, time_padding=time_padding, freq_padding=freq_padding)


def _avgpool(r: _Reader, where: str, i: int, op, x: int, y: int) -> AvgPool:
    opts = _options(r, where, op, "Pool2DOptionsT")
    in_shape = r.shape(x, where)
    if len(in_shape) != 4:
        r.fail(f"{where}: missing options or an input not NHWC")
    if (int(opts.filterHeight), int(opts.filterWidth)) != in_shape[1:3] or \
            int(opts.padding) != r.schema.Padding.VALID:
        r.fail(f"{where}: only a global pool is supported (filter = the {in_shape[1]}x"
               f"{in_shape[2]} map, VALID), got filter {opts.filterHeight}x{opts.filterWidth}")
    if r.act_names.get(int(opts.fusedActivationFunction)) != "NONE":
        r.fail(f"{where}: fused activation not supported")
    if math.prod(r.shape(y, where)) != in_shape[3]:
        r.fail(f"{where}: output {list(r.shape(y, where))} for {in_shape[3]} channels")
    if r.quant(y, where) != r.quant(x, where):
        r.fail(f"{where}: output quantisation differs from the input's")
    return AvgPool(f"{i:02d}_avgpool", r.quant(x, where))


def _dense(r: _Reader, where: str, i: int, op, inputs: list[int], x: int, y: int) -> Dense:
    opts = _options(r, where, op, "FullyConnectedOptionsT")
    if len(inputs) not in (2, 3):
        r.fail(f"{where}: missing options or inputs")
    in_shape = r.shape(x, where)
    n_in = math.prod(in_shape)
    if n_in != in_shape[-1]:
        r.fail(f"{where}: over a {list(in_shape)} map (a flatten) is not supported; put the "
               "average pool before it")
    if r.act_names.get(int(opts.fusedActivationFunction)) != "NONE":
        r.fail(f"{where}: fused activation "
               f"{r.act_names.get(int(opts.fusedActivationFunction))} not supported (NONE)")
    if int(opts.weightsFormat) != r.schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
        r.fail(f"{where}: weights format {int(opts.weightsFormat)} not supported (DEFAULT)")
    w = r.values(inputs[1], "i1", where)
    if w.ndim != 2 or w.shape[1] != n_in:
        r.fail(f"{where}: weights {list(w.shape)} for {n_in} inputs")
    if np.any(w == -128):
        r.fail(f"{where}: weights use -128; symmetric int8 weights are in [-127, 127]")
    q = r.tensor(inputs[1], where).quantization
    per_channel = q is not None and q.scale is not None and len(q.scale) > 1
    scale = r.weight_scales(inputs[1], 0, w.shape[0], where)
    bias = (r.values(inputs[2], "<i4", where).astype(np.int32) if len(inputs) == 3
            and inputs[2] >= 0 else np.zeros(w.shape[0], np.int32))
    if bias.shape != (w.shape[0],):
        r.fail(f"{where}: bias {list(bias.shape)} for {w.shape[0]} outputs")
    in_q, out_q = r.quant(x, where), r.quant(y, where)
    if per_channel:             # CalculateOpDataFullyConnected: one multiplier per output
        mults = _multipliers(r, where, [requant_scale(in_q.scale, sc, out_q.scale)
                                        for sc in scale])
        return Dense(f"{i:02d}_dense", w.astype(np.int8), bias,
                     np.array([m for m, _ in mults], np.int32),
                     np.array([e for _, e in mults], np.int32), in_q, out_q, scale)
    (multiplier, shift), = _multipliers(r, where, [requant_scale(in_q.scale, scale[0],
                                                                 out_q.scale)])
    return Dense(f"{i:02d}_dense", w.astype(np.int8), bias, multiplier, shift, in_q, out_q,
                 float(scale[0]))


def _mean(r: _Reader, where: str, i: int, op, inputs: list[int], x: int, y: int) -> Mean:
    """TFLite Micro's int8 MEAN over H and W (reduce_common.cc PrepareMeanOrSumHelper:
    QuantizeMultiplier(double(in_scale) / double(out_scale)); 1/(H*W) folded in as reduce.h
    QuantizedMeanOrSum does, kws.golden.network.mean_multiplier)."""
    opts = _options(r, where, op, "ReducerOptionsT", optional=True)
    if len(inputs) != 2:
        r.fail(f"{where}: expected 2 inputs (the tensor and its axes)")
    in_shape, out_shape = r.shape(x, where), r.shape(y, where)
    if len(in_shape) != 4:
        r.fail(f"{where}: input {list(in_shape)}; NHWC expected")
    axes = r.values(inputs[1], "<i4", where).reshape(-1)
    resolved = sorted({int(a) + 4 if a < 0 else int(a) for a in axes})
    if resolved != [1, 2]:
        r.fail(f"{where}: a mean over axes {axes.tolist()}; over H and W (axes 1 and 2) is "
               "supported")
    keep = bool(opts.keepDims) if opts is not None else False
    want = (1, 1, 1, in_shape[3]) if keep else (1, in_shape[3])
    if out_shape != want:
        r.fail(f"{where}: output {list(out_shape)}, expected {list(want)} (keepdims {keep})")
    in_q, out_q = r.quant(x, where), r.quant(y, where)
    (multiplier, shift), = _multipliers(r, where, [in_q.scale / out_q.scale])
    count = in_shape[1] * in_shape[2]
    multiplier, shift = mean_multiplier(multiplier, shift, count)
    if (255 * count) << max(shift, 0) >= 1 << 31:
        r.fail(f"{where}: a mean of {count} inputs with an output scale {out_q.scale:g} this "
               f"small (shift {shift}) can overflow int32")
    return Mean(f"{i:02d}_mean", in_q, out_q, multiplier, shift)


def _softmax(r: _Reader, where: str, i: int, op, x: int, y: int) -> Softmax:
    """TFLite int8 softmax: the output must be quantised as TFLite requires (1/256, -128)."""
    opts = _options(r, where, op, "SoftmaxOptionsT", optional=True)
    beta = f32(opts.beta) if opts is not None else 1.0
    if not (math.isfinite(beta) and beta > 0):
        r.fail(f"{where}: beta {beta:g}; a finite beta > 0 is needed")
    in_q, out_q = r.quant(x, where), r.quant(y, where)
    if out_q.zero_point != -128 or out_q.scale != f32(1.0 / 256):
        r.fail(f"{where}: output quantised as scale {out_q.scale:.6g}, zero point "
               f"{out_q.zero_point}; TFLite's int8 softmax needs 1/256 and -128")
    try:
        multiplier, shift, diff_min = softmax_params(in_q.scale, beta)
    except ValueError as exc:
        r.fail(f"{where}: {exc}")
    return Softmax(f"{i:02d}_softmax", multiplier, shift, diff_min, in_q, out_q)


def _is_global(r: _Reader, op, x: int) -> bool:
    """An AVERAGE_POOL_2D over the whole map into one value per channel (our AvgPool)."""
    opts = op.builtinOptions
    shape = r.shape(x, "AVERAGE_POOL_2D")
    return (type(opts).__name__ == "Pool2DOptionsT" and len(shape) == 4 and
            (int(opts.filterHeight), int(opts.filterWidth)) == shape[1:3] and
            int(opts.padding) == r.schema.Padding.VALID and
            r.act_names.get(int(opts.fusedActivationFunction)) == "NONE")


def _window_pool(r: _Reader, where: str, i: int, kind: str, op, x: int, y: int):
    opts = _options(r, where, op, "Pool2DOptionsT")
    in_shape, out_shape = r.shape(x, where), r.shape(y, where)
    if len(in_shape) != 4 or len(out_shape) != 4:
        r.fail(f"{where}: missing options or a tensor not NHWC")
    filt = (int(opts.filterHeight), int(opts.filterWidth))
    stride = (int(opts.strideH), int(opts.strideW))
    if min(filt) < 1 or min(stride) < 1:
        r.fail(f"{where}: filter {filt}, stride {stride}")
    padding = "same" if int(opts.padding) == r.schema.Padding.SAME else "valid"
    if padding == "valid" and (filt[0] > in_shape[1] or filt[1] > in_shape[2]):
        r.fail(f"{where}: a VALID {filt[0]}x{filt[1]} filter on a {in_shape[1]}x{in_shape[2]} map")
    want = (conv_padding(in_shape[1], filt[0], stride[0], padding)[0],
            conv_padding(in_shape[2], filt[1], stride[1], padding)[0], in_shape[3])
    if out_shape[1:] != want:
        r.fail(f"{where}: output {list(out_shape)}, expected [1, {want[0]}, {want[1]}, {want[2]}]")
    q = r.quant(x, where)
    if r.quant(y, where) != q:
        r.fail(f"{where}: output quantisation differs from the input's")
    act_min, act_max = _activation(r, where, opts.fusedActivationFunction, q)
    if kind == "MAX_POOL_2D":
        return MaxPool(f"{i:02d}_maxpool", filt, stride, padding, q, act_min, act_max)
    if filt[0] * filt[1] > 1 << 23:
        r.fail(f"{where}: a {filt[0]}x{filt[1]} filter is too large")
    return AvgPool2D(f"{i:02d}_avgpool2d", filt, stride, padding, q, act_min, act_max)


def _smaller_than_one(r: _Reader, where: str, real: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: (Q31 multiplier, shift <= 0)."""
    if not (math.isfinite(real) and 0 < real < 1):
        r.fail(f"{where}: scale ratio {real:g} outside (0, 1)")
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:
        r.fail(f"{where}: scale ratio {real:g} rounds to a left shift")
    return multiplier, shift


def _add(r: _Reader, where: str, i: int, op, inputs: list[int], x: int, y: int,
         ours: dict[int, int]) -> Add:
    """TFLite int8 ADD (add_common's parameters: left shift 20, both inputs to twice the larger
    input scale, the sum to the output scale)."""
    opts = _options(r, where, op, "AddOptionsT", optional=True)
    if len(inputs) != 2:
        r.fail(f"{where}: expected 2 inputs")
    if inputs[1] not in ours or ours[inputs[1]] >= ours[x]:
        r.fail(f"{where}: its second input (tensor {inputs[1]}) is no earlier tensor of the chain")
    if r.shape(inputs[1], where) != r.shape(x, where) or r.shape(y, where) != r.shape(x, where):
        r.fail(f"{where}: inputs {list(r.shape(x, where))} and {list(r.shape(inputs[1], where))}, "
               f"output {list(r.shape(y, where))}: equal shapes are supported (no broadcasting)")
    q1, q2, out = r.quant(x, where), r.quant(inputs[1], where), r.quant(y, where)
    twice_max = 2 * max(q1.scale, q2.scale)
    m1 = _smaller_than_one(r, where, q1.scale / twice_max)
    m2 = _smaller_than_one(r, where, q2.scale / twice_max)
    mo = _smaller_than_one(r, where, twice_max / ((1 << ADD_LEFT_SHIFT) * out.scale))
    fused = opts.fusedActivationFunction if opts is not None else 0
    act_min, act_max = _activation(r, where, fused, out)
    return Add(f"{i:02d}_add", ours[inputs[1]], q1, q2, out, *m1, *m2, *mo, act_min, act_max)
