"""The multi-engine synthetic set: voices from settings, speakers from voices, the split by voice,
sentences owned by one voice, and byte-identical generation in separate processes."""
from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, TINY_SYNTHETIC, compose_cfg
from kws.audio import synthetic, tts, voices
from kws.audio.tts import engines
from kws.audio.speech_commands import SPLITS, hash_split, scan, voice_of
from kws.errors import KwsError

# One speaker of one voice per default engine, plus every opted-in engine where installed.
MULTI = ["data.keywords=[yes,no]", "data.synthetic.accents=[en]",
         "data.synthetic.variants=[m1,f1]", "data.synthetic.nonfree=true",
         "data.synthetic.voices=[espeak-en-m1,espeak-en-f1,flite-slt,festival-kal,piper-joe,"
         "pico-enus,rhvoice-clb,mbrola-us1]",
         "data.synthetic.speakers_per_voice={espeak:1,flite:2,festival:1,piper:1,pico:1,"
         "rhvoice:1,mbrola:1}",
         "data.synthetic.unknown_per_speaker=1", "data.synthetic.sentences_per_speaker=1",
         "data.synthetic.noise_seconds=2"]


def _syn(overrides):
    return compose_cfg(overrides).data.synthetic


def test_default_engines_are_main_and_pypi_and_nonfree_is_opt_in():
    assert voices.engines_of(_syn([])) == ["espeak", "flite", "festival", "piper"]
    assert voices.engines_of(_syn(["data.synthetic.nonfree=true"]))[-3:] == \
        ["pico", "rhvoice", "mbrola"]
    assert voices.engines_of(_syn(["data.synthetic.engines=[flite,pico]"])) == ["flite", "pico"]
    default = voices.candidate_voices(_syn([]))
    assert {v.component for v in default} <= {"main", "pypi"}
    assert len(default) == 8 * 8 + 4 + 3 + 1


def test_bad_engine_voice_and_range_settings_name_the_setting():
    with pytest.raises(KwsError, match="data.synthetic.engines"):
        voices.engines_of(_syn(["data.synthetic.engines=[espeak,sam]"]))
    with pytest.raises(KwsError, match="data.synthetic.voices"):
        voices.candidate_voices(_syn(["data.synthetic.voices=[flite-nobody]"]))
    with pytest.raises(KwsError, match="data.synthetic.rate_min"):
        voices.available_voices(_syn(["data.synthetic.rate_min=1.5", "data.synthetic.rate_max=1.2"]))
    with pytest.raises(KwsError, match="data.synthetic.speakers_per_voice"):
        voices.available_voices(_syn(["+data.synthetic.speakers_per_voice.sam=2"]))


