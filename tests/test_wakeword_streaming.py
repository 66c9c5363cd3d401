"""The wake-word loop on the streaming path (kws_model_step, one step per KWS_MODEL_STEP_FRAMES
frames) for a tiny valid-in-time student: its detection events equal the Python twin's, the
verify stage checks and reports the streaming network, a reset mid-stream equals a fresh start,
and kws_demo runs the streaming path."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf

from kws.artifacts import RunDir
from kws.golden.detector import detect_stream
from kws.golden.network import run_network
from kws.golden.streaming import detect_stream_streamed, geometry, stream_logits_streamed
from kws.stages.verify import run_stream_c, run_stream_c_stats

# Fires on any keyword-topped inference, so even a barely trained model makes events.
EAGER_DETECTOR = ["detector.threshold=0", "detector.min_count=1", "detector.suppression_ms=300"]


@pytest.fixture(scope="module")
def verified(tmp_path_factory, quantized_valid_run):
    from conftest import compose_cfg, copy_run
    from kws.pipeline import run_pipeline
    base, overrides = quantized_valid_run
    run_dir = copy_run(base, tmp_path_factory.mktemp("wakeword_streaming") / "run")
    overrides = overrides + EAGER_DETECTOR + [
        "verify.sanitize=true", "verify.stream_seconds=60",
        "stages=[data,features,student,quantize,export,verify]"]
    report = run_pipeline(compose_cfg(overrides), run_dir)
    return run_dir, report


def _twin(run_dir, pcm, streaming: bool = True):
    """The Python twin of the loop: on the streaming path the golden streaming network's
    windows (whole steps), on the window path the window model's (detect_stream)."""
    run = RunDir(run_dir)
    layers, tables = run.golden_network(), run.mfcc_tables()
    if streaming:
        return detect_stream_streamed(pcm, tables, layers, tables.frames_per_clip,
                                      run.detector_settings())
    return detect_stream(pcm, tables, lambda x: run_network(layers, x), run.detector_settings())


def test_the_export_is_a_streaming_network(verified):
    run_dir, report = verified
    streaming = report["export"]["streaming"]
    assert streaming is not None and streaming["step_frames"] == 4
    header = (run_dir / "firmware" / "kws_model.h").read_text()
    assert "#define KWS_MODEL_STREAMING         1" in header
    assert RunDir(run_dir).detector_settings().infer_every == 4


def test_verify_runs_the_streaming_path_bit_exact(verified):
    _, report = verified
    v = report["verify"]
    assert v["loop_path"] == "step"
    assert v["bitexact_clips"] == v["total_clips"] > 0
    assert v["stream_events_equal"] is True
    assert v["stream_events_c"] == v["stream_events_python"] > 0
    s = v["streaming"]
    assert s["clips_bitexact_step"] == v["total_clips"]
    assert s["stream_windows"] > 60 * 50 // 4 - 20        # a window every 4 frames
    assert s["stream_steps_bitexact"] and s["stream_events_equal_window_path"]
    assert s["stream_events_equal_streaming_twin"]


def test_the_twins_differ_only_in_the_last_incomplete_step(verified):
    """The stream stops 2 frames into a step that completes a window: the window path
    recognises that window, the streaming path would once the step's other frames arrive."""
    run_dir, _ = verified
    pcm, _ = sf.read(run_dir / "verify" / "stream.wav", dtype="int16")
    tables = RunDir(run_dir).mfcc_tables()
    frames = tables.frames_per_clip                        # the window: 1.24 s, 61 frames
    # 2 frames into the step after the window ending at frame frames - 1 + 4 * 200
    n_frames = frames - 1 + 4 * 200 + 2
    pcm = pcm[:(n_frames - 1) * tables.stride + tables.window_len]
    streaming, window = _twin(run_dir, pcm, True), _twin(run_dir, pcm, False)
    ends, _ = stream_logits_streamed(pcm, tables, RunDir(run_dir).golden_network(), frames)
    last = frames - 1 + 4 * 199
    assert ends[-1] == last
    assert streaming == [e for e in window if e.frame_index <= last]
    build = run_dir / "verify" / "build"
    assert run_stream_c(build / "kws_verify_tool_san", pcm, 320) == streaming
    assert run_stream_c(build / "kws_verify_tool_window_san", pcm, 320) == window


