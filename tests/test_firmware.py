"""Stages export and verify: generated C, memory plan, host build bit-exact with the golden models."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from kws.errors import KwsError
from kws.emit.memplan import MemoryPlan, Placement, check_plan, lower_bound, plan_chain

# Fires on any keyword-topped inference, so even a barely trained model makes events.
EAGER_DETECTOR = ["detector.threshold=0", "detector.min_count=1",
                  "detector.suppression_ms=300"]


def test_plan_chain_meets_the_lower_bound():
    sizes = [490, 16000, 4160, 4160, 4160, 64, 12]
    plan = plan_chain([f"t{i}" for i in range(len(sizes))], sizes)
    assert plan.lower_bound_bytes == lower_bound(sizes) == 20160
    assert plan.arena_bytes == 20160                     # every size already a multiple of 4
    odd = plan_chain(["a", "b", "c"], [5, 7, 3])
    assert odd.lower_bound_bytes == 12 and odd.arena_bytes == 16     # 8 + 8 after alignment
    assert all(t.offset % 4 == 0 for t in odd.tensors)


def test_check_plan_rejects_overlap_and_overflow():
    with pytest.raises(ValueError, match="overlap"):
        check_plan(MemoryPlan(16, 16, (Placement("a", 0, 8), Placement("b", 4, 8))))
    with pytest.raises(ValueError, match="outside"):
        check_plan(MemoryPlan(16, 16, (Placement("a", 0, 8), Placement("b", 12, 8))))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, quantized_run):
    """The tiny quantised run, exported and verified (sanitizers on)."""
    from conftest import compose_cfg, copy_run
    from kws.pipeline import run_pipeline
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path_factory.mktemp("firmware") / "run")
    overrides = overrides + EAGER_DETECTOR + ["verify.sanitize=true", "verify.stream_seconds=90",
                                              "stages=[data,features,student,quantize,export,verify]"]
    report = run_pipeline(compose_cfg(overrides), run_dir)
    assert report["quantize"].get("skipped")            # the copy reuses the earlier stages
    return run_dir, report, overrides


def test_export_writes_the_firmware_files_and_a_minimal_arena(exported):
    run_dir, report, _ = exported
    entry = report["export"]
    assert {"kws_model.c", "kws_model.h", "kws_model_data.c", "kws_model_data.h",
            "kws_model_settings.h", "kws_mfcc_tables.c", "kws_mfcc_tables.h"} <= set(entry["files"])
    # The lower bound itself, but for rounding two tensors up to 4-byte offsets.
    assert entry["ram_lower_bound_bytes"] <= entry["ram_bytes"] <= entry["ram_lower_bound_bytes"] + 6
    with np.load(run_dir / "quantize" / "model_int8.npz") as f:
        constants = sum(f[k].size * (1 if f[k].dtype == np.int8 else 4) for k in f.files
                        if not k.endswith(("/io_quant", "/stride")))
    dense_mult_shift = 8                                  # the dense layer's are immediates
    assert entry["weights_bytes"] == constants - dense_mult_shift
    settings = (run_dir / "firmware" / "kws_model_settings.h").read_text()
    assert re.search(r"#define KWS_THRESHOLD\s+0\b", settings)
    assert '"_silence_"' in settings


def test_verify_is_bit_exact_on_clips_and_stream(exported):
    _, report, _ = exported
    v = report["verify"]
    assert v["sanitized"] is True
    assert v["bitexact_clips"] == v["total_clips"] > 0
    assert v["stream_seconds"] == 90.0
    assert v["stream_events_equal"] is True
    assert v["stream_events_c"] == v["stream_events_python"] > 0


def test_demo_prints_the_python_twins_detections(exported, tmp_path):
    from kws.config import compose
    from kws.artifacts import RunDir
    from kws.golden.network import run_network
    from kws.golden.mfcc_tables import make_tables
    from kws.golden.detector import detect_stream
    run_dir, report, overrides = exported
    cfg = compose(overrides)
    layers, labels, settings = RunDir(run_dir).golden_network(), RunDir(run_dir).labels(), RunDir(run_dir).detector_settings()
    with np.load(run_dir / "data" / "test.npz") as f:
        audio = f["audio"]
    pcm = np.concatenate([np.zeros(8000, np.int16), *audio[:6], np.zeros(8000, np.int16)])
    wav = tmp_path / "demo.wav"
    sf.write(wav, pcm, 16000, subtype="PCM_16")
    out = subprocess.run([report["verify"]["demo"], str(wav)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    events = detect_stream(pcm, make_tables(cfg.features, 16000),
                           lambda x: run_network(layers, x), settings)
    printed = [line.split()[2] for line in out if line.strip().endswith("/255")]
    assert printed == [labels[e.label] for e in events] and events
    assert out[-1].endswith(f"{len(events)} detections")


def test_demo_names_a_wrong_wav_format(exported, tmp_path):
    _, report, _ = exported
    wav = tmp_path / "stereo.wav"
    sf.write(wav, np.zeros((1600, 2), np.int16), 16000, subtype="PCM_16")
    proc = subprocess.run([report["verify"]["demo"], str(wav)], capture_output=True, text=True)
    assert proc.returncode == 2 and "stereo.wav" in proc.stderr and "mono" in proc.stderr


def test_a_corrupted_weight_is_reported_with_its_layer(exported, tmp_path):
    from kws.stages import verify
    from kws.config import compose
    run_dir, _, overrides = exported
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("build"))
    data_c = copy / "firmware" / "kws_model_data.c"
    text = data_c.read_text()
    start = text.index("l02_")                        # the third layer's first array
    head, body = text[:start], text[start:]
    number = re.search(r"\{\s*(-?\d+)", body)
    flipped = str(int(number.group(1)) ^ 64)
    data_c.write_text(head + body[:number.start(1)] + flipped + body[number.end(1):])
    with pytest.raises(KwsError, match=r"test clip \d+: C logits .* layer 02_"):
        verify.run(compose(overrides), copy)


def _demo_wav(exported, tmp_path, name="demo.wav"):
    run_dir, report, _ = exported
    with np.load(run_dir / "data" / "test.npz") as f:
        pcm = np.concatenate([np.zeros(8000, np.int16), *f["audio"][:4]])
    wav = tmp_path / name
    sf.write(wav, pcm, 16000, subtype="PCM_16")
    return report["verify"]["demo"], wav


def test_demo_rejects_a_truncated_wav(exported, tmp_path):
    demo, wav = _demo_wav(exported, tmp_path, "cut.wav")
    data = wav.read_bytes()
    wav.write_bytes(data[:len(data) // 2])
    proc = subprocess.run([demo, str(wav)], capture_output=True, text=True)
    assert proc.returncode == 2 and "cut.wav: truncated: the header declares" in proc.stderr
    piped = subprocess.run([demo, "-"], input=data[:len(data) // 2], capture_output=True)
    assert piped.returncode == 2 and b"-: truncated: the header declares" in piped.stderr


def test_demo_reads_a_pipe_as_it_reads_a_file(exported, tmp_path):
    demo, wav = _demo_wav(exported, tmp_path)
    from_file = subprocess.run([demo, str(wav)], capture_output=True, text=True, check=True)
    for args in ([demo, "-"], [demo, "/dev/stdin"]):
        piped = subprocess.run(args, input=wav.read_bytes(), capture_output=True, check=True)
        assert piped.stdout.decode() == from_file.stdout and from_file.stdout.count("\n") >= 1
