"""Stage `stream`: false rejects against false accepts per hour, and the operating point.

Reads:  data/test.npz, data/noise_test.npz (test speakers, test noise), features/quant.json,
        quantize/ (the golden int8 network), detector settings
Writes: stream/positive.wav, positive_truth.csv   keywords, unknown words and silence at SNRs
        stream/negative.wav, negative_truth.csv   no keyword at all (unknown words, silence)
        stream/det.png                            FRR against FA/h over every threshold
        stream/det.csv                            the same numbers
        stream/operating_point.json               the threshold (and, chosen on validation,
                                                  the averaging window) the export builds in

The detector is the integer twin of the C loop (kws.golden.detector): the network runs once per stream,
and the threshold sweep re-runs only the recogniser's last step (kws.golden.detector.fire), which gives
exactly the events the loop would give at each threshold. Scoring rules: kws.measure.scoring.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from omegaconf import OmegaConf

from kws.artifacts import RunDir
from kws.audio.split_streams import split_streams
from kws.audio.streams import Placed
from kws.golden.detector import DetectorSettings, fire, settings_from_config, stream_logits, sweep_inputs
from kws.golden.network import run_network
from kws.golden.streaming import can_stream, inference_cadence, stream_logits_streamed
from kws.io import atomic_path, copy_file, save_figure, save_npz, write_json, write_text
from kws.measure.scoring import (THRESHOLDS, Score, candidate_average_windows, det_rates,
                                 detection_samples, operating_point, sweep_thresholds)

CONFIG_KEYS = ("stream", "detector", "features")
OUTPUT = "stream"
REQUIRES = ("data", "features", "quantize")
FA_TARGETS = (0.1, 0.5, 1.0)          # false accepts per hour the report gives the FRR at
WORST_SOURCES = 10


def _write_stream(out: Path, name: str, pcm: np.ndarray, placed: list[Placed],
                  labels: list[str], rate: int) -> None:
    with atomic_path(out / f"{name}.wav", suffix=".wav") as tmp:
        sf.write(tmp, pcm, rate, subtype="PCM_16", format="WAV")
    rows = ["label,clip_start_s,clip_end_s,word_start_s,word_end_s,source"]
    rows += [f"{labels[p.label]},{p.start / rate:.4f},{p.end / rate:.4f},"
             f"{p.word_start / rate:.4f},{p.word_end / rate:.4f},{_quoted(p.source)}"
             for p in placed]
    write_text(out / f"{name}_truth.csv", "\n".join(rows) + "\n")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _sweep(settings: DetectorSettings, inferences, truth, geometry) -> list[Score]:
    """Score at every threshold 0..255 (the network's outputs do not depend on it)."""
    frames, logits = inferences
    return sweep_thresholds(frames, *sweep_inputs(settings, logits), settings.suppression_frames,
                            truth, settings.is_keyword, geometry)


def _inferences(cfg, run: RunDir, out: Path, layers: list, tables,
                settings: DetectorSettings, pos_pcm: np.ndarray, neg_pcm: np.ndarray,
                streaming: bool, split: str = "test"):
    """Every inference's (frames, logits) on both streams, and the loop's real-time factor:
    the streaming network step by step (kws.golden.streaming) or the window model on the last
    F frames every settings.infer_every frames.

    Cached in stream/inferences[_streaming][_validation].npz, keyed by the int8 network, the split, the streams'
    settings and audio, the front end and the inference rate: a sweep over the other detector settings
    (window, threshold, suppression) then re-runs only the recogniser. Read from the last
    completed stream/ folder, written into `out` (the folder being built)."""
    s = OmegaConf.to_container(cfg.stream, resolve=True)
    # Only what makes this split's streams: the choice of split to select on does not.
    other = (("positive_minutes", "negative_hours") if split == "validation" else
             ("validation_positive_minutes", "validation_negative_hours"))
    for key in ("target_fa_per_hour", "hit_window_s", "write_wav", "select_on",
                "compare_window_model", "average_windows_ms", *other):
        s.pop(key)
    # The streams' audio too: the same settings over other held-out data (a data stage re-run
    # with the network kept) make other streams.
    audio = [hashlib.sha256(np.ascontiguousarray(pcm).data).hexdigest()
             for pcm in (pos_pcm, neg_pcm)]
    blob = json.dumps([run.model_hash(), s, split, settings.infer_every, streaming, audio,
                       OmegaConf.to_container(cfg.features, resolve=True)], sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()
    path = out / ("inferences" + ("_streaming" if streaming else "")
                  + ("" if split == "test" else f"_{split}") + ".npz")
    for cached in (path, run.stream / path.name):
        hit = _cached_inferences(cached, key)
        if hit is not None:
            if cached != path:
                copy_file(cached, path)                 # the cache moves on with the folder
            return hit
    def logits(pcm):
        if streaming:
            return stream_logits_streamed(pcm, tables, layers, tables.frames_per_clip)
        return stream_logits(pcm, tables, lambda x: run_network(layers, x), settings.n_classes,
                             settings.infer_every)

    started = time.perf_counter()
    pos, neg = logits(pos_pcm), logits(neg_pcm)
    realtime_factor = (len(pos_pcm) + len(neg_pcm)) / tables.sample_rate / (
        time.perf_counter() - started)
    save_npz(path, key=np.array(key), pos_frames=pos[0], pos_logits=pos[1], neg_frames=neg[0],
             neg_logits=neg[1], realtime_factor=np.array(realtime_factor))
    return pos, neg, realtime_factor


def _cached_inferences(path: Path, key: str):
    if not path.exists():
        return None
    with np.load(path) as f:
        if str(f["key"]) != key:
            return None
        return ((f["pos_frames"], f["pos_logits"]), (f["neg_frames"], f["neg_logits"]),
                float(f["realtime_factor"]))


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    run = RunDir(run_dir)
    out = Path(out) if out else run.stream
    s = cfg.stream
    labels = run.labels()
    quant = run.quant()
    rate = int(quant["sample_rate"])
    layers = run.golden_network()
    tables = run.mfcc_tables()
    streaming = can_stream(layers)
    cadence = inference_cadence(layers, tables.frames_per_clip, cfg.detector.infer_every_frames)
    def detector_settings(average_window_ms: float) -> DetectorSettings:
        return settings_from_config(cfg.detector, labels, layers[-1].output.scale,
                                    quant["settings"]["stride_ms"], infer_every=cadence,
                                    average_window_ms=average_window_ms)
    settings = detector_settings(cfg.detector.average_window_ms)
    geometry = (tables.stride, tables.window_len, int(round(s.hit_window_s * rate)))
    validation, window_ms = None, cfg.detector.average_window_ms
    if s.select_on == "validation":
        settings, threshold, met, validation = _validation_choice(
            cfg, run, out, layers, tables, detector_settings, labels, rate, streaming, geometry)
        window_ms = validation["average_window_ms"]
    (pos_pcm, pos_truth), (neg_pcm, neg_truth), material = split_streams(
        s, run, labels, rate, "test", s.positive_minutes, s.negative_hours)
    if s.write_wav:
        _write_stream(out, "positive", pos_pcm, pos_truth, labels, rate)
        _write_stream(out, "negative", neg_pcm, neg_truth, labels, rate)

    pos_inf, neg_inf, realtime_factor = _inferences(cfg, run, out, layers, tables, settings,
                                                    pos_pcm, neg_pcm, streaming)
    hours = len(neg_pcm) / rate / 3600
    positive, negative, frr, fa_h = _curves(settings, pos_inf, neg_inf, pos_truth, neg_truth,
                                            geometry, hours)
    chosen_on_test, _ = operating_point(frr, fa_h, s.target_fa_per_hour)
    if validation is None:
        threshold, met = chosen_on_test, bool(fa_h[chosen_on_test] <= s.target_fa_per_hour)
    at_targets = {}
    for target in FA_TARGETS:
        t, ok = operating_point(frr, fa_h, target)
        at_targets[f"{target:g}"] = {"threshold": t, "target_met": ok,
                                     "frr": round(float(frr[t]), 4),
                                     "fa_per_hour": round(float(fa_h[t]), 3)}
    window_model = None
    if streaming and s.compare_window_model:     # the same network as a window model
        window_settings = settings_from_config(cfg.detector, labels, layers[-1].output.scale,
                                               quant["settings"]["stride_ms"],
                                               average_window_ms=window_ms)
        w_pos, w_neg, _ = _inferences(cfg, run, out, layers, tables, window_settings, pos_pcm,
                                      neg_pcm, False)
        _, _, w_frr, w_fa = _curves(window_settings, w_pos, w_neg, pos_truth, neg_truth,
                                    geometry, hours)
        w_threshold, w_met = operating_point(w_frr, w_fa, s.target_fa_per_hour)
        window_model = {"threshold": w_threshold, "target_met": w_met,
                        "frr": round(float(w_frr[w_threshold]), 4),
                        "fa_per_hour": round(float(w_fa[w_threshold]), 3),
                        "infer_every_frames": window_settings.infer_every}
    keywords = [i for i, k in enumerate(settings.is_keyword) if k]
    per_keyword = {labels[k]: _keyword_point(positive[threshold], negative[threshold], k, hours)
                   for k in keywords}
    _write_det(out, labels, keywords, positive, negative, hours, threshold)
    write_json(out / run.operating_point_path.name, {"threshold": threshold, "target_met": met,
                                                     "average_window_ms": window_ms,
                                                     "model_sha256": run.model_hash()})
    at = positive[threshold]
    return {"threshold": threshold, "target_fa_per_hour": s.target_fa_per_hour,
            "selected_on": s.select_on, "target_met": met, "validation": validation,
            "frr": round(float(frr[threshold]), 4),
            "fa_per_hour": round(float(fa_h[threshold]), 3),
            "test_chosen_threshold": chosen_on_test,
            "frr_at_configured_threshold": round(float(frr[settings.threshold]), 4),
            "fa_per_hour_at_configured_threshold": round(float(fa_h[settings.threshold]), 3),
            "hours_negative": round(hours, 3), "minutes_positive": round(len(pos_pcm) / rate / 60, 2),
            "n_positives": at.positives, "positive_stream_false_accepts": at.false_accepts,
            "realtime_factor": round(realtime_factor, 1), "per_keyword": per_keyword,
            "streaming": streaming, "window_model": window_model,
            "at_fa_per_hour": at_targets, "negative_material": material,
            "negative_items_placed": len(neg_truth),
            "false_accept_sources": _false_accept_sources(settings, neg_inf, neg_truth,
                                                          threshold, geometry, labels),
            "detector_config": OmegaConf.to_container(cfg.detector, resolve=True),
            "detector": {"average_window": settings.average_window,
                         "min_count": settings.min_count,
                         "average_window_ms": window_ms,
                         "suppression_frames": settings.suppression_frames,
                         "infer_every_frames": settings.infer_every}}


def _validation_choice(cfg, run: RunDir, out: Path, layers, tables, detector_settings, labels,
                       rate, streaming: bool, geometry):
    """The operating point chosen on the validation speakers' streams (validation negatives,
    voices and rooms): the averaging window among detector.average_window_ms and
    stream.average_windows_ms, and the threshold, with the lowest FRR at the target (ties: the
    earlier window in that order). Returns (settings, threshold, target met there, the
    validation figures). The network runs once; each window re-runs only the recogniser."""
    s = cfg.stream
    (pos_pcm, pos_truth), (neg_pcm, neg_truth), material = split_streams(
        s, run, labels, rate, "validation", s.validation_positive_minutes,
        s.validation_negative_hours)
    windows = candidate_average_windows(cfg.detector, s)
    hours = len(neg_pcm) / rate / 3600
    best, by_window = None, {}
    for window_ms in windows:
        settings = detector_settings(window_ms)
        pos_inf, neg_inf, _ = _inferences(cfg, run, out, layers, tables, settings, pos_pcm,
                                          neg_pcm, streaming, "validation")
        positive, _, frr, fa_h = _curves(settings, pos_inf, neg_inf, pos_truth, neg_truth,
                                         geometry, hours)
        threshold, met = operating_point(frr, fa_h, s.target_fa_per_hour)
        by_window[f"{window_ms:g}"] = {"threshold": threshold, "target_met": met,
                                       "frr": round(float(frr[threshold]), 4),
                                       "fa_per_hour": round(float(fa_h[threshold]), 3)}
        key = (not met, float(frr[threshold]))
        if best is None or key < best[0]:
            best = key, settings, threshold, met, window_ms, positive[threshold].positives
    _, settings, threshold, met, window_ms, n_positives = best
    return settings, threshold, met, {**by_window[f"{window_ms:g}"],
                                      "average_window_ms": window_ms,
                                      "by_average_window_ms": by_window,
                                      "hours_negative": round(hours, 3),
                                      "n_positives": n_positives,
                                      "negative_material": material}


def _false_accept_sources(settings: DetectorSettings, inferences, truth: list[Placed],
                          threshold: int, geometry, labels: list[str]) -> list[dict]:
    """The negative stream's false accepts at the threshold, by what was playing when the
    detector fired (the placed item the event falls in, or up to hit_window after it; else the
    background noise): the WORST_SOURCES sources with the most, and the labels fired."""
    frames, logits = inferences
    stride, window_len, hit_window = geometry
    top, score, may_fire = sweep_inputs(settings, logits)
    events = fire(frames, top, score, may_fire, threshold, settings.suppression_frames)
    starts = np.array([p.start for p in truth], dtype=np.int64)
    counts: dict[str, dict[str, int]] = {}
    for event, t in zip(events, detection_samples(events, stride, window_len)):
        i = int(np.searchsorted(starts, t, side="right")) - 1
        inside = i >= 0 and t <= truth[i].end + hit_window
        source = (truth[i].source or labels[truth[i].label]) if inside else "background noise"
        fired = counts.setdefault(source, {})
        fired[labels[event.label]] = fired.get(labels[event.label], 0) + 1
    worst = sorted(counts.items(), key=lambda kv: -sum(kv[1].values()))[:WORST_SOURCES]
    return [{"source": src, "false_accepts": sum(f.values()), "fired": f} for src, f in worst]


def _curves(settings, pos_inf, neg_inf, pos_truth, neg_truth, geometry, hours):
    """Scores at every threshold on both streams: (positive, negative, FRR [256], FA/h [256])."""
    positive = _sweep(settings, pos_inf, pos_truth, geometry)
    negative = _sweep(settings, neg_inf, neg_truth, geometry)
    return (positive, negative, *det_rates(positive, negative, hours))


def _keyword_point(positive: Score, negative: Score, label: int, hours: float) -> dict:
    n = positive.per_label_positives.get(label, 0)
    hits = positive.per_label_hits.get(label, 0)
    return {"n_positives": n, "frr": round(1 - hits / n, 4) if n else None,
            "fa_per_hour": round(negative.per_label_false_accepts.get(label, 0) / hours, 3)}


def _write_det(out: Path, labels: list[str], keywords: list[int], positive: list[Score],
               negative: list[Score], hours: float, chosen: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ["threshold,frr,fa_per_hour"] + [
        f"{t},{p.frr:.5f},{n.false_accepts / hours:.4f}"
        for t, p, n in zip(THRESHOLDS, positive, negative)]
    write_text(out / "det.csv", "\n".join(rows) + "\n")
    floor = 0.5 / hours                       # where zero false accepts are drawn (log axis)
    fig, ax = plt.subplots(figsize=(7, 5))
    for k in keywords:
        kp = [_keyword_point(p, n, k, hours) for p, n in zip(positive, negative)]
        ax.plot([max(x["fa_per_hour"], floor) for x in kp], [100 * (x["frr"] or 0) for x in kp],
                lw=0.8, alpha=0.6, label=labels[k])
    fa = np.maximum([n.false_accepts / hours for n in negative], floor)
    frr = 100 * np.array([p.frr for p in positive])
    ax.plot(fa, frr, color="k", lw=2, label="all keywords")
    ax.plot(fa[chosen], frr[chosen], "ro", label=f"threshold {chosen}")
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (negative stream, {hours:.2f} h; 0 drawn at {floor:.2g})")
    ax.set_ylabel("false reject rate (%)")
    ax.set_title("DET: integer detector over thresholds 0..255")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_figure(out / "det.png", fig)
    plt.close(fig)


def summarize(entry: dict) -> str:
    met = "" if entry.get("target_met", True) else " (target not met)"
    return (f"threshold {entry.get('threshold')}: FRR {entry.get('frr')} at "
            f"{entry.get('fa_per_hour')} FA/h{met} ({entry.get('n_positives')} keywords, "
            f"{entry.get('hours_negative')} h negative, {entry.get('realtime_factor')}x real time)")

