"""The int8 network: the window model (kws/golden/network.py) and its streaming twin
(kws/golden/streaming.py), layer by layer on bytearrays of int8 NHWC activations.

A layer is one dict of the generated model.py (kind "conv", "avgpool" or "dense", the golden
layer's integers); the multiply-accumulate loops are in `kernels` (kernels.py).
"""
try:
    from array import array
except ImportError:          # pragma: no cover
    from uarray import array


def conv_padding(size, kernel, stride, mode):
    """kws.golden.network.conv_padding: (output size, pad before) of TF "same" or "valid"."""
    if mode == "valid":
        return (size - kernel) // stride + 1, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def out_dims(layer, dims):
    if layer["kind"] == "conv":
        oh = conv_padding(dims[0], layer["kh"], layer["stride"][0], layer["time_padding"])[0]
        ow = conv_padding(dims[1], layer["kw"], layer["stride"][1], layer["freq_padding"])[0]
        return (oh, ow, layer["cout"])
    if layer["kind"] == "avgpool":
        return (dims[2],)
    return (layer["cout"],)


def avgpool_value(total, count):
    """run_avgpool's division: half away from zero, clamped to int8, as a byte."""
    if total > 0:
        v = (total + count // 2) // count
    else:
        v = -((-total + count // 2) // count)
    return max(-128, min(127, v)) & 0xFF


ACC_CELLS = 1024        # int32 accumulators at most per kernel call (output rows at a time)


class Layers:
    """Runs layers. Scratch is kept and reused (a small board's heap fragments): one int32
    accumulator array of ACC_CELLS (a layer is computed some output rows at a time), one output
    bytearray per layer and size, so a layer's output is valid until that layer runs again
    (copy it to keep it)."""

    def __init__(self, layers, kernels):
        self.k = kernels
        self.layers = layers
        self._acc = array("i", bytes(4 * ACC_CELLS))
        self._outs = {}
        self._params = array("i", range(18))
        self._dense_as_conv = {}
        self._native = hasattr(kernels, "conv2d")      # kws_native.mpy: the library's C kernels
        self._c_layers = {}

    def _output(self, layer, n):
        key = (layer["name"], n)
        out = self._outs.get(key)
        if out is None:
            out = self._outs[key] = bytearray(n)
        return out

    def conv(self, layer, x, dims, time_padding=None):
        """run_conv on one map x (int8 [H][W][Cin] bytes) → (bytearray, out dims)."""
        k = self.k
        h, w, cin = dims
        oh, top = conv_padding(h, layer["kh"], layer["stride"][0],
                               time_padding or layer["time_padding"])
        ow, left = conv_padding(w, layer["kw"], layer["stride"][1], layer["freq_padding"])
        cout = layer["cout"]
        out = self._output(layer, oh * ow * cout)
        p = self._params
        for i, v in enumerate((h, w, cin, cout, layer["kh"], layer["kw"], layer["stride"][0],
                               layer["stride"][1], top, left, oh, ow, layer["in_zp"],
                               layer["out_zp"], layer["act_min"], layer["act_max"],
                               1 if layer["depthwise"] else 0, 0)):
            p[i] = v
        if self._native:
            c = self._c_layer(layer)
            k.conv2d(x, c[0], c[1], c[2], c[3], p, out)
            return out, (oh, ow, cout)
        acc = self._acc
        rows = max(1, len(acc) // (ow * cout))
        if rows * ow * cout > len(acc):                 # one row is more than ACC_CELLS
            acc = self._acc = array("i", bytes(4 * ow * cout))
        kernel = k.dwconv_acc if layer["depthwise"] else k.conv_acc
        for oy0 in range(0, oh, rows):
            n_rows = min(rows, oh - oy0)
            p[10] = n_rows
            p[17] = oy0
            kernel(x, layer["weights"], acc, p)
            k.requantize_out(acc, layer["bias"], layer["multiplier"], layer["shift"], out,
                             (cout, layer["out_zp"], layer["act_min"], layer["act_max"],
                              oy0 * ow * cout, n_rows * ow * cout))
        return out, (oh, ow, cout)

    def _c_layer(self, layer):
        """The layer's numbers as the C kernels take them: bias, multiplier and shift as
        array('i'); depthwise weights in TFLite's [kh][kw][C] (golden: [C][kh][kw])."""
        c = self._c_layers.get(layer["name"])
        if c is None:
            w = layer["weights"]
            if layer["depthwise"]:
                n, ch = layer["kh"] * layer["kw"], layer["cout"]
                t = bytearray(len(w))
                for i in range(ch):
                    for j in range(n):
                        t[j * ch + i] = w[i * n + j]
                w = bytes(t)
            c = self._c_layers[layer["name"]] = (
                w, array("i", layer["bias"]), array("i", layer["multiplier"]),
                array("i", layer["shift"]))
        return c

    def avgpool(self, x, dims):
        c = dims[2]
        sums = [0] * c
        self.k.channel_sums(x, sums, c)
        count = dims[0] * dims[1]
        return bytearray(avgpool_value(s, count) for s in sums), (c,)

    def dense(self, layer, x):
        """run_dense: a 1x1 convolution of the 1x1 map x [Cin]."""
        lay = self._dense_as_conv.get(layer["name"])
        if lay is None:
            lay = self._dense_as_conv[layer["name"]] = dict(
                layer, kh=1, kw=1, stride=(1, 1), time_padding="valid", freq_padding="valid",
                depthwise=False)
        return self.conv(lay, x, (1, 1, len(x)))[0], (layer["cout"],)

    def run(self, layer, x, dims):
        kind = layer["kind"]
        if kind == "conv":
            return self.conv(layer, x, dims)
        if kind == "avgpool":
            return self.avgpool(x, dims)
        return self.dense(layer, x)


class Network(Layers):
    """The window model: int8 input [frames][n_out][1] → int8 logits (bytearray)."""

    def __init__(self, model, kernels):
        Layers.__init__(self, model.LAYERS, kernels)
        self.input_dims = (model.FRAMES, model.N_OUT, 1)
        # Two activation buffers, made now while the heap is in one piece (a board's small heap
        # fragments): layer i writes the one layer i - 1 did not (views of the sizes used).
        dims, largest, sizes = self.input_dims, 0, []
        for layer in self.layers:
            dims = out_dims(layer, dims)
            n = 1
            for d in dims:
                n *= d
            sizes.append(n)
            largest = max(largest, n)
        buffers = (bytearray(largest), bytearray(largest))
        for i, layer in enumerate(self.layers):
            if layer["kind"] in ("conv", "dense"):
                self._outs[(layer["name"], sizes[i])] = memoryview(buffers[i % 2])[:sizes[i]]

    def logits(self, x):
        dims = self.input_dims
        for layer in self.layers:
            x, dims = self.run(layer, x, dims)
        return x


class StreamingNetwork(Layers):
    """kws.golden.streaming.StreamingNetwork: every convolution keeps its last kh input rows
    and computes one output row when stride_h new rows have arrived; the average pool is a
    running sum over the last T rows of the final map; the classifier runs on it."""

    def __init__(self, model, kernels):
        Layers.__init__(self, model.LAYERS, kernels)
        self.convs = [lay for lay in self.layers if lay["kind"] == "conv"]
        self.dense_layer = self.layers[-1]
        self.step_frames = model.STEP_FRAMES
        self.lag = model.LAG_FRAMES
        self.final_rows = model.POOL_ROWS
        self.n_out = model.N_OUT
        self.reset()

    def reset(self):
        self.rows = [[] for _ in self.convs]          # per conv: its last kh input rows
        self.started = [False] * len(self.convs)
        self.since = [0] * len(self.convs)
        self.row_sums = []                            # the last T final rows' channel sums
        self.total = None
        self.width = 0
        self.frames_seen = 0

    def push_frame(self, frame):
        """One int8 feature frame (n_out bytes) → logits if a window completes, else None."""
        self.frames_seen += 1
        row, dims = bytes(frame), (1, self.n_out, 1)
        for i, layer in enumerate(self.convs):
            held = self.rows[i]
            held.append(bytes(row))         # row may be a reused output buffer
            if len(held) > layer["kh"]:
                held.pop(0)
            self.since[i] += 1
            if len(held) < layer["kh"] or (self.started[i]
                                           and self.since[i] < layer["stride"][0]):
                return None
            self.started[i] = True
            self.since[i] = 0
            row, dims = self.conv(layer, b"".join(held), (layer["kh"], dims[1], dims[2]),
                                  "valid")
        return self._pool_and_classify(row, dims)

    def _pool_and_classify(self, row, dims):
        c = dims[2]
        sums = [0] * c
        self.k.channel_sums(row, sums, c)
        if self.total is None:
            self.total = [0] * c
            self.width = dims[1]
        if len(self.row_sums) == self.final_rows:
            leaving = self.row_sums.pop(0)
            for j in range(c):
                self.total[j] -= leaving[j]
        self.row_sums.append(sums)
        for j in range(c):
            self.total[j] += sums[j]
        if len(self.row_sums) < self.final_rows:
            return None
        count = self.final_rows * self.width
        pooled = bytearray(avgpool_value(t, count) for t in self.total)
        return self.dense(self.dense_layer, pooled)[0]

    def step(self, frames):
        """step_frames new frames → (logits, window-end frame index), or (None, None)."""
        result = (None, None)
        for frame in frames:
            logits = self.push_frame(frame)
            if logits is not None:
                result = (logits, self.frames_seen - 1 + self.lag)
        return result
