"""From settings to speakers: which TTS voices the synthetic set uses, and how one voice becomes
several speakers.

A speaker is a voice plus a fixed speaking style: a base speaking rate and pitch drawn once per
speaker from `data.synthetic.rate_*` / `pitch_*` (factors of the voice's own; stratified, so the
k speakers of a voice spread over both ranges instead of clustering). Every utterance then
jitters both around the speaker's base (`rate_jitter`, `pitch_jitter`: ± fractions). Engines
that cannot move F0 themselves get pitch by resampling, which moves the formants too (a longer or
shorter vocal tract), so the speakers of one voice also differ in timbre.

Speaker ids are `<voice id>+s<k>` (`flite-slt+s3`): kws.audio.speech_commands splits by the part
before the `+`, so every speaker of a voice lands in the same split and no voice is in two.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from kws.audio import tts
from kws.audio.speech_commands import VARIANT_MARK
from kws.errors import KwsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Speaker:
    id: str                     # <voice id>+s<k>
    voice: tts.Voice
    rate: float                 # base speaking-rate factor
    pitch: float                # base F0 factor


def seed_words(*parts) -> list[int]:
    """A SeedSequence entropy list from ints and strings: stable across processes and runs
    (Python's hash() of a string is salted per process)."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.extend(np.frombuffer(hashlib.sha256(p.encode()).digest()[:16], "<u4").tolist())
        else:
            out.append(int(p))
    return out


def engines_of(syn) -> list[str]:
    """The engines the settings ask for: `engines`, plus the contrib/non-free ones with
    `nonfree: true` (listing one of them in `engines` opts in to that one alone)."""
    wanted = list(dict.fromkeys(list(syn.engines) + (list(tts.NONFREE_ENGINES)
                                                     if syn.nonfree else [])))
    unknown = [e for e in wanted if e not in tts.ENGINES]
    if unknown:
        raise KwsError(f"data.synthetic.engines: unknown engine(s) {unknown}; known: "
                       f"{list(tts.ENGINES)}")
    return wanted


def candidate_voices(syn) -> list[tts.Voice]:
    """Every voice the settings name, installed or not, in a fixed order."""
    engines = engines_of(syn)
    voices = []
    for engine in engines:
        if engine == "espeak":
            voices += [tts.espeak_voice(a, v) for a in syn.accents for v in syn.variants]
        else:
            voices += [v for v in tts.VOICES if v.engine == engine]
    if syn.voices:
        known = {v.id for v in voices}
        unknown = [v for v in syn.voices if v not in known]
        if unknown:
            raise KwsError(f"data.synthetic.voices: {unknown} are not voices of the engines "
                           f"{engines}; e.g. {sorted(known)[:6]}")
        voices = [v for v in voices if v.id in set(syn.voices)]
    ids = [v.id for v in voices]
    if len(set(ids)) != len(ids):
        raise KwsError("data.synthetic.accents/variants: two entries give the same voice "
                       f"({sorted({i for i in ids if ids.count(i) > 1})[:3]})")
    return voices


def _check_espeak(syn, voices: list[tts.Voice]) -> None:
    """A misspelt accent or variant is a bad setting, not a missing package."""
    for accent in dict.fromkeys(v.accent for v in voices if v.engine == "espeak"):
        if not tts.espeak_lookup(accent, "m1")[0]:
            raise KwsError(f"data.synthetic.accents: eSpeak NG has no accent {accent!r}")
    for variant in dict.fromkeys(v.name.split("+")[1] for v in voices if v.engine == "espeak"):
        if not tts.espeak_lookup("en", variant)[1]:
            raise KwsError(f"data.synthetic.variants: eSpeak NG has no voice variant "
                           f"{variant!r}")


def _check_ranges(syn) -> None:
    for key, lo, hi in (("rate", 0.5, 2.0), ("pitch", 0.6, 1.6)):
        a, b = syn[f"{key}_min"], syn[f"{key}_max"]
        if not lo <= a <= b <= hi:
            raise KwsError(f"data.synthetic.{key}_min={a} / {key}_max={b}: need "
                           f"{lo} <= min <= max <= {hi}")
    for key in ("rate_jitter", "pitch_jitter"):
        if not 0 <= syn[key] <= 0.3:
            raise KwsError(f"data.synthetic.{key}={syn[key]} must be in [0, 0.3]")
    unknown = [e for e in syn.speakers_per_voice if e not in tts.ENGINES]
    if unknown:
        raise KwsError(f"data.synthetic.speakers_per_voice: unknown engine(s) {unknown}")
    bad = {e: n for e, n in syn.speakers_per_voice.items() if n < 0}
    if bad:
        raise KwsError(f"data.synthetic.speakers_per_voice: negative count(s) {bad}")


def available_voices(syn, logger: logging.Logger | None = log
                     ) -> tuple[list[tts.Voice], list[str]]:
    """The installed voices the settings ask for, and one line per missing engine or voice
    (logged as a warning when a logger is given, naming what to install). No voice at all is
    an error."""
    _check_ranges(syn)
    voices = candidate_voices(syn)
    found = tts.probe(voices)
    lines = found.lines()
    for line in lines if logger else []:
        logger.warning("synthetic data: %s", line)
    if any(v.engine == "espeak" for v in found.available):
        _check_espeak(syn, found.available)
    if not found.available:
        raise KwsError(f"data.synthetic.engines={engines_of(syn)}: no voice of these engines is "
                       f"installed here ({'; '.join(lines) or 'none listed'})")
    return found.available, lines


def speakers_of(voice: tts.Voice, n: int, syn, seed: int) -> list[Speaker]:
    """n speakers of one voice, their base rate and pitch stratified over the ranges."""
    if n <= 0:
        return []
    rng = np.random.default_rng(seed_words(seed, "speakers", voice.id))

    def strata(lo: float, hi: float) -> np.ndarray:       # log-uniform, one draw per stratum
        u = (rng.permutation(n) + rng.random(n)) / n
        return np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))

    rates, pitches = strata(syn.rate_min, syn.rate_max), strata(syn.pitch_min, syn.pitch_max)
    return [Speaker(f"{voice.id}{VARIANT_MARK}s{k}", voice, round(float(rates[k]), 4),
                    round(float(pitches[k]), 4)) for k in range(n)]


def utterance_style(speaker: Speaker, syn, rng: np.random.Generator) -> tuple[float, float]:
    """(rate, pitch) of one utterance: the speaker's base, jittered."""
    rate = speaker.rate * (1 + rng.uniform(-syn.rate_jitter, syn.rate_jitter))
    pitch = speaker.pitch * (1 + rng.uniform(-syn.pitch_jitter, syn.pitch_jitter))
    return round(float(rate), 4), round(float(pitch), 4)
