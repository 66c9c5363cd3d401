"""Synthetic speech in the Speech Commands layout, made offline by several TTS engines.

Voices come from eSpeak NG, flite, festival and piper by default, and pico, RHVoice and MBROLA
when opted in (kws.audio.voices picks them, kws.audio.tts speaks). Each voice gives one or more
speakers `<voice id>+s<k>`, each with its own base rate and pitch; every utterance jitters both.
The speaker-hash split splits by the voice (the part before `+`). Per speaker:

    <keyword>/<speaker>_nohash_<take>.wav           each keyword, takes_per_keyword times
    _unknown_/<word>_<speaker>_nohash_<i>.wav       confusable near-words and other words, and
                                                    words of the keyword-free sentences
    negative_speech.npz                             keyword-free sentences, whole (an AudioPool:
                                                    name = speaker, group = voice, text)

Each 1 s clip places the word at a random offset, at a random level, over faint pink room
noise. `_background_noise_/` holds white, pink and brown noise; babble is mixed by the data stage
per split from the split's own voices. Each sentence is spoken by one speaker only, so no
sentence is in two splits. `voices.json` lists the voices, their licences, speakers, clips and
what they could not say; `missing.json` the engines and voices that were not installed.

The set is a pure function of its settings, the voices found, the engines' versions, the
sentences and the seed: it is generated once into `<cache_dir>/synthetic/<fingerprint>/` and
reused. Work is split into tasks (speakers in chunks of fixed order, eSpeak's apart), each run in a freshly
spawned process: eSpeak NG keeps hidden state from one utterance to the next that not even
re-initialising clears, so a fresh process and a fixed order are what make its bytes identical
run to run; every random draw comes from a generator seeded by (seed, speaker id).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import multiprocessing as mp
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
from omegaconf import OmegaConf

from kws.artifacts import AudioPool
from kws.audio import tts, voices as voice_sel
from kws.audio.clips import fit_length
from kws.audio.sentences import load_sentences, vocabulary
from kws.audio.speech_commands import BACKGROUND, UNKNOWN
from kws.io import atomic_dir, write_json

log = logging.getLogger(__name__)
GENERATOR_VERSION = 4          # 3: words in the middle second; 4: zero padding around it
_COMPLETE = ".complete"
SPEECH_POOL = "negative_speech.npz"
VOICES_JSON = "voices.json"
SPEECH_RMS_DBFS = -23.0                 # negative speech is stored at this RMS (peaks below 0 dBFS)
_RUNTIME_ONLY = ("workers",)            # settings that change how, not what, is generated
_CHUNK = 24                             # speakers per task (eSpeak: a fixed order per chunk)
_NEW_KEYS_OFF = {"vocabulary_per_speaker": 0}   # settings added later, and their "off" value


class Plan:
    """What a synthetic set will contain: resolved before anything is generated, so the
    fingerprint covers the voices actually found and the sentences actually read."""

    def __init__(self, data_cfg, seed: int, shared_dir: Path | None, quiet: bool = False):
        syn = data_cfg.synthetic
        self.seed = seed
        self.voices, self.missing = voice_sel.available_voices(syn, None if quiet else log)
        self.speakers = [s for v in self.voices for s in voice_sel.speakers_of(
            v, int(syn.speakers_per_voice.get(v.engine, 1)), syn, seed)]
        self.sentences, self.sentence_source = load_sentences(
            shared_dir, data_cfg.keywords, syn.sentence_words_min, syn.sentence_words_max)
        self.assigned = _assign_sentences(self.sentences, self.speakers,
                                          syn.sentences_per_speaker, seed)
        self.vocabulary = (vocabulary(self.sentences, data_cfg.keywords)
                           if syn.vocabulary_per_speaker else [])
        settings = OmegaConf.to_container(syn, resolve=True)
        for key in _RUNTIME_ONLY:
            settings.pop(key, None)
        for key, off in _NEW_KEYS_OFF.items():    # sets made before the key keep their name
            if settings.get(key) == off:
                settings.pop(key)
        spec = {"version": GENERATOR_VERSION, "seed": seed, "keywords": list(data_cfg.keywords),
                "sample_rate": data_cfg.sample_rate, "clip_ms": data_cfg.clip_ms,
                "synthetic": settings, "voices": [v.id for v in self.voices],
                "engine_versions": engine_versions(self.voices),
                "sentences": hashlib.sha256("\n".join(self.sentences).encode()).hexdigest()}
        self.fingerprint = hashlib.sha256(
            json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def ensure_dataset(data_cfg, seed: int, cache_dir: Path, shared_dir: Path | None = None) -> Path:
    """Return the folder of the synthetic set for these settings, generating it if needed.
    shared_dir: where ../shared/data is (its keyword-free sentences); None: built-in text."""
    plan = Plan(data_cfg, seed, shared_dir)
    root = Path(cache_dir) / "synthetic" / plan.fingerprint
    if (root / _COMPLETE).exists():
        log.info("synthetic data: reusing %s", root)
        return root
    log.info("synthetic data: generating %d speakers of %d voices (%s) into %s",
             len(plan.speakers), len(plan.voices),
             ", ".join(dict.fromkeys(v.engine for v in plan.voices)), root)
    settings = OmegaConf.to_container(data_cfg, resolve=True)
    with atomic_dir(root) as tmp:
        results = _run_tasks(_tasks(plan, settings, tmp), int(data_cfg.synthetic.workers))
        _finish(plan, data_cfg, results, tmp)
        (tmp / _COMPLETE).write_text("")
    return root


def read_voices(root: Path) -> dict:
    """voices.json of a synthetic set: {voices: {id: {...}}, missing: [...], sentences: ...}."""
    path = Path(root) / VOICES_JSON
    return json.loads(path.read_text()) if path.exists() else {}


def speech_pool(root: Path) -> AudioPool | None:
    """The set's negative speech (keyword-free sentences), or None for a non-synthetic root."""
    path = Path(root) / SPEECH_POOL
    return AudioPool.load(path) if path.exists() else None


