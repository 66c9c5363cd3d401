"""Bad input: one clear error naming the file or setting, or a counted skip for single clips."""
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, compose_cfg, write_tone
from kws.errors import KwsError
from kws.pipeline import run_pipeline


def _cfg(root, *extra):
    return compose_cfg(["data=speech_commands", f"data.root={root}", "data.keywords=[yes,no]",
                        "stages=[data]", *extra])


def _break_clips(layout):
    """Corrupt, empty and truncated clips, plus a stereo 44.1 kHz one that must still load."""
    (layout / "yes" / "0000000b_nohash_1.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    (layout / "yes" / "0000000b_nohash_2.wav").write_bytes(b"")
    good = (layout / "no" / "0000000b_nohash_0.wav").read_bytes()
    (layout / "no" / "0000000b_nohash_3.wav").write_bytes(good[:len(good) // 2])
    write_tone(layout / "no" / "0000000b_nohash_4.wav", 300, seed=9, rate=44100, channels=2)


def test_unreadable_clips_are_skipped_counted_and_named(layout, tmp_path):
    _break_clips(layout)
    report = run_pipeline(_cfg(layout), tmp_path / "run")["data"]
    assert report["skipped_clips"] == 3
    reasons = " ".join(report["skipped_examples"])
    assert "0000000b_nohash_1.wav" in reasons and "not a readable audio file" in reasons
    assert "0000000b_nohash_2.wav" in reasons and "empty file" in reasons
    assert "0000000b_nohash_3.wav" in reasons and "truncated" in reasons


def test_other_rates_and_channel_counts_are_converted(layout, tmp_path):
    from kws.audio.clips import read_clip
    write_tone(layout / "no" / "x_nohash_5.wav", 300, seed=9, rate=44100, channels=3,
               seconds=1.2)
    clip = read_clip(layout / "no" / "x_nohash_5.wav", sample_rate=16000, n_samples=16000)
    assert clip.dtype == np.int16 and clip.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(clip.astype(float)))
    assert abs(np.argmax(spectrum) - 300) <= 1          # 1 Hz bins: the tone survived resampling


def test_strict_mode_stops_at_the_first_bad_clip(layout, tmp_path):
    _break_clips(layout)
    with pytest.raises(KwsError, match=r"0000000b_nohash_\d\.wav.*data.strict=true"):
        run_pipeline(_cfg(layout, "data.strict=true"), tmp_path / "run")


@pytest.mark.parametrize("setup, keywords, message", [
    ("missing_root", "[yes,no]", "folder does not exist"),
    ("none", "[yes,banana]", "keyword 'banana' has no folder"),
    ("empty_keyword", "[yes,no]", "keyword 'no' has no clips"),
    ("none", "[yes,yes]", "more than once"),
    ("none", "[_unknown_]", "is not a keyword folder name"),
    ("none", "[]", "data.keywords is empty"),
])
def test_bad_folders_and_settings_name_the_problem(layout, tmp_path, setup, keywords, message):
    root = layout
    if setup == "missing_root":
        root = tmp_path / "nowhere"
    if setup == "empty_keyword":
        for p in (layout / "no").iterdir():
            p.unlink()
    cfg = compose_cfg(["data=speech_commands", f"data.root={root}",
                       f"data.keywords={keywords}", "stages=[data]"])
    with pytest.raises(KwsError, match=message):
        run_pipeline(cfg, tmp_path / "run")


def test_bad_shares_are_rejected(layout, tmp_path):
    with pytest.raises(KwsError, match="unknown_share"):
        run_pipeline(_cfg(layout, "data.unknown_share=1.5"), tmp_path / "run")


def test_cli_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kws.app", "data=speech_commands",
                           f"data.root={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'r'}"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert f"kws: error: data.root={tmp_path / 'nowhere'}: folder does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r" / "report.json").exists()


def test_failed_rerun_keeps_earlier_outputs(layout, tmp_path):
    run_dir = tmp_path / "run"
    run_pipeline(_cfg(layout), run_dir)
    before = (run_dir / "report.json").read_text()
    train = (run_dir / "data" / "train.npz").read_bytes()
    with pytest.raises(KwsError):
        run_pipeline(_cfg(tmp_path / "nowhere"), run_dir)
    assert (run_dir / "report.json").read_text() == before
    assert (run_dir / "data" / "train.npz").read_bytes() == train
