"""The golden int8 network as a .tflite flatbuffer, and runs of it in TensorFlow Lite Micro.

Written with the schema and model builder that ship in the pinned `tflite-micro` package; run
with its Python interpreter (reference kernels). Ops: CONV_2D and DEPTHWISE_CONV_2D (SAME
padding, fused ReLU, per-channel int8 weights), AVERAGE_POOL_2D over the whole map,
FULLY_CONNECTED; for imported models' tests also MAX_POOL_2D, SOFTMAX and ADD (residuals). Equality of the interpreter's int8 outputs with the golden model's, on every
test clip, is the proof that our integers are TFLite's.
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from kws.errors import KwsError
from kws.golden.network import (Add, AvgPool, Conv, Dense, MaxPool, QuantParams, Softmax,
                                WindowPool, conv_padding, same_padding)


def _modules():
    try:
        from tflite_micro.tensorflow.lite.micro.compression import model_editor as editor
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError as exc:
        raise KwsError(f"package tflite-micro is not installed ({exc})") from None
    return editor, schema


def to_tflite(layers: list, input_shape: tuple[int, ...]) -> bytes:
    """Flatbuffer bytes for golden `layers` on int8 input [1, frames, coeffs, 1] (input_shape
    (frames, coeffs)), or [1, H, W, C] (input_shape (H, W, C))."""
    editor, schema = _modules()

    def quant(q: QuantParams):
        return editor.Quantization(scales=float(q.scale), zero_points=int(q.zero_point))

    def options(op, kind, value):
        op._fb.builtinOptionsType = getattr(schema.BuiltinOptions, kind)
        op._fb.builtinOptions = value

    first = layers[0].input
    dims = tuple(input_shape) if len(input_shape) == 3 else (*input_shape, 1)
    x = editor.Tensor(shape=(1, *dims), dtype=schema.TensorType.INT8,
                      quantization=quant(first), name="features")
    inputs, operators, tensors = x, [], [x]
    for layer in layers:
        if isinstance(layer, Add):
            out = editor.Tensor(shape=x.shape, dtype=schema.TensorType.INT8,
                                quantization=quant(layer.output), name=layer.name)
            op = editor.Operator(opcode=schema.BuiltinOperator.ADD,
                                 inputs=[x, tensors[layer.skip]], outputs=[out])
            opts = schema.AddOptionsT()
            opts.fusedActivationFunction = (schema.ActivationFunctionType.NONE
                                            if layer.act_min == -128 else
                                            schema.ActivationFunctionType.RELU)
            options(op, "AddOptions", opts)
            x = out
        elif isinstance(layer, Conv):
            if layer.freq_padding == "valid" and layer.time_padding != "valid":
                raise ValueError(f"{layer.name}: 'same' in time with 'valid' in frequency has "
                                 "no TFLite form")
            if layer.time_padding == "valid" and layer.freq_padding == "same":
                x, pad = _pad_frequency(editor, schema, layer, x)    # TFLite pads both axes
                operators.append(pad)                                # alike: PAD freq only
            x, op = _conv(editor, schema, options, layer, x)
        elif isinstance(layer, WindowPool):
            (fh, fw), (sh, sw) = layer.filter, layer.stride
            h = conv_padding(x.shape[1], fh, sh, layer.padding)[0]
            w = conv_padding(x.shape[2], fw, sw, layer.padding)[0]
            out = editor.Tensor(shape=(1, h, w, x.shape[3]), dtype=schema.TensorType.INT8,
                                quantization=quant(layer.quant), name=layer.name)
            code = (schema.BuiltinOperator.MAX_POOL_2D if isinstance(layer, MaxPool)
                    else schema.BuiltinOperator.AVERAGE_POOL_2D)
            op = editor.Operator(opcode=code, inputs=[x], outputs=[out])
            pool = schema.Pool2DOptionsT()
            pool.padding = schema.Padding.SAME if layer.padding == "same" else schema.Padding.VALID
            pool.strideH, pool.strideW, pool.filterHeight, pool.filterWidth = sh, sw, fh, fw
            pool.fusedActivationFunction = (schema.ActivationFunctionType.NONE
                                            if layer.act_min == -128 else
                                            schema.ActivationFunctionType.RELU)
            options(op, "Pool2DOptions", pool)
            x = out
        elif isinstance(layer, Softmax):
            out = editor.Tensor(shape=x.shape, dtype=schema.TensorType.INT8,
                                quantization=quant(layer.output), name=layer.name)
            op = editor.Operator(opcode=schema.BuiltinOperator.SOFTMAX, inputs=[x], outputs=[out])
            opts = schema.SoftmaxOptionsT()
            opts.beta = 1.0
            options(op, "SoftmaxOptions", opts)
            x = out
        elif isinstance(layer, AvgPool):
            h, w = x.shape[1], x.shape[2]
            out = editor.Tensor(shape=(1, 1, 1, x.shape[3]), dtype=schema.TensorType.INT8,
                                quantization=quant(layer.quant), name=layer.name)
            op = editor.Operator(opcode=schema.BuiltinOperator.AVERAGE_POOL_2D, inputs=[x],
                                 outputs=[out])
            pool = schema.Pool2DOptionsT()
            pool.padding, pool.strideW, pool.strideH = schema.Padding.VALID, 1, 1
            pool.filterWidth, pool.filterHeight = w, h
            pool.fusedActivationFunction = schema.ActivationFunctionType.NONE
            options(op, "Pool2DOptions", pool)
            x = out
        else:
            x, op = _dense(editor, schema, options, layer, x, quant)
        operators.append(op)
        tensors.append(x)
    subgraph = editor.Subgraph(operators=operators, inputs=[inputs], outputs=[x], name="kws")
    model = editor.Model(subgraphs=[subgraph], description="kws int8 DS-CNN")
    return bytes(model.build())


def _conv(editor, schema, options, layer: Conv, x):
    cout, kh, kw, cin = layer.weights.shape
    depthwise = layer.depthwise
    # TFLite depthwise weights are [1, kh, kw, channels], per-channel on axis 3.
    weights = np.transpose(layer.weights, (3, 1, 2, 0)) if depthwise else layer.weights
    scales = [float(s) for s in layer.weight_scale]
    w = editor.Tensor(shape=weights.shape, dtype=schema.TensorType.INT8,
                      data=np.ascontiguousarray(weights, dtype=np.int8),
                      quantization=editor.Quantization(scales=scales, zero_points=[0] * cout,
                                                       axis=3 if depthwise else 0),
                      name=f"{layer.name}/weights")
    bias_scales = [float(np.float32(layer.input.scale)) * s for s in scales]
    b = editor.Tensor(shape=(cout,), dtype=schema.TensorType.INT32,
                      data=layer.bias.astype("<i4"),
                      quantization=editor.Quantization(scales=bias_scales, zero_points=[0] * cout,
                                                       axis=0),
                      name=f"{layer.name}/bias")
    if layer.time_padding == "valid":            # the input is already padded along W
        h_out = (x.shape[1] - kh) // layer.stride[0] + 1
        w_out = (x.shape[2] - kw) // layer.stride[1] + 1
    else:
        h_out = -(-x.shape[1] // layer.stride[0])
        w_out = -(-x.shape[2] // layer.stride[1])
    out = editor.Tensor(shape=(1, h_out, w_out, cout), dtype=schema.TensorType.INT8,
                        quantization=editor.Quantization(scales=float(layer.output.scale),
                                                         zero_points=int(layer.output.zero_point)),
                        name=layer.name)
    if depthwise:
        op = editor.Operator(opcode=schema.BuiltinOperator.DEPTHWISE_CONV_2D, inputs=[x, w, b],
                             outputs=[out])
        opts = schema.DepthwiseConv2DOptionsT()
        opts.depthMultiplier = 1
        kind = "DepthwiseConv2DOptions"
    else:
        op = editor.Operator(opcode=schema.BuiltinOperator.CONV_2D, inputs=[x, w, b],
                             outputs=[out])
        opts = schema.Conv2DOptionsT()
        kind = "Conv2DOptions"
    opts.padding = schema.Padding.VALID if layer.time_padding == "valid" else schema.Padding.SAME
    opts.strideH, opts.strideW = layer.stride
    opts.dilationHFactor = opts.dilationWFactor = 1
    opts.fusedActivationFunction = schema.ActivationFunctionType.RELU
    options(op, kind, opts)
    return out, op


def _pad_frequency(editor, schema, layer: Conv, x):
    """PAD along W by TF "same" amounts (TFLite int8 PAD fills with the zero point, as the golden
    model's padding counts as the zero point), for a conv that is VALID along H."""
    kw = layer.weights.shape[2]
    _, left, right = same_padding(x.shape[2], kw, layer.stride[1])
    amounts = editor.Tensor(shape=(4, 2), dtype=schema.TensorType.INT32,
                            data=np.array([[0, 0], [0, 0], [left, right], [0, 0]], dtype="<i4"),
                            name=f"{layer.name}/pad_amounts")
    out = editor.Tensor(shape=(1, x.shape[1], x.shape[2] + left + right, x.shape[3]),
                        dtype=schema.TensorType.INT8,
                        quantization=editor.Quantization(scales=float(layer.input.scale),
                                                         zero_points=int(layer.input.zero_point)),
                        name=f"{layer.name}/padded")
    return out, editor.Operator(opcode=schema.BuiltinOperator.PAD, inputs=[x, amounts],
                                outputs=[out])


def _dense(editor, schema, options, layer: Dense, x, quant):
    cout, cin = layer.weights.shape
    w = editor.Tensor(shape=(cout, cin), dtype=schema.TensorType.INT8,
                      data=np.ascontiguousarray(layer.weights), name=f"{layer.name}/weights",
                      quantization=editor.Quantization(scales=float(layer.weight_scale),
                                                       zero_points=0))
    b = editor.Tensor(shape=(cout,), dtype=schema.TensorType.INT32,
                      data=layer.bias.astype("<i4"), name=f"{layer.name}/bias",
                      quantization=editor.Quantization(
                          scales=float(np.float32(layer.input.scale)) * layer.weight_scale,
                          zero_points=0))
    out = editor.Tensor(shape=(1, cout), dtype=schema.TensorType.INT8,
                        quantization=quant(layer.output), name=layer.name)
    op = editor.Operator(opcode=schema.BuiltinOperator.FULLY_CONNECTED, inputs=[x, w, b],
                         outputs=[out])
    opts = schema.FullyConnectedOptionsT()
    opts.fusedActivationFunction = schema.ActivationFunctionType.NONE
    options(op, "FullyConnectedOptions", opts)
    return out, op


def run_tflm(model: bytes, x_int8: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """int8 inputs [N, frames, coeffs, 1] → the interpreter's int8 outputs [N, classes]."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise KwsError(f"package tflite-micro is not installed ({exc})") from None
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    outputs = []
    for clip in x_int8:
        interpreter.set_input(clip[None].astype(np.int8), 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)).reshape(-1))
        interpreter.reset()
    return np.stack(outputs).astype(np.int8)


def smallest_arena(model: bytes, x_int8: np.ndarray, step: int = 256) -> int:
    """The smallest tensor arena (bytes, to `step`) with which the interpreter runs the model."""
    from tflite_micro.python.tflite_micro import runtime

    def works(size: int) -> bool:
        with _quiet_stderr():                  # the interpreter logs every failed allocation
            try:
                interpreter = runtime.Interpreter.from_bytes(model, arena_size=size)
                interpreter.set_input(x_int8[:1].astype(np.int8), 0)
                interpreter.invoke()
                return True
            except (RuntimeError, ValueError):
                return False

    lo, hi = step, 1 << 16
    while not works(hi):
        lo, hi = hi, hi * 2
        if hi > 1 << 26:
            raise KwsError("TFLM interpreter does not run the model even with a 64 MB arena")
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return hi


@contextlib.contextmanager
def _quiet_stderr():
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