def engine_versions(voices) -> dict[str, str]:
    """Package versions behind the voices (dpkg for Debian, pip metadata for PyPI): a new
    engine release gives a new fingerprint, so a cached set is never stale."""
    out = {}
    for pkg in sorted({p for v in voices for p in v.packages}):
        if any(v.component == "pypi" and pkg in v.packages for v in voices):
            try:
                out[pkg] = importlib.metadata.version(pkg)
            except importlib.metadata.PackageNotFoundError:
                out[pkg] = "unknown"
        elif shutil.which("dpkg-query"):
            done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                                  capture_output=True, text=True)
            out[pkg] = done.stdout.strip() if done.returncode == 0 else "unknown"
    return out


def _assign_sentences(sentences: list[str], speakers, per_speaker: int, seed: int
                      ) -> dict[str, list[str]]:
    """Each sentence to at most one voice: shuffled, then dealt out to the voices in turn; a
    voice's speakers share its sentences (so they stay in one split). With fewer sentences than
    needed, a voice's speakers reuse its own sentences, never another voice's."""
    if per_speaker <= 0 or not speakers:
        return {s.id: [] for s in speakers}
    order = np.random.default_rng(voice_sel.seed_words(seed, "sentences")).permutation(
        len(sentences))
    by_voice: dict[str, list] = {}
    for s in speakers:
        by_voice.setdefault(s.voice.id, []).append(s)
    voice_ids = sorted(by_voice)
    wanted = {v: per_speaker * len(by_voice[v]) for v in voice_ids}
    dealt: dict[str, list[str]] = {v: [] for v in voice_ids}
    k = 0
    while k < len(order) and any(len(dealt[v]) < wanted[v] for v in voice_ids):
        for v in voice_ids:
            if len(dealt[v]) < wanted[v] and k < len(order):
                dealt[v].append(sentences[order[k]])
                k += 1
    out = {}
    for v in voice_ids:
        own = dealt[v]
        for i, s in enumerate(by_voice[v]):
            out[s.id] = [own[(i * per_speaker + j) % len(own)] for j in range(per_speaker)] \
                if own else []
    return out


# ---------------------------------------------------------------- tasks (spawned processes)

def _tasks(plan: Plan, settings: dict, out: Path) -> list[dict]:
    """Speakers in chunks of at most _CHUNK, in their fixed order (a fresh process costs
    ~1.5 s, so one per voice would cost more than most voices' speech). eSpeak's chunks hold
    eSpeak alone (its output depends on what its process said before); the other engines are
    deterministic per call, so theirs may share a process."""
    espeak = [s for s in plan.speakers if s.voice.engine == "espeak"]
    others = [s for s in plan.speakers if s.voice.engine != "espeak"]
    tasks = []
    for name, speakers in (("espeak", espeak), ("others", others)):
        for k in range(0, len(speakers), _CHUNK):
            chunk = speakers[k:k + _CHUNK]
            tasks.append({"key": f"{name}:{k // _CHUNK}", "settings": settings,
                          "seed": plan.seed, "out": str(out), "vocabulary": plan.vocabulary,
                          "speakers": [{"id": s.id, "voice": dataclasses.asdict(s.voice),
                                        "rate": s.rate, "pitch": s.pitch,
                                        "sentences": plan.assigned[s.id]} for s in chunk]})
    # chunks holding the slow engines first, so two workers finish together
    slow = {"piper", "festival", "mbrola"}
    return sorted(tasks, key=lambda t: (-sum(sp["voice"]["engine"] in slow
                                            for sp in t["speakers"]), t["key"]))


