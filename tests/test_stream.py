"""Stage stream: stream mixing, scoring rules, the threshold sweep, the operating point."""
from __future__ import annotations

import re

import numpy as np
import pytest

from kws.golden.detector import Detection, fire, make_settings, recognize, sweep_inputs
from kws.measure.scoring import score_events
from kws.stages.stream import operating_point
from kws.audio.streams import Placed, mix_material_stream, mix_stream, word_span

LABELS = ["_silence_", "_unknown_", "yes", "no"]
KEYWORD = [False, False, True, True]


def test_threshold_sweep_gives_the_recognisers_events_at_every_threshold():
    rng = np.random.default_rng(0)
    logits = rng.integers(-128, 128, size=(3000, 4)).astype(np.int8)
    logits[::7, 2] = 120                                 # bursts of "yes"
    frames = np.arange(48, 48 + 2 * len(logits), 2)
    base = dict(average_window=5, min_count=2, suppression_frames=30, infer_every=2)
    settings = make_settings(LABELS, 0.1, threshold=0, **base)
    top, score, may_fire = sweep_inputs(settings, logits)
    fired = 0
    for threshold in (0, 40, 90, 128, 200, 255):
        expected = recognize(make_settings(LABELS, 0.1, threshold=threshold, **base), frames, logits)
        assert fire(frames, top, score, may_fire, threshold, 30) == expected
        fired += len(expected)
    assert fired > 0


def _word(label, start, word_start, word_end):
    return Placed(label, start, start + 16000, word_start, word_end)


def test_scoring_rules():
    stride, window = 320, 480
    at = lambda sample: (sample - window) // stride      # noqa: E731  frame ending at ~sample
    truth = [_word(2, 0, 4000, 12000), _word(3, 40000, 44000, 50000), _word(1, 80000, 84000, 90000)]
    events = [Detection(at(12800), 2, 200),              # hit "yes" (0.05 s after the word)
              Detection(at(20000), 2, 210),              # repeat of that "yes": debounced
              Detection(at(47000), 2, 220),              # "yes" during "no": false accept
              Detection(at(50000 + 17000), 3, 230),      # "no" 1.06 s late: false accept
              Detection(at(86000), 3, 240)]              # during an unknown word: false accept
    score = score_events(events, truth, KEYWORD, stride, window, hit_window=16000)
    assert (score.positives, score.hits, score.false_accepts) == (2, 1, 3)
    assert score.frr == 0.5
    assert score.per_label_false_accepts == {2: 1, 3: 2}
    assert score.per_label_hits == {2: 1, 3: 0}


def test_operating_point_is_the_lowest_frr_within_the_target():
    frr = np.array([0.01, 0.02, 0.05, 0.05, 0.30])
    fa = np.array([9.0, 2.0, 0.4, 0.2, 0.0])
    assert operating_point(frr, fa, 0.5) == (3, True)     # 2 and 3 tie on FRR: the higher
    assert operating_point(frr, fa + 1, 0.5) == (4, False)
    # none within the target detects anything: the most sensitive of them
    assert operating_point(np.array([0.5, 1.0, 1.0, 1.0]), np.array([3.0, 0.5, 0.0, 0.0]),
                           0.5) == (1, True)


def test_word_span_finds_the_burst():
    clip = np.zeros(16000, np.int16)
    clip[6000:9000] = (8000 * np.sin(np.arange(3000) * 0.3)).astype(np.int16)
    first, last = word_span(clip, 16000)
    assert 5800 <= first <= 6000 and 9000 <= last <= 9200


def test_mix_stream_is_deterministic_and_places_words_at_their_snr():
    rng = np.random.default_rng(1)
    clips = np.zeros((6, 16000), np.int16)
    for i in range(4):
        clips[i, 4000:8000] = (3000 * np.sin(np.arange(4000) * (0.1 + 0.05 * i))).astype(np.int16)
    clips[4:] = rng.integers(-50, 50, size=(2, 16000))    # silence clips
    labels = np.array([2, 3, 1, 2, 0, 0])
    noise = [rng.standard_normal(48000) * 1000]
    make = lambda: mix_stream(clips, labels, np.arange(6), noise, 60, 16000,  # noqa: E731
                              np.random.default_rng(7), snr_db=(12.0, 12.0), silence_label=0)
    (a, truth_a), (b, truth_b) = make(), make()
    assert np.array_equal(a, b) and truth_a == truth_b
    assert len(truth_a) >= 10 and all(0 <= p.start < p.end <= len(a) for p in truth_a)
    words = [p for p in truth_a if p.label != 0]
    gaps = np.concatenate([a[q.end:r.start] for q, r in zip(truth_a, truth_a[1:])]).astype(float)
    word = np.concatenate([a[p.word_start:p.word_end] for p in words]).astype(float)
    snr = 10 * np.log10(np.mean(word**2) / np.mean(gaps**2) - 1)
    assert 11.0 < snr < 13.0


