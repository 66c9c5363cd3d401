"""The fixed-point MFCC front end, one frame at a time (kws/golden/mfcc.py is its definition).

FrontEnd(model, kernels).frame(pcm, start) computes the int8 features of the window_len samples
pcm[start:start + window_len] (int16) in the golden model's eight steps; the loops are in
`kernels` (see kernels.py). Integers only: the products of steps 3-7 need up to 62 bits, which
MicroPython's long integers (mpz) give on a 32-bit core.
"""
try:
    from array import array
except ImportError:          # pragma: no cover
    from uarray import array


class FrontEnd:
    def __init__(self, model, kernels):
        self.k = kernels
        self.window_len = model.WINDOW_LEN
        self.stride = model.STRIDE
        self.n_out = model.N_OUT
        self.norm_bits = model.NORM_BITS
        self.power_shift = model.POWER_SHIFT
        self.window = model.WINDOW
        self.bitrev = model.BITREV
        self.twiddle = model.FFT_TWIDDLE
        self.split = model.SPLIT_TWIDDLE
        self.n_bins = model.N_BINS
        self.first = model.MEL_FIRST_BIN
        self.count = model.MEL_N_BINS
        self.weights = model.MEL_WEIGHTS
        self.lut = model.LOG2_LUT
        self.dct = model.DCT
        self.log_q = (model.LOG_OFFSET, model.LOG_FLOOR_Q11, model.LN2_Q15,
                      model.LOG2_LUT_BITS, model.LOG2_INTERP_BITS)
        self.out_q = (model.OUT_MULTIPLIER, model.OUT_SHIFT, model.OUT_ZERO_POINT)
        self.native = hasattr(kernels, "mfcc_frame")    # kws_native.mpy: the library's C
        if self.native and tuple(kernels.tables()) != (
                model.WINDOW_LEN, model.STRIDE, model.FFT_LEN, len(model.MEL_FIRST_BIN),
                model.N_OUT):
            raise ValueError("kws_native.mpy was built for other front-end tables "
                             "(rebuild it for this run)")
        m = model.FFT_LEN // 2
        # Scratch, reused frame after frame (lists: their items may be long integers).
        self._v = [0] * self.window_len
        self._re = [0] * m
        self._im = [0] * m
        self._power = [0] * self.n_bins
        self._logmel = [0] * len(self.first)

    def frame(self, pcm, start=0, out=None):
        """int8 features (a bytearray of n_out two's-complement bytes) of one frame."""
        k = self.k
        if out is None:
            out = bytearray(self.n_out)
        if self.native:                                 # pcm: array('h') (a buffer)
            k.mfcc_frame(pcm, start, out)
            return out
        sh = k.window_normalise(pcm, start, self.window, self._v, self.norm_bits)
        k.fft(self._v, self.window_len, self.bitrev, self.twiddle, self._re, self._im)
        k.split_power(self._re, self._im, self.split, self.n_bins, self.power_shift, self._power)
        k.mel_log(self._power, self.first, self.count, self.weights, self.lut, sh, self.log_q,
                  self._logmel)
        k.dct_int8(self._logmel, self.dct, self.n_out, self.out_q, out)
        return out

    def frames(self, pcm):
        """Every whole frame of an int16 signal: a list of n_frames bytearrays."""
        n = len(pcm)
        if n < self.window_len:
            return []
        return [self.frame(pcm, i * self.stride)
                for i in range(1 + (n - self.window_len) // self.stride)]