def _run_tasks(tasks: list[dict], workers: int) -> list[dict]:
    ctx = mp.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max(1, workers), mp_context=ctx,
                                                max_tasks_per_child=1) as pool:
        futures = [pool.submit(_run_task, t) for t in tasks]
        return [f.result() for f in futures]


def _run_task(task: dict) -> dict:
    settings = OmegaConf.create(task["settings"])
    syn = settings.synthetic
    out = Path(task["out"])
    rate, n_samples = settings.sample_rate, settings.sample_rate * settings.clip_ms // 1000
    result = {"speakers": {}, "speech": []}
    for spk in task["speakers"]:
        voice = tts.Voice(**{**spk["voice"], "packages": tuple(spk["voice"]["packages"])})
        speaker = voice_sel.Speaker(spk["id"], voice, spk["rate"], spk["pitch"])
        result["speakers"][speaker.id] = _speak_speaker(
            speaker, spk["sentences"], settings, syn, task["seed"], rate, n_samples, out,
            result["speech"], task["vocabulary"])
    return result


def _speak_speaker(speaker, sentences, settings, syn, seed, rate, n_samples, out, speech,
                   words: list[str]):
    """Write one speaker's clips; append its sentences to `speech`; return its tally.
    words: the vocabulary the speaker's vocabulary_per_speaker _unknown_ words come from."""
    rng_style, rng_pick, rng_place = [np.random.default_rng(s) for s in np.random.SeedSequence(
        voice_sel.seed_words(seed, "speaker", speaker.id)).spawn(3)]
    cannot = tts.CANNOT_SAY.get(speaker.voice.id, frozenset())
    keywords = [w for w in settings.keywords if w not in cannot]
    unknown = [w for w in syn.unknown_words if w not in settings.keywords and w not in cannot]
    picks = rng_pick.choice(unknown, min(syn.unknown_per_speaker, len(unknown)),
                            replace=False) if unknown else []
    picks = [*picks, *_vocabulary_picks(words, syn.vocabulary_per_speaker, {*picks, *cannot},
                                        seed, speaker.id)]
    jobs = [(w, f"{w}/{speaker.id}_nohash_{t}.wav") for w in keywords
            for t in range(syn.takes_per_keyword)]
    jobs += [(str(w), f"{UNKNOWN}/{w}_{speaker.id}_nohash_{i}.wav") for i, w in enumerate(picks)]
    texts = [text for text, _ in jobs] + list(sentences)
    utts = [tts.Utterance(text, *voice_sel.utterance_style(speaker, syn, rng_style), i)
            for i, text in enumerate(texts)]
    pcms = tts.synthesize_batch(speaker.voice, utts)
    tally = {"clips": 0, "sentences": 0, "failed": [], "cannot_say": sorted(cannot)}
    for (text, rel), pcm in zip(jobs, pcms[:len(jobs)]):
        if isinstance(pcm, tts.TtsError):
            tally["failed"].append(f"{text!r}: {pcm}")
            continue
        _write(out / rel, _place(pcm / 32768.0, n_samples, rate, rng_place), rate)
        tally["clips"] += 1
    for text, pcm in zip(sentences, pcms[len(jobs):]):
        if isinstance(pcm, tts.TtsError):
            tally["failed"].append(f"{text!r}: {pcm}")
            continue
        speech.append((speaker.id, speaker.voice.id, text, _at_level(pcm, SPEECH_RMS_DBFS)))
        tally["sentences"] += 1
    return tally


def _vocabulary_picks(words: list[str], n: int, taken: set, seed: int, speaker_id: str
                      ) -> list[str]:
    """n words of the vocabulary for one speaker, none in `taken`; their own generator, so the
    speaker's other draws are the same with and without them."""
    pool = [w for w in words if w not in taken]
    if n <= 0 or not pool:
        return []
    rng = np.random.default_rng(voice_sel.seed_words(seed, "vocabulary", speaker_id))
    return [pool[i] for i in rng.choice(len(pool), min(n, len(pool)), replace=False)]