def test_a_stream_without_a_length_places_every_clip_once():
    """seconds=None (stream.positive_minutes=null): each pool clip exactly once, in order of
    time without overlap, 1-4 s of noise around each; the stream ends after the last gap."""
    rng = np.random.default_rng(4)
    clips = rng.integers(-3000, 3000, size=(9, 16000)).astype(np.int16)
    labels = np.array([2, 3, 1, 2, 0, 2, 3, 1, 2])
    pool = np.array([0, 2, 3, 5, 7, 8])
    pcm, truth = mix_stream(clips, labels, pool, [rng.standard_normal(48000) * 100], None, 16000,
                            np.random.default_rng(5), gap_s=(1.0, 4.0))
    starts = [p.start for p in truth]
    assert len(truth) == len(pool) and starts == sorted(starts)
    assert sorted(p.label for p in truth) == sorted(labels[pool])
    gaps = np.diff([0] + [x for p in truth for x in (p.start, p.end)] + [len(pcm)])[::2]
    assert np.all((gaps >= 16000) & (gaps <= 64000)) and len(gaps) == len(pool) + 1


def test_material_stream_places_every_item_with_its_source_at_its_snr():
    rng = np.random.default_rng(2)
    items = [(2000 * np.sin(np.arange(n) * 0.2)).astype(np.int16) for n in (8000, 20000, 40000)]
    sources = ["a", "b", "c"]
    noise = [rng.standard_normal(48000) * 1000]
    room = np.zeros(800, np.float32)
    room[0], room[400] = 1.0, 0.5
    make = lambda prob: mix_material_stream(  # noqa: E731
        items, sources, 7, noise, 120, 16000, np.random.default_rng(3), snr_db=(15.0, 15.0),
        rooms=[room], reverb_prob=prob)
    (a, truth_a), (b, truth_b) = make(0.0), make(0.0)
    assert np.array_equal(a, b) and truth_a == truth_b
    assert {p.source for p in truth_a} == set(sources) and all(p.label == 7 for p in truth_a)
    assert [p.end - p.start for p in truth_a] == [len(items[sources.index(p.source)])
                                                  for p in truth_a]
    uses = [sum(p.source == s for p in truth_a) for s in sources]
    assert max(uses) - min(uses) <= 1                   # every pass places each item once
    gaps = np.concatenate([a[q.end:r.start] for q, r in zip(truth_a, truth_a[1:])]).astype(float)
    speech = np.concatenate([a[p.word_start:p.word_end] for p in truth_a]).astype(float)
    assert 14.0 < 10 * np.log10(np.mean(speech**2) / np.mean(gaps**2) - 1) < 16.0
    wet, truth_wet = make(1.0)
    assert [p.source for p in truth_wet] == [p.source for p in truth_a]
    assert not np.array_equal(wet, a)                   # in the room: other samples, same places
    with pytest.raises(ValueError, match="one source name per item"):
        mix_material_stream(items, sources[:2], 7, noise, 10, 16000, np.random.default_rng(0))


@pytest.fixture(scope="module")
def streamed(tmp_path_factory, quantized_run):
    from conftest import compose_cfg, copy_run
    from kws.pipeline import run_pipeline
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path_factory.mktemp("stream") / "run")
    overrides = overrides + ["stream.positive_minutes=2", "stream.negative_hours=0.1",
                             "stream.target_fa_per_hour=30", "detector.min_count=1",
                             "stream.select_on=validation", "stream.validation_negative_hours=0.1",
                             "stream.validation_positive_minutes=2", "verify.stream_seconds=60",
                             "stages=[data,features,student,quantize,stream,export,verify]"]
    return run_dir, run_pipeline(compose_cfg(overrides), run_dir)


