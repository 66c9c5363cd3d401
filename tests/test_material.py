"""Rooms, real negatives and the new augmentation steps: reproducible from the seed, audible, and
never drawing on held-out material."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from conftest import compose_cfg
from kws.artifacts import AudioPool, RunDir
from kws.audio import negatives, rooms
from kws.audio.augment import Material, augment
from kws.audio.speech_commands import SPLITS
from kws.errors import KwsError

ONLY = ["data.augment.time_shift_ms=0", "data.augment.noise_prob=0",
        "data.augment.gain_db_min=0", "data.augment.gain_db_max=0",
        "data.augment.reverb_prob=0", "data.augment.negatives_prob=0",
        "data.augment.level_prob=0"]


def _cfg(*overrides):
    return compose_cfg(ONLY + list(overrides)).data.augment


def _words(n=16):
    """Clips of a 0.3 s tone burst ('word') in the middle, silence around it."""
    rng = np.random.default_rng(0)
    t = np.arange(4800) / 16000
    clips = np.zeros((n, 16000))
    for i in range(n):
        clips[i, 5600:10400] = np.sin(2 * np.pi * (150 + 10 * i) * t) * 8000 * np.hanning(4800)
    return np.round(clips + rng.standard_normal(clips.shape) * 3).astype(np.int16)


def _room(rt60=0.5, seed=0):
    rng = np.random.default_rng(seed)
    n = int(rt60 * 16000)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)     # -60 dB at rt60
    tail[0] = 8.0                                                      # the direct path
    return rooms.align(tail, 16000)


def _speech(n=5, seconds=1.5, seed=3):
    rng = np.random.default_rng(seed)
    items = [np.round(rng.standard_normal(int(seconds * 16000)) * 2000).astype(np.int16)
             for _ in range(n)]
    return AudioPool.from_items(items, [f"neg{i}" for i in range(n)], ["x"] * n)


def test_new_steps_at_probability_zero_leave_the_old_augmentation_byte_identical():
    """The hash of this draw before reverberation, interfering speech and level existed."""
    cfg = compose_cfg(["data.augment.reverb_prob=0", "data.augment.negatives_prob=0",
                       "data.augment.level_prob=0"]).data.augment
    rng = np.random.default_rng(0)
    clips = (rng.standard_normal((8, 16000)) * 3000).astype(np.int16)
    noise = [(np.random.default_rng(1).standard_normal(40000) * 500).astype(np.int16)]
    material = Material(AudioPool.from_items([_room()], ["r"], ["real"], dtype=np.float32),
                        _speech(), _speech(seed=4))
    out = augment(clips, noise, cfg, 16000, np.random.default_rng([0, 3]), material)
    assert hashlib.sha256(out.tobytes()).hexdigest() == \
        "f2deffeb53232c0a05197089cbc5a368691aa1ce07257865e1234ddda796ea27"


def test_reverberation_is_reproducible_audible_and_keeps_the_level():
    cfg = _cfg("data.augment.reverb_prob=1")
    material = Material(AudioPool.from_items([_room(0.4, 1), _room(0.8, 2)], ["a", "b"],
                                             ["real", "synthetic"], dtype=np.float32))
    clips = _words()
    a = augment(clips, [], cfg, 16000, np.random.default_rng([5, 1]), material)
    b = augment(clips, [], cfg, 16000, np.random.default_rng([5, 1]), material)
    c = augment(clips, [], cfg, 16000, np.random.default_rng([5, 2]), material)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    dry, wet = clips.astype(float), a.astype(float)
    after = slice(10600, 16000)                        # after the word: only the room's tail
    assert np.mean(wet[:, after] ** 2) > 100 * np.mean(dry[:, after] ** 2)
    ratio = np.mean(wet ** 2, axis=1) / np.mean(dry ** 2, axis=1)
    assert np.allclose(ratio, 1, atol=0.02)            # the level step owns the level
    none = augment(clips, [], _cfg("data.augment.reverb_prob=1", "data.augment.rir_sources=[]"),
                   16000, np.random.default_rng([5, 1]), material)
    assert np.array_equal(none, clips)                 # no source chosen: no room


def test_interfering_speech_is_reproducible_and_mixed_at_the_snr():
    cfg = _cfg("data.augment.negatives_prob=1", "data.augment.negatives_snr_db_min=6",
               "data.augment.negatives_snr_db_max=6", "data.augment.negatives_sources=[real]")
    material = Material(negatives=_speech(), speech=_speech(seed=9))
    clips = _words()
    a = augment(clips, [], cfg, 16000, np.random.default_rng([2, 0]), material)
    assert np.array_equal(a, augment(clips, [], cfg, 16000, np.random.default_rng([2, 0]),
                                     material))
    added = a.astype(float) - clips
    snr = 10 * np.log10(np.mean(clips.astype(float) ** 2, axis=1) / np.mean(added ** 2, axis=1))
    assert np.allclose(snr, 6, atol=0.2)
    none = augment(clips, [], _cfg("data.augment.negatives_prob=1",
                                   "data.augment.negatives_sources=[]"), 16000,
                   np.random.default_rng([2, 0]), material)
    assert np.array_equal(none, clips)                 # no source chosen: nothing mixed


def test_level_step_sets_the_active_level_within_its_range():
    cfg = _cfg("data.augment.level_prob=1", "data.augment.level_db_min=-40",
               "data.augment.level_db_max=-20", "data.augment.level_ramp_db=0")
    out = augment(_words(64), [], cfg, 16000, np.random.default_rng(7)).astype(float)
    active = np.sqrt(np.mean(out[:, 5600:10400] ** 2, axis=1)) / 32768
    level = 20 * np.log10(active)
    assert level.min() > -42 and level.max() < -18 and level.std() > 3


def test_held_out_rooms_are_ranked_by_a_salted_hash():
    names = [f"room{i}" for i in range(27)]
    split = rooms.held_out_split(names, 15, 15, "kws")
    assert split == rooms.held_out_split(list(reversed(names)), 15, 15, "kws")
    counts = {s: sum(v == s for v in split.values()) for s in SPLITS}
    assert counts == {"train": 19, "validation": 4, "test": 4}
    assert rooms.held_out_split(names, 15, 15, "other") != split


def test_synthetic_rooms_are_cached_reproducible_and_distinct_per_split(tmp_path):
    cfg = compose_cfg(["data.rooms.synthetic_rooms=6"]).data.rooms
    first = rooms.synthetic_rooms(cfg, 0, 16000, tmp_path)
    cached = list((tmp_path / "rooms").glob("*.npz"))
    assert len(cached) == 1
    again = rooms.synthetic_rooms(cfg, 0, 16000, None)           # simulated again, not read
    assert {s: len(p) for s, p in first.items()} == {"train": 4, "validation": 1, "test": 1}
    for split in SPLITS:
        assert np.array_equal(first[split].audio, again[split].audio)
    digests = [hashlib.sha256(first[s][i].tobytes()).hexdigest()
               for s in SPLITS for i in range(len(first[s]))]
    assert len(set(digests)) == len(digests)
    ir = first["train"][0]
    assert ir.dtype == np.float32 and np.argmax(np.abs(ir)) == 40      # 2.5 ms pre-delay
    assert abs(float(np.sum(ir.astype(float) ** 2)) - 1) < 1e-4
    other = rooms.synthetic_rooms(cfg, 1, 16000, None)
    assert not np.array_equal(other["train"].audio[:100], first["train"].audio[:100])


def _fake_shared(tmp_path):
    """A ../shared lookalike: three phrase folders, a not-wake-words folder that says a
    keyword once, and four rooms."""
    rng = np.random.default_rng(0)

    def write(path, seconds=1.2):
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (rng.standard_normal(int(seconds * 16000)) * 3000).astype(np.int16),
                 16000)
    for folder in ("pico/jarvis", "pico/alexa", "myc/amelia", "myc/not-wake-words",
                   "myc/heyleft"):
        for i in range(3):
            write(tmp_path / "negatives" / folder / f"{i}.flac")
    (tmp_path / "negatives" / "myc" / "not-wake-words" / "metadata.csv").write_text(
        "0.wav,aardvark,en,\n1.wav,turn left now,en,\n2.wav,ceiling,en,\n")
    for i in range(4):
        write(tmp_path / "rirs" / "voxengo" / f"room{i}.flac", 0.3)
    return tmp_path


def test_real_negatives_are_held_out_by_folder_and_drop_keywords(tmp_path):
    shared = _fake_shared(tmp_path)
    cfg = compose_cfg(["data.negatives.validation=[myc/amelia]",
                       "data.negatives.test=[pico/jarvis]"])
    pools, report = negatives.real_negatives(cfg, shared)
    folders = {s: {n.rsplit("/", 1)[0] for n in pools[s].name} for s in SPLITS}
    assert folders == {"train": {"pico/alexa", "myc/not-wake-words"},
                       "validation": {"myc/amelia"}, "test": {"pico/jarvis"}}
    assert "myc/heyleft" in report["left_out_folders"]          # names a keyword
    assert report["left_out_recordings"] == 1                      # "turn left now"
    assert all(pools[s].audio.dtype == np.int16 for s in SPLITS)
    with pytest.raises(KwsError, match="data.negatives.test"):
        negatives.real_negatives(compose_cfg(["data.negatives.validation=[myc/amelia]",
                                              "data.negatives.test=[pico/nothing]"]), shared)
    with pytest.raises(KwsError, match="both list"):
        negatives.real_negatives(compose_cfg(["data.negatives.validation=[pico/jarvis]",
                                              "data.negatives.test=[pico/jarvis]"]), shared)


def test_absent_shared_material_is_a_logged_fallback(tmp_path, caplog):
    cfg = compose_cfg(["data.rooms.synthetic_rooms=3"])
    pools, report = negatives.real_negatives(cfg, tmp_path / "nowhere")
    assert report["dir"] is None and all(len(p) == 0 for p in pools.values())
    rirs, rir_report = rooms.rir_pools(cfg, tmp_path / "nowhere", None)
    assert rir_report["real_dir"] is None
    assert {s: set(p.group) for s, p in rirs.items()} == {s: {"synthetic"} for s in SPLITS}
    assert any("no real room impulse responses" in r.getMessage() for r in caplog.records)
    with pytest.raises(KwsError, match="data.augment.rir_sources"):
        rooms.rir_pools(compose_cfg(["data.augment.rir_sources=[cave]"]), tmp_path, None)


def test_no_negative_or_room_of_the_training_pool_is_held_out(shared_data, tmp_path):
    """On ../shared itself: the default rule holds jarvis out for test and amelia for
    validation; no recording or room is in two pools."""
    cfg = compose_cfg(["data.rooms.synthetic_rooms=6"])
    neg, report = negatives.real_negatives(cfg, shared_data)
    assert report["folders"]["test"] == ["picovoice/jarvis"]
    assert report["folders"]["validation"] == ["mycroft/amelia"]
    names = {s: set(neg[s].name) for s in SPLITS}
    assert sum(len(v) for v in names.values()) == 1978
    assert not (names["train"] & names["validation"]) and not (names["train"] & names["test"])
    assert not any("jarvis" in n or "amelia" in n for n in names["train"])
    rirs, _ = rooms.rir_pools(cfg, shared_data, None)
    real = {s: {n for n, g in zip(rirs[s].name, rirs[s].group) if g == "real"} for s in SPLITS}
    assert sum(len(v) for v in real.values()) == 27
    assert not (real["train"] & (real["validation"] | real["test"]))
    digests = {s: {hashlib.sha256(x.tobytes()).hexdigest() for x in rirs[s].items()}
               for s in SPLITS}
    assert not (digests["train"] & (digests["validation"] | digests["test"]))


def test_data_stage_writes_disjoint_pools_the_training_reads(tiny_cfg, tmp_path):
    """The tiny synthetic run: speech pools split by voice (no voice or sentence in two),
    rooms per split, and the training side reads exactly the train pools."""
    from kws.audio.augment import training_material
    from kws.audio.speech_commands import voice_of
    from kws.pipeline import run_pipeline
    report = run_pipeline(tiny_cfg, tmp_path)["data"]
    run = RunDir(tmp_path)
    speech = {s: run.pool("speech", s) for s in SPLITS}
    voices = {s: {voice_of(n) for n in speech[s].name} for s in SPLITS}
    clip_voices = {s: {voice_of(x) for x in run.split(s)["speaker"] if x} for s in SPLITS}
    texts = {s: set(speech[s].text) for s in SPLITS}
    for s in SPLITS:
        assert voices[s] == clip_voices[s] and len(speech[s]) > 0
        for t in SPLITS:
            if s != t:
                assert not (voices[s] & voices[t]) and not (texts[s] & texts[t])
    assert report["voice_overlap"] == 0
    assert report["speech"]["train"]["utterances"] == len(speech["train"])
    for s in SPLITS:
        with np.load(run.noise_path(s)) as f:
            assert "babble" in f.files                 # the split's own voices talking
        assert set(run.pool("rirs", s).group) <= {"real", "synthetic"}
    material = training_material(run)
    assert np.array_equal(material.speech.audio, speech["train"].audio)
    assert set(material.rirs.name) == set(run.pool("rirs", "train").name)


@pytest.mark.parametrize("override, key", [
    ("data.augment.reverb_prob=1.5", "data.augment.reverb_prob"),
    ("data.augment.negatives_snr_db_min=30", "data.augment.negatives_snr_db_min"),
    ("data.augment.level_db_max=3", "data.augment.level_db_max"),
    ("data.augment.negatives_sources=[radio]", "data.augment.negatives_sources"),
])
def test_bad_augmentation_settings_name_the_setting(override, key):
    from kws.audio.augment import check_settings
    with pytest.raises(KwsError, match=key.replace(".", r"\.")):
        check_settings(compose_cfg([override]).data.augment)


def test_data_stage_without_shared_uses_what_it_synthesises(cache_dir, tmp_path):
    """Where ../shared is absent: built-in sentences, synthetic rooms only, no real negatives;
    each said in the report, nothing fails."""
    from conftest import TINY_SYNTHETIC
    from kws.pipeline import run_pipeline
    cfg = compose_cfg(TINY_SYNTHETIC + [f"paths.cache_dir={cache_dir}", "stages=[data]",
                                        f"paths.shared_data={tmp_path / 'nowhere'}",
                                        "data.augment.negatives_sources=[real,synthetic]"])
    report = run_pipeline(cfg, tmp_path / "run")["data"]
    assert report["shared_data"] is None and report["negatives"]["dir"] is None
    assert report["rirs"]["real_dir"] is None
    assert report["tts"]["sentence_source"] == "built-in"
    assert all(report["rirs"]["rooms"][s]["real"] == 0 and report["rirs"]["rooms"][s]["synthetic"]
               for s in SPLITS)
    run = RunDir(tmp_path / "run")
    assert len(run.pool("negatives", "train")) == 0 and len(run.pool("speech", "train")) > 0


def test_negative_windows_cut_whole_windows_from_the_pools():
    """Windows at uniform offsets inside long recordings; a short one centred and zero-padded;
    reproducible; named by the recording and start they came from."""
    long_rec, short = np.arange(1, 5001, dtype=np.int16), np.full(300, 7, np.int16)
    pools = [AudioPool.from_items([long_rec], ["a/long.flac"], ["a"]),
             AudioPool.from_items([short], ["s+s0"], ["s"])]
    audio, names = negatives.negative_windows(pools, 40, 1000, np.random.default_rng(3))
    assert audio.shape == (40, 1000) and audio.dtype == np.int16 and len(names) == 40
    assert {n for n, _ in names} == {"a/long.flac", "s+s0"}
    for row, (name, start) in zip(audio, names):
        if name == "a/long.flac":
            assert np.array_equal(row, long_rec[start:start + 1000])
        else:
            assert start == 0 and not row[:350].any() and (row[350:650] == 7).all()
    again, _ = negatives.negative_windows(pools, 40, 1000, np.random.default_rng(3))
    assert np.array_equal(audio, again)
    none, _ = negatives.negative_windows(pools, 0, 1000, np.random.default_rng(3))
    assert none.shape == (0, 1000)


def test_negative_windows_join_only_the_training_split_and_change_nothing_else(cache_dir,
                                                                              tmp_path):
    """data.negative_windows_share adds _unknown_ windows of the training split's own speech
    to train.npz; validation and test, and the clips selected before, stay byte-identical."""
    from conftest import TINY_SYNTHETIC
    from kws.pipeline import run_pipeline
    overrides = TINY_SYNTHETIC + [f"paths.cache_dir={cache_dir}", "stages=[data]"]
    run_pipeline(compose_cfg(overrides), tmp_path / "base")
    run_pipeline(compose_cfg(overrides + ["data.negative_windows_share=0.5"]), tmp_path / "neg")
    base, neg = RunDir(tmp_path / "base"), RunDir(tmp_path / "neg")
    for s in ("validation", "test"):
        assert np.array_equal(base.split(s)["audio"], neg.split(s)["audio"])
    old, new = base.split("train"), neg.split("train")
    n = len(old["audio"])
    assert len(new["audio"]) == n + round(0.5 * n)
    assert np.array_equal(new["audio"][:n], old["audio"])
    unknown = base.labels().index("_unknown_")
    assert (new["label"][n:] == unknown).all() and not any(new["speaker"][n:])
    training = [x for kind in ("speech", "negatives") for x in base.pool(kind, "train").items()]
    for row in new["audio"][n:n + 10]:       # each window lies in a training recording
        assert row.any()
        piece = row[np.flatnonzero(row)[0]:][:400]
        assert any(_contains(rec, piece) for rec in training)
    manifest = (tmp_path / "neg" / "data" / "manifest.csv").read_text().splitlines()
    assert sum(line.startswith("train,_unknown_,,") for line in manifest) >= round(0.5 * n)


def _contains(haystack: np.ndarray, needle: np.ndarray) -> bool:
    if len(needle) > len(haystack):
        return False
    windows = np.lib.stride_tricks.sliding_window_view(haystack, len(needle))
    return bool((windows == needle).all(axis=1).any())


def test_the_synthetic_training_voices_join_recorded_speech(cache_dir, tmp_path):
    """data.with_synthetic: the synthetic set's training voices (keywords, _unknown_ words) join
    the recorded training split; validation and test stay the recorded speakers' clips, byte for
    byte; the held-out voices' sentences become those splits' negative speech; no voice is in
    two splits."""
    from conftest import TINY_SYNTHETIC, make_layout
    from kws.pipeline import run_pipeline
    root = make_layout(tmp_path / "sc")
    overrides = TINY_SYNTHETIC + [f"paths.cache_dir={cache_dir}", "stages=[data]",
                                  "data.source=speech_commands", f"data.root={root}",
                                  "data.keywords=[yes,no]"]
    run_pipeline(compose_cfg(overrides), tmp_path / "rec")
    run_pipeline(compose_cfg(overrides + ["data.with_synthetic=true"]), tmp_path / "mix")
    rec, mix = RunDir(tmp_path / "rec"), RunDir(tmp_path / "mix")
    silence = rec.labels().index("_silence_")
    for s in SPLITS:                    # the same recorded clips (_silence_ may hold TTS babble)
        n = len(rec.split(s)["label"])
        words = rec.split(s)["label"] != silence
        assert np.array_equal(rec.split(s)["label"], mix.split(s)["label"][:n])
        assert np.array_equal(rec.split(s)["audio"][words], mix.split(s)["audio"][:n][words])
    for s in ("validation", "test"):
        assert len(mix.split(s)["label"]) == len(rec.split(s)["label"])
        assert len(rec.pool("speech", s)) == 0 < len(mix.pool("speech", s))
    recorded = set(rec.split("train")["speaker"])
    speakers = set(mix.split("train")["speaker"])
    synthetic = {x for x in speakers - recorded if x}
    assert recorded <= speakers and synthetic
    assert all("+" in x for x in synthetic)                    # <voice>+<style> ids
    labels = mix.labels()
    train = mix.split("train")
    from_tts = np.isin(train["speaker"], sorted(synthetic))
    assert {labels[i] for i in train["label"][from_tts]} == {"yes", "no", "_unknown_"}
    from kws.audio import synthetic as synthetic_set
    from kws.audio.speech_commands import scan
    data = compose_cfg(overrides).data
    refs, _ = scan(synthetic_set.ensure_dataset(data, 0, cache_dir), ["yes", "no"],
                   data.validation_percent, data.testing_percent, data.split_salt)
    spoken = [r for r in refs if r.split == "train" and r.label == "_unknown_"]
    assert np.sum(train["label"][from_tts] == labels.index("_unknown_")) == len(spoken) > 0
    report = json.loads((tmp_path / "mix" / "report.json").read_text())["data"]
    assert report["voice_overlap"] == 0
    assert report["engines"]["espeak"]["clips"]["train"] > 0
    assert all(report["engines"][e]["clips"][s] == 0 for e in report["engines"] if e != "recorded"
               for s in ("validation", "test"))


def test_a_partial_word_window_holds_at_most_half_of_its_keyword():
    """kws.audio.partial_words: each window is its keyword clip moved, with a share of the
    word's extent inside in [MIN_INSIDE, PARTIAL_INSIDE], cut at either end of the window."""
    from kws.audio import partial_words as pw
    rate, n_samples = 16000, 24000
    rng = np.random.default_rng(0)
    audio = np.zeros((6, n_samples), np.int16)
    for i, row in enumerate(audio):               # a 'word' of 0.3-0.6 s in the middle
        length = 4800 + 960 * i
        start = (n_samples - length) // 2
        row[start:start + length] = rng.integers(-8000, 8000, size=length)
    windows, made = pw.partial_word_windows(audio, np.arange(6), 200, rate,
                                            np.random.default_rng(1))
    assert windows.shape == (200, n_samples) and len(made) == 200
    ends = set()
    for window, (r, shift) in zip(windows, made):
        assert np.array_equal(window, pw._moved(audio[r], shift))
        extent = pw.word_span(audio[r], rate)
        share = pw.inside_share(extent, shift, n_samples)
        assert pw.MIN_INSIDE - 0.01 <= share <= pw.PARTIAL_INSIDE
        ends.add(shift > 0)
    assert ends == {True, False}                  # words entering and words leaving
    # the untouched clips: the whole word inside, the keyword rule's side
    assert pw.inside_share(pw.word_span(audio[0], rate), 0, n_samples) >= pw.KEYWORD_INSIDE


def test_partial_word_windows_join_only_the_training_split(cache_dir, tmp_path):
    from conftest import TINY_SYNTHETIC
    from kws.pipeline import run_pipeline
    overrides = TINY_SYNTHETIC + [f"paths.cache_dir={cache_dir}", "stages=[data]"]
    run_pipeline(compose_cfg(overrides), tmp_path / "base")
    run_pipeline(compose_cfg(overrides + ["data.partial_words_share=0.25"]), tmp_path / "cut")
    base, cut = RunDir(tmp_path / "base"), RunDir(tmp_path / "cut")
    for s in ("validation", "test"):
        assert np.array_equal(base.split(s)["audio"], cut.split(s)["audio"])
    old, new = base.split("train"), cut.split("train")
    n = len(old["audio"])
    assert len(new["audio"]) == n + round(0.25 * n)
    assert np.array_equal(new["audio"][:n], old["audio"])
    assert (new["label"][n:] == base.labels().index("_unknown_")).all()
    manifest = (tmp_path / "cut" / "data" / "manifest.csv").read_text()
    assert manifest.count(",partial ") == round(0.25 * n)