# ---------------------------------------------------------------- assembling the set

def _finish(plan: Plan, data_cfg, results: list[dict], out: Path) -> None:
    syn, rate = data_cfg.synthetic, data_cfg.sample_rate
    tallies = {k: v for r in results for k, v in r["speakers"].items()}
    speech = sorted((item for r in results for item in r["speech"]),
                    key=lambda item: (item[0], item[2]))
    AudioPool.from_items([x for *_, x in speech], name=[s for s, *_ in speech],
                         group=[v for _, v, *_ in speech],
                         text=[t for _, _, t, _ in speech]).save(out / SPEECH_POOL)
    rng = np.random.default_rng(voice_sel.seed_words(plan.seed, "background"))
    n_noise = int(syn.noise_seconds * rate)
    for name, alpha in (("white_noise", 0.0), ("pink_noise", 1.0), ("brown_noise", 2.0)):
        _write(out / BACKGROUND / f"{name}.wav", _to_pcm(_coloured(n_noise, alpha, rng), -20),
               rate)
    voices = {}
    for v in plan.voices:
        mine = {k: t for k, t in tallies.items() if k.startswith(v.id + "+")}
        failed = [f"{k}: {f}" for k, t in mine.items() for f in t["failed"]]
        if failed:
            log.warning("synthetic data: %s could not say %d utterance(s), e.g. %s", v.id,
                        len(failed), failed[0])
        voices[v.id] = {"engine": v.engine, "name": v.name, "component": v.component,
                        "packages": list(v.packages), "licence": v.licence,
                        "commercial_ok": v.commercial_ok, "speakers": len(mine),
                        "clips": sum(t["clips"] for t in mine.values()),
                        "sentences": sum(t["sentences"] for t in mine.values()),
                        "cannot_say": next(iter(mine.values()))["cannot_say"] if mine else [],
                        "failed": failed}
    write_json(out / VOICES_JSON, {"voices": voices, "missing": plan.missing,
                                   "sentence_source": plan.sentence_source,
                                   "sentences_available": len(plan.sentences)})


# ---------------------------------------------------------------- signal helpers

def _at_level(pcm: np.ndarray, rms_dbfs: float) -> np.ndarray:
    x = pcm.astype(np.float64) / 32768.0
    x *= 10 ** (rms_dbfs / 20) / max(np.sqrt(np.mean(x ** 2)), 1e-9)
    x /= max(1.0, np.abs(x).max() / 0.99)              # never clip: lower the whole utterance
    return np.round(x * 32767).astype(np.int16)


def _fade(x: np.ndarray, n_fade: int) -> np.ndarray:
    """Raised-cosine fade in and out, so cut word edges do not click."""
    n_fade = min(n_fade, len(x) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_fade) / max(n_fade, 1))
    x = x.copy()
    x[:n_fade] *= ramp
    x[len(x) - n_fade:] *= ramp[::-1]
    return x


def _coloured(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ∝ 1/f^alpha (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    x = np.fft.irfft(spectrum / f ** (alpha / 2), n)
    return x / np.sqrt(np.mean(x**2))


def _to_pcm(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    scaled = x / max(np.sqrt(np.mean(x**2)), 1e-12) * 10 ** (rms_dbfs / 20)
    return np.clip(np.round(scaled * 32768), -32768, 32767).astype(np.int16)


def _place(word: np.ndarray, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A recorded 1 s clip as a longer window holds it: the word at a random offset and peak
    level (-20..-1 dBFS) over faint room noise within one second (all of a clip of 1 s or
    less), that second centred and zero-padded to `n` by kws.audio.clips.fit_length, exactly
    as a real 1 s clip is. So a model trained on synthetic speech sees the padding real test
    clips have (digital silence, not noise), and the word never wanders out of the middle."""
    second = np.zeros(min(n, rate))
    word = _fade(word[:len(second)], rate // 200)
    start = int(rng.integers(0, len(second) - len(word) + 1))
    second[start:start + len(word)] = word / max(np.abs(word).max(), 1e-9)
    second *= 10 ** (rng.uniform(-20, -1) / 20)
    second += _coloured(len(second), 1.0, rng) * 10 ** (rng.uniform(-70, -50) / 20)
    pcm = np.clip(np.round(second * 32767), -32768, 32767).astype(np.int16)
    return fit_length(pcm, n)


def _write(path: Path, pcm: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, pcm, rate, subtype="PCM_16")