def test_missing_engine_in_the_data_set_is_a_logged_skip(monkeypatch, caplog):
    """The synthetic set asks for flite; flite is 'not installed': one warning line names the
    package, the other engines' voices remain, nothing raises."""
    syn = _syn(["data.synthetic.engines=[espeak,flite]", "data.synthetic.accents=[en]",
                "data.synthetic.variants=[m1]"])

    class Absent(engines._Flite):
        def missing(self, v):
            return engines.Missing("flite is not installed", v.packages, engine_level=True)
    monkeypatch.setitem(engines.ENGINE_IMPLS, "flite", Absent())
    if importlib.util.find_spec("espeakng_loader") is None:
        pytest.skip("espeakng-loader not installed: pip install espeakng-loader")
    with caplog.at_level(logging.WARNING, logger=voices.log.name):
        found, lines = voices.available_voices(syn)
    assert [v.id for v in found] == ["espeak-en-m1"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings == [f"synthetic data: {lines[0]}"]
    assert "apt-get install flite (Debian main)" in warnings[0]
    assert "flite-kal16, flite-awb, flite-rms, flite-slt" in warnings[0]


def test_unknown_espeak_accent_is_a_bad_setting():
    if not tts.probe([tts.espeak_voice("en", "m1")]).available:
        pytest.skip("espeakng-loader not installed: pip install espeakng-loader")
    with pytest.raises(KwsError, match="data.synthetic.accents"):
        voices.available_voices(_syn(["data.synthetic.engines=[espeak]",
                                      "data.synthetic.accents=[en-xx-nowhere]"]))


def test_no_voice_at_all_is_an_error(monkeypatch):
    monkeypatch.setattr(tts, "probe", lambda vs: tts.Availability([], []))
    with pytest.raises(KwsError, match="no voice of these engines is installed"):
        voices.available_voices(_syn([]))


def test_speakers_of_a_voice_spread_over_rate_and_pitch_and_are_reproducible():
    syn = _syn([])
    v = tts.VOICES[0]
    a = voices.speakers_of(v, 6, syn, seed=0)
    assert a == voices.speakers_of(v, 6, syn, seed=0)
    assert a != voices.speakers_of(v, 6, syn, seed=1)
    assert [s.id for s in a] == [f"{v.id}+s{k}" for k in range(6)]
    pitches = np.log(sorted(s.pitch for s in a))
    edges = np.linspace(np.log(syn.pitch_min), np.log(syn.pitch_max), 7)
    assert np.all((pitches >= edges[:-1]) & (pitches <= edges[1:]))   # one per stratum
    assert all(syn.rate_min <= s.rate <= syn.rate_max for s in a)
    rng = np.random.default_rng(0)
    styles = [voices.utterance_style(a[0], syn, rng) for _ in range(50)]
    rates = np.array([r for r, _ in styles]) / a[0].rate
    assert rates.min() >= 1 - syn.rate_jitter and rates.max() <= 1 + syn.rate_jitter
    assert rates.std() > 0.02                                         # jittered per utterance


def test_a_word_lands_in_the_middle_second_of_a_longer_clip():
    rate, word = 16000, np.ones(8000)                   # 0.5 s at full scale before levelling
    starts = set()
    for seed in range(20):
        clip = synthetic._place(word, 24000, rate, np.random.default_rng(seed))  # 1.5 s
        loud = np.flatnonzero(np.abs(clip) > 1000)      # the word (>= -20 dBFS), not the noise
        assert clip.shape == (24000,) and 4000 <= loud[0] and loud[-1] < 20000
        assert not clip[:4000].any() and not clip[20000:].any()   # zero-padded, as real clips
        assert np.count_nonzero(clip[4000:20000]) > 15000           # noise fills that second
        starts.add(int(loud[0]))
    assert len(starts) > 10                              # anywhere in that second
    one_second = synthetic._place(word, rate, rate, np.random.default_rng(0))
    assert one_second.shape == (rate,) and (np.abs(one_second) > 1000).sum() > 7000


def test_split_is_by_voice_not_by_speaker(tmp_path):
    """Speakers `voice+sK` of one voice always share a split, though their ids hash apart."""
    import soundfile as sf
    ids = [f"flite-v{v}+s{k}" for v in range(40) for k in range(5)]
    for speaker in ids:
        for word in ("yes", "no"):
            path = tmp_path / word / f"{speaker}_nohash_0.wav"
            path.parent.mkdir(exist_ok=True)
            sf.write(path, np.zeros(160, np.int16), 16000)
    refs, _ = scan(tmp_path, ["yes", "no"], 20, 20, "kws")
    split_of_voice: dict[str, set] = {}
    for r in refs:
        split_of_voice.setdefault(voice_of(r.speaker), set()).add(r.split)
    assert len(split_of_voice) == 40
    assert all(len(s) == 1 for s in split_of_voice.values())
    assert {next(iter(s)) for s in split_of_voice.values()} == set(SPLITS)
    # the speaker ids alone would have scattered the voices over several splits
    assert any(len({hash_split(f"flite-v{v}+s{k}", 20, 20, "kws") for k in range(5)}) > 1
               for v in range(40))


def test_each_sentence_belongs_to_one_voice():
    syn = _syn([])
    speakers = [s for v in tts.VOICES[:7] for s in voices.speakers_of(v, 3, syn, 0)]
    sentences = [f"sentence {i}" for i in range(200)]
    dealt = synthetic._assign_sentences(sentences, speakers, 2, seed=0)
    owner: dict[str, set] = {}
    for s in speakers:
        assert len(dealt[s.id]) == 2
        for text in dealt[s.id]:
            owner.setdefault(text, set()).add(s.voice.id)
    assert all(len(v) == 1 for v in owner.values())
    few = synthetic._assign_sentences(sentences[:9], speakers, 2, seed=0)     # scarce text
    owner = {}
    for s in speakers:
        for text in few[s.id]:
            owner.setdefault(text, set()).add(s.voice.id)
    assert all(len(v) == 1 for v in owner.values()) and all(few[s.id] for s in speakers)


def test_keyword_free_sentences_drop_custom_keywords(tmp_path):
    from kws.audio.sentences import BUILTIN, load_sentences
    assert load_sentences(None, ["yes", "no", "up", "down", "left", "right", "on", "off",
                                 "stop", "go"], 4, 16)[0] == list(BUILTIN)
    kept, source = load_sentences(None, ["rain", "train"], 4, 16)
    assert source == "built-in" and kept and not any("rain" in s.lower().split() for s in kept)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "sentences_without_keywords.txt").write_text(
        "one two three four five\nshort\nthe cat sat on the mat today\n")
    assert load_sentences(tmp_path, ["on"], 4, 16) == (["one two three four five"],
                                                        str(tmp_path / "text" /
                                                            "sentences_without_keywords.txt"))
    with pytest.raises(KwsError, match="sentence_words_min"):
        load_sentences(tmp_path, ["on"], 20, 30)


def test_the_vocabulary_is_the_sentences_words_without_keywords_or_their_inflections():
    from kws.audio.sentences import vocabulary
    text = ["We stopped, then stopping stops going; goes upon the downtown road at six.",
            "A yes-man, o'clock, and the road again."]
    assert vocabulary(text, ["stop", "go", "yes", "up", "down"]) == [
        "again", "and", "downtown", "man", "road", "six", "the", "then", "upon"]


