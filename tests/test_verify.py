"""Stage verify and the demo: the host build bit-exact with the golden models, the demo's input
checks."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from kws.errors import KwsError


def test_verify_is_bit_exact_on_clips_and_stream(verified_run):
    _, report, _ = verified_run
    v = report["verify"]
    assert v["sanitized"] is True
    assert v["bitexact_clips"] == v["total_clips"] > 0
    assert v["stream_seconds"] == 90.0
    assert v["stream_events_equal"] is True
    assert v["stream_events_c"] == v["stream_events_python"] > 0


def test_demo_prints_the_python_twins_detections(verified_run, tmp_path):
    from kws.config import compose
    from kws.artifacts import RunDir
    from kws.golden.network import run_network
    from kws.golden.mfcc_tables import make_tables
    from kws.golden.detector import detect_stream
    run_dir, report, overrides = verified_run
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


def test_demo_names_a_wrong_wav_format(verified_run, tmp_path):
    _, report, _ = verified_run
    wav = tmp_path / "stereo.wav"
    sf.write(wav, np.zeros((1600, 2), np.int16), 16000, subtype="PCM_16")
    proc = subprocess.run([report["verify"]["demo"], str(wav)], capture_output=True, text=True)
    assert proc.returncode == 2 and "stereo.wav" in proc.stderr and "mono" in proc.stderr


def test_a_corrupted_weight_is_reported_with_its_layer(verified_run, tmp_path):
    from kws.stages import verify
    from kws.config import compose
    run_dir, _, overrides = verified_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("build"))
    data_c = copy / "firmware" / "kws_model_data.c"
    text = data_c.read_text()
    # the third layer's int8 weights: what the host build compiles (DSP builds take the packed
    # int32 pairs of a packable layer, in the #if KWS_NN_PACKED_WEIGHTS branch before it)
    start = text.index("int8_t l02_")
    head, body = text[:start], text[start:]
    number = re.search(r"\{\s*(-?\d+)", body)
    flipped = str(int(number.group(1)) ^ 64)
    data_c.write_text(head + body[:number.start(1)] + flipped + body[number.end(1):])
    with pytest.raises(KwsError, match=r"test clip \d+: C logits .* layer 02_"):
        verify.run(compose(overrides), copy)


def _demo_wav(verified_run, tmp_path, name="demo.wav"):
    run_dir, report, _ = verified_run
    with np.load(run_dir / "data" / "test.npz") as f:
        pcm = np.concatenate([np.zeros(8000, np.int16), *f["audio"][:4]])
    wav = tmp_path / name
    sf.write(wav, pcm, 16000, subtype="PCM_16")
    return report["verify"]["demo"], wav


def test_demo_rejects_a_truncated_wav(verified_run, tmp_path):
    demo, wav = _demo_wav(verified_run, tmp_path, "cut.wav")
    data = wav.read_bytes()
    wav.write_bytes(data[:len(data) // 2])
    proc = subprocess.run([demo, str(wav)], capture_output=True, text=True)
    assert proc.returncode == 2 and "cut.wav: truncated: the header declares" in proc.stderr
    piped = subprocess.run([demo, "-"], input=data[:len(data) // 2], capture_output=True)
    assert piped.returncode == 2 and b"-: truncated: the header declares" in piped.stderr


def test_demo_reads_a_pipe_as_it_reads_a_file(verified_run, tmp_path):
    demo, wav = _demo_wav(verified_run, tmp_path)
    from_file = subprocess.run([demo, str(wav)], capture_output=True, text=True, check=True)
    for args in ([demo, "-"], [demo, "/dev/stdin"]):
        piped = subprocess.run(args, input=wav.read_bytes(), capture_output=True, check=True)
        assert piped.stdout.decode() == from_file.stdout and from_file.stdout.count("\n") >= 1