def test_loop_events_equal_the_twin_for_any_chunking(verified):
    run_dir, report = verified
    pcm, _ = sf.read(run_dir / "verify" / "stream.wav", dtype="int16")
    pcm = pcm[:16000 * 20]
    tool = run_dir / "verify" / "build" / "kws_verify_tool_san"
    expected = _twin(run_dir, pcm)
    assert expected
    for chunk in (1, 77, 320, 16000):
        events, stats = run_stream_c_stats(tool, pcm, chunk)
        assert stats["streaming"] == 1
        assert events == expected, chunk


def test_a_reset_mid_stream_equals_a_fresh_start(verified):
    run_dir, _ = verified
    pcm, _ = sf.read(run_dir / "verify" / "stream.wav", dtype="int16")
    pcm = pcm[:16000 * 30]
    build = run_dir / "verify" / "build"
    g = geometry(RunDir(run_dir).golden_network(), RunDir(run_dir).mfcc_tables().frames_per_clip)
    # cut mid-frame and mid-step: samples not on a frame boundary, frames not on a step one
    reset_at = 16000 * 12 + 457
    assert (reset_at // 320) % g.time_stride != 0 and reset_at % 320 != 0
    for name, streaming in (("kws_verify_tool_san", True), ("kws_verify_tool_window_san", False)):
        fresh = _twin(run_dir, pcm[reset_at:], streaming)
        assert fresh
        after = run_stream_c(build / name, pcm, 320, reset_at=reset_at)
        c_fresh = run_stream_c(build / name, pcm[reset_at:], 320)
        assert after == c_fresh == fresh, name
        # and the reset matters: without it the same samples give other frame indices
        whole = run_stream_c(build / name, pcm, 320)
        assert [e.frame_index for e in whole if e.frame_index >= reset_at // 320] != \
            [e.frame_index for e in fresh]


def test_demo_runs_the_streaming_path(verified, tmp_path):
    run_dir, report = verified
    labels = RunDir(run_dir).labels()
    pcm, _ = sf.read(run_dir / "verify" / "stream.wav", dtype="int16")
    pcm = pcm[:16000 * 20]
    wav = tmp_path / "demo.wav"
    sf.write(wav, pcm, 16000, subtype="PCM_16")
    out = subprocess.run([report["verify"]["demo"], str(wav)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    events = _twin(run_dir, pcm)
    printed = [line.split()[2] for line in out if line.strip().endswith("/255")]
    assert printed == [labels[e.label] for e in events] and events
    tables = RunDir(run_dir).mfcc_tables()
    n_frames = 1 + (len(pcm) - tables.window_len) // tables.stride
    inferences = len(stream_logits_streamed(pcm, tables, RunDir(run_dir).golden_network(),
                                            tables.frames_per_clip)[0])
    # one per whole step once warm
    assert inferences == (n_frames // 4 * 4 - tables.frames_per_clip) // 4 + 1
    assert out[-1].endswith(f"{inferences} inferences, {len(events)} detections")


def test_the_window_model_comparison_is_opt_in(tmp_path, quantized_valid_run):
    """stream.compare_window_model: the streaming network's FRR beside its window model's on
    the same streams; off by default (about 9x the network's work)."""
    from conftest import compose_cfg, copy_run
    from kws.stages import stream
    base, overrides = quantized_valid_run
    run_dir = copy_run(base, tmp_path / "run")
    common = overrides + ["stream.positive_minutes=1", "stream.negative_hours=0.02",
                          "stream.write_wav=false", "stream.select_on=test"]
    plain = stream.run(compose_cfg(common), run_dir)
    both = stream.run(compose_cfg(common + ["stream.compare_window_model=true"]), run_dir)
    assert plain["streaming"] and plain["window_model"] is None
    w = both["window_model"]
    assert w["infer_every_frames"] == 2 and 0 <= w["frr"] <= 1
    assert both["frr"] == plain["frr"] and both["threshold"] == plain["threshold"]