def test_vocabulary_words_are_spoken_as_unknown_beside_the_unknown_words(tiny_cfg, cache_dir):
    """data.synthetic.vocabulary_per_speaker: that many more _unknown_ words per speaker, each
    speaker its own draw from the sentences' vocabulary."""
    from kws.audio.sentences import vocabulary
    plan = synthetic.Plan(tiny_cfg.data, 0, None, quiet=True)
    more = compose_cfg(TINY_SYNTHETIC + [f"paths.cache_dir={cache_dir}",
                                         "data.synthetic.vocabulary_per_speaker=3"])
    assert synthetic.Plan(more.data, 0, None, quiet=True).fingerprint != plan.fingerprint
    with_words = synthetic.ensure_dataset(more.data, 0, cache_dir)
    root = synthetic.ensure_dataset(tiny_cfg.data, 0, cache_dir)
    before = {p.name for p in (root / "_unknown_").iterdir()}
    after = {p.name for p in (with_words / "_unknown_").iterdir()}
    words = set(vocabulary(plan.sentences, tiny_cfg.data.keywords))
    added = after - before
    speakers = {r.speaker for r in scan(root, list(tiny_cfg.data.keywords), 20, 20, "kws")[0]}
    assert before < after and len(added) == 3 * len(speakers)
    assert all(name.split("_")[0] in words for name in added)
    assert len({name.split("_")[0] for name in added}) > 3     # each speaker its own draw


_GENERATE = """
import hashlib, sys
from pathlib import Path
from kws.config import compose
from kws.audio import synthetic
cfg = compose(sys.argv[2:])
root = synthetic.ensure_dataset(cfg.data, 0, Path(sys.argv[1]), None)
digest = hashlib.sha256()
for p in sorted(root.rglob("*")):
    if p.is_file():
        digest.update(str(p.relative_to(root)).encode() + p.read_bytes())
print(root.name, digest.hexdigest())
"""


def _generate_in_a_process(cache: Path, overrides) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", _GENERATE, str(cache), *overrides],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return tuple(out.stdout.split())


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_every_engine_installed_gives_the_same_bytes_in_two_processes(tmp_path):
    first = _generate_in_a_process(tmp_path / "a", MULTI)
    again = _generate_in_a_process(tmp_path / "b", MULTI)
    assert first == again
    root = tmp_path / "a" / "synthetic" / first[0]
    info = synthetic.read_voices(root)
    engines = {v["engine"] for v in info["voices"].values()}
    found = {v.engine for v in tts.probe(voices.candidate_voices(_syn(MULTI))).available}
    assert engines == found and len(engines) >= 1
    assert all(v["clips"] == v["speakers"] * 3 for v in info["voices"].values()), info
    changed = synthetic.Plan(compose_cfg(MULTI + ["data.synthetic.pitch_max=1.1"]).data, 0,
                             None, quiet=True)
    assert changed.fingerprint != first[0]


def test_tiny_set_layout_speakers_and_negative_speech(tiny_cfg, cache_dir):
    root = synthetic.ensure_dataset(tiny_cfg.data, 0, cache_dir)
    refs, noise = scan(root, list(tiny_cfg.data.keywords), 20, 20, "kws")
    speakers = {r.speaker for r in refs}
    n_flite = len(tts.probe([v for v in tts.VOICES if v.engine == "flite"]).available)
    assert len(speakers) == 2 * 5 + n_flite
    assert all("+" in s for s in speakers)
    assert {p.stem for p in noise} == {"white_noise", "pink_noise", "brown_noise"}
    pool = synthetic.speech_pool(root)
    assert len(pool) == len(speakers)                        # one sentence per speaker
    assert set(pool.name) == speakers and all(voice_of(n) == g
                                              for n, g in zip(pool.name, pool.group))
    assert all(len(pool[i]) > 16000 for i in range(len(pool)))   # whole sentences, > 1 s
    info = json.loads((root / synthetic.VOICES_JSON).read_text())
    assert info["missing"] == [line for line in tts.probe(
        voices.candidate_voices(tiny_cfg.data.synthetic)).lines()]


def test_the_fingerprint_follows_the_voices_found(tiny_cfg, monkeypatch):
    plan = synthetic.Plan(tiny_cfg.data, 0, None, quiet=True)
    class Absent(engines._Flite):
        def missing(self, v):
            return engines.Missing("flite is not installed", v.packages, engine_level=True)
    monkeypatch.setitem(engines.ENGINE_IMPLS, "flite", Absent())
    without = synthetic.Plan(tiny_cfg.data, 0, None, quiet=True)
    assert not any(v.engine == "flite" for v in without.voices)
    assert (without.fingerprint != plan.fingerprint) == any(v.engine == "flite"
                                                            for v in plan.voices)