def test_stream_stage_reports_the_operating_point_and_the_firmware_uses_it(streamed):
    run_dir, report = streamed
    s = report["stream"]
    assert {"frr", "fa_per_hour", "threshold", "hours_negative", "n_positives",
            "realtime_factor"} <= set(s)
    assert s["hours_negative"] == 0.1 and s["n_positives"] > 10
    assert s["selected_on"] == "validation" and s["validation"]["n_positives"] > 5
    assert (s["validation"]["fa_per_hour"] <= 30) == s["target_met"]
    assert s["validation"]["negative_material"]["unknown_clips"]["items"] > 0
    assert (run_dir / "stream" / "inferences_validation.npz").exists()
    for name in ("det.png", "det.csv", "positive.wav", "negative.wav", "positive_truth.csv",
                 "negative_truth.csv", "operating_point.json"):
        assert (run_dir / "stream" / name).stat().st_size > 0
    rows = (run_dir / "stream" / "det.csv").read_text().splitlines()
    assert len(rows) == 257
    header = (run_dir / "firmware" / "kws_model_settings.h").read_text()
    assert re.search(rf"#define KWS_THRESHOLD\s+{s['threshold']}\b", header)
    assert report["export"]["detector"]["threshold_from"] == "stream stage operating point"
    assert report["verify"]["stream_events_equal"] is True


def test_the_averaging_window_is_chosen_on_validation_and_built_in(streamed):
    """stream.select_on=validation chooses the recogniser's averaging window too (the lowest
    validation FRR among detector.average_window_ms and stream.average_windows_ms, ties to the
    earlier); the export stage builds that window into the C."""
    import json
    run_dir, report = streamed
    v = report["stream"]["validation"]
    by = v["by_average_window_ms"]
    assert list(by) == ["1200", "300", "600", "900"]
    key = lambda ms: (not by[ms]["target_met"], by[ms]["frr"])
    assert f"{v['average_window_ms']:g}" == min(by, key=key)      # min: the first of ties
    point = json.loads((run_dir / "stream" / "operating_point.json").read_text())
    assert point["average_window_ms"] == v["average_window_ms"]
    assert point["threshold"] == by[f"{v['average_window_ms']:g}"]["threshold"]
    built = report["export"]["detector"]
    assert built["average_window_ms"] == v["average_window_ms"]
    inference_ms = built["infer_every_frames"] * 20
    assert built["average_window"] == max(1, round(v["average_window_ms"] / inference_ms))
    assert report["stream"]["detector"]["average_window"] == built["average_window"]


def test_the_negative_stream_is_held_out_material_and_false_accepts_are_traced(streamed):
    """Negatives: test _unknown_ clips, held-out real negatives and test-voice TTS sentences,
    none of them training material; FRR at 0.1, 0.5 and 1 FA/h; false accepts by source."""
    import csv
    from kws.artifacts import RunDir
    run_dir, report = streamed
    s, run = report["stream"], RunDir(run_dir)
    assert set(s["at_fa_per_hour"]) == {"0.1", "0.5", "1"}
    for target, point in s["at_fa_per_hour"].items():
        assert point["target_met"] == (point["fa_per_hour"] <= float(target))
    assert s["at_fa_per_hour"]["0.1"]["frr"] >= s["at_fa_per_hour"]["1"]["frr"]
    material = s["negative_material"]
    assert material["unknown_clips"]["items"] > 0
    assert material["speech_test"]["items"] == len(run.pool("speech", "test"))
    with open(run_dir / "stream" / "negative_truth.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == s["negative_items_placed"] and {r["label"] for r in rows} == {"_unknown_"}
    train_names = set(run.pool("speech", "train").name) | set(run.pool("negatives", "train").name)
    sources = {r["source"] for r in rows}
    assert any(x.startswith("TTS sentence ") for x in sources) == bool(len(run.pool("speech", "test")))
    assert not {x.split(" ", 2)[-1] for x in sources if not x.startswith("test ")} & train_names
    test_speakers = set(run.split("test")["speaker"])
    assert {x.rsplit(" ", 1)[-1] for x in sources if x.startswith("test ")} <= test_speakers
    fa = sum(x["false_accepts"] for x in s["false_accept_sources"])
    assert fa <= round(s["fa_per_hour"] * s["hours_negative"]) and all(
        x["source"] in sources | {"background noise"} for x in s["false_accept_sources"])


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_detector_sweep_experiment_ranks_settings(quantized_run, tmp_path):
    """kws experiment=detector_sweep over an existing run: only the stream stage re-runs."""
    import json
    import subprocess
    import sys
    from conftest import ROOT, copy_run
    base, overrides = quantized_run
    copy_run(base, tmp_path / "run")
    args = ["experiment=detector_sweep", *overrides, "stream.positive_minutes=1",
            "stream.negative_hours=0.05", "stream.write_wav=false", "stream.select_on=test",
            "stages=[data,features,student,quantize,stream]", "detector.suppression_ms=500",
            "detector.min_count=3", "detector.average_window_ms=40,200,400",  # 40: min_count too big
            f"hydra.sweep.dir={tmp_path}",
            "hydra.sweep.subdir=run"]
    proc = subprocess.run([sys.executable, "-m", "kws.app", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "detector_sweep.json").read_text())
    assert sorted(r["average_window_ms"] for r in rows) == [200, 400]    # the failed job: no row
    assert "detector.min_count=3: must be in [1, 1]" in proc.stderr
    assert all(r["suppression_ms"] == 500 for r in rows)
    assert "| FRR |" in (tmp_path / "detector_sweep.md").read_text()
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert "stream" in report and report["student"]["epochs"] == 3


def test_optuna_sweep_minimises_the_stream_frr(quantized_run, tmp_path):
    """kws experiment=detector_optuna: the app returns stream.frr for the sweeper to minimise."""
    import json
    import subprocess
    import sys
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip extra `sweep`")
    from conftest import ROOT, copy_run
    base, overrides = quantized_run
    copy_run(base, tmp_path / "run")
    args = ["experiment=detector_optuna", *overrides, "stream.positive_minutes=1",
            "stream.negative_hours=0.05", "stream.write_wav=false", "stream.select_on=test",
            "stages=[data,features,student,quantize,stream]", "hydra.sweeper.n_trials=2",
            f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=run"]
    proc = subprocess.run([sys.executable, "-m", "kws.app", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "detector_sweep.json").read_text())
    assert len(rows) == 2
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_value" in best and f"{min(r['frr'] for r in rows)}" in best


def test_a_detector_setting_change_reuses_the_cached_inferences(streamed, quantized_run,
                                                                monkeypatch):
    from conftest import compose_cfg
    from kws.stages import stream
    run_dir, report = streamed
    _, overrides = quantized_run

    def no_network(*args):
        raise AssertionError("the network ran again")
    monkeypatch.setattr(stream, "run_network", no_network)
    cfg = compose_cfg(overrides + ["stream.positive_minutes=2", "stream.negative_hours=0.1",
                                   "stream.select_on=validation",
                                   "stream.validation_negative_hours=0.1",
                                   "stream.validation_positive_minutes=2",
                                   "stream.target_fa_per_hour=30", "detector.min_count=2",
                                   "detector.average_window_ms=200"])
    again = stream.run(cfg, run_dir)
    assert again["realtime_factor"] == report["stream"]["realtime_factor"]
    assert again["detector"]["average_window"] == 5 and again["n_positives"] == \
        report["stream"]["n_positives"]


def test_cached_inferences_are_not_reused_for_other_streams(streamed, quantized_run, tmp_path,
                                                            monkeypatch):
    """The same network and stream settings over other held-out data (here the test noise at
    half the level) make other streams: the network runs again instead of the cache answering."""
    from conftest import compose_cfg, copy_run
    from kws.io import save_npz
    from kws.stages import stream
    run_dir, _ = streamed
    _, overrides = quantized_run
    copy = copy_run(run_dir, tmp_path / "run")
    noise_path = copy / "data" / "noise_test.npz"
    with np.load(noise_path) as f:
        quieter = {k: (f[k] // 2).astype(f[k].dtype) for k in f.files}
    noise_path.unlink()
    save_npz(noise_path, **quieter)
    calls = []
    real_network = stream.run_network
    monkeypatch.setattr(stream, "run_network", lambda *a: calls.append(1) or real_network(*a))
    cfg = compose_cfg(overrides + ["stream.positive_minutes=2", "stream.negative_hours=0.1",
                                   "stream.select_on=test", "stream.target_fa_per_hour=30",
                                   "detector.min_count=1", "stream.write_wav=false"])
    stream.run(cfg, copy)
    assert calls
