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


# ---------------------------------------------------------------- float WAVs (issue 13, item 1)

def _pcm(seed=0, n=16000, scale=3000):
    return np.clip(np.random.default_rng(seed).standard_normal(n) * scale,
                   -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_float_wavs_read_as_their_values(tmp_path, subtype):
    from kws.audio.clips import read_clip, read_long
    pcm = _pcm()
    sf.write(tmp_path / "x.wav", pcm / 32768.0, 16000, subtype=subtype)
    assert np.array_equal(read_clip(tmp_path / "x.wav", sample_rate=16000, n_samples=16000), pcm)
    assert np.array_equal(read_long(tmp_path / "x.wav", sample_rate=16000), pcm)  # noise path


def test_pcm16_clips_are_read_sample_for_sample(tmp_path):
    from kws.audio.clips import read_clip
    pcm = _pcm(scale=12000)
    pcm[:2] = (-32768, 32767)
    sf.write(tmp_path / "x.wav", pcm, 16000, subtype="PCM_16")
    assert read_clip(tmp_path / "x.wav", sample_rate=16000, n_samples=16000).tobytes() == \
        pcm.tobytes()


def test_float_beyond_full_scale_is_clipped_and_counted(tmp_path):
    from kws.audio.clips import read_clip_counted
    x = np.array([0.5, 1.5, -2.0, 1.0, -1.0] + [0.0] * 95)
    sf.write(tmp_path / "x.wav", x, 16000, subtype="FLOAT")
    clip, beyond = read_clip_counted(tmp_path / "x.wav", sample_rate=16000, n_samples=100)
    assert clip[:5].tolist() == [16384, 32767, -32768, 32767, -32768] and beyond == 2


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_float_clips_are_skipped_or_strict_errors(layout, tmp_path, bad):
    x = _pcm() / 32768.0
    x[100] = bad
    sf.write(layout / "yes" / "0000000b_nohash_1.wav", x, 16000, subtype="FLOAT")
    report = run_pipeline(_cfg(layout), tmp_path / "run")["data"]
    assert report["skipped_clips"] == 1
    assert "0000000b_nohash_1.wav" in report["skipped_examples"][0]
    assert "non-finite" in report["skipped_examples"][0]
    with pytest.raises(KwsError, match=r"0000000b_nohash_1\.wav.*non-finite.*data.strict=true"):
        run_pipeline(_cfg(layout, "data.strict=true"), tmp_path / "run2")


def test_all_zero_and_clipped_keyword_clips_are_reported(layout, tmp_path, caplog):
    sf.write(layout / "yes" / "0000000b_nohash_1.wav", np.zeros(16000), 16000, subtype="FLOAT")
    sf.write(layout / "yes" / "0000000b_nohash_2.wav", _pcm() / 32768.0 * 20, 16000,
             subtype="FLOAT")                                   # float beyond full scale
    loud = _pcm()
    loud[:200] = 32767                                         # >= 1% at full scale
    sf.write(layout / "no" / "0000000b_nohash_3.wav", loud, 16000, subtype="PCM_16")
    loud[:150] = 0                                             # 50 of 16000: not clipped
    sf.write(layout / "no" / "0000000b_nohash_4.wav", loud, 16000, subtype="PCM_16")
    with caplog.at_level("WARNING", logger="kws.stages.data"):
        report = run_pipeline(_cfg(layout), tmp_path / "run")["data"]
    assert report["all_zero_keyword_clips"] == 1
    assert report["all_zero_examples"][0].endswith("yes/0000000b_nohash_1.wav")
    assert report["clipped_keyword_clips"] == 2
    assert sorted(p.rsplit("/", 1)[1] for p in report["clipped_examples"]) == \
        ["0000000b_nohash_2.wav", "0000000b_nohash_3.wav"]
    lines = [r.getMessage() for r in caplog.records if "all zeros" in r.getMessage()]
    assert len(lines) == 1 and "1 keyword clip(s) are all zeros" in lines[0] \
        and "2 are clipped" in lines[0]


# ---------------------------------------------------------------- unreadable files and folders

def _deny(monkeypatch, denied):
    """Make the OS refuse to open or list the paths in `denied` (the tests run as root, for
    whom chmod 000 changes nothing)."""
    import builtins
    import errno
    from pathlib import Path
    real_open, real_iterdir = builtins.open, Path.iterdir

    def fake_open(file, *args, **kwargs):
        if str(file) in denied:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    def fake_iterdir(self):
        if str(self) in denied:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_iterdir(self)
    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(Path, "iterdir", fake_iterdir)


def test_a_clip_without_read_permission_is_skipped_and_counted(layout, tmp_path, monkeypatch):
    clip = layout / "yes" / "00000007_nohash_0.wav"
    _deny(monkeypatch, {str(clip)})
    report = run_pipeline(_cfg(layout), tmp_path / "run")["data"]
    assert report["skipped_clips"] == 1
    assert str(clip) in report["skipped_examples"][0]
    assert "Permission denied" in report["skipped_examples"][0]


def test_an_unlistable_folder_is_skipped_unless_it_is_a_keyword(layout, tmp_path, monkeypatch):
    write_tone(layout / "dog" / "0000000c_nohash_0.wav", 440, seed=1)
    denied = {str(layout / "dog")}
    _deny(monkeypatch, denied)
    report = run_pipeline(_cfg(layout), tmp_path / "run")["data"]
    assert len(report["skipped_folders"]) == 1
    assert f"{layout / 'dog'}: cannot list the folder (Permission denied)" in \
        report["skipped_folders"][0]
    with pytest.raises(KwsError, match="cannot list the folder.*data.strict=true"):
        run_pipeline(_cfg(layout, "data.strict=true"), tmp_path / "run2")
    denied.add(str(layout / "no"))
    with pytest.raises(KwsError, match=r"no: cannot list the folder \(Permission denied\)$"):
        run_pipeline(_cfg(layout), tmp_path / "run3")                # keywords yes, no


def test_disk_full_is_one_error_naming_the_file(layout, tmp_path, monkeypatch):
    import errno
    run_dir = tmp_path / "run"
    run_pipeline(_cfg(layout), run_dir)
    before = {p.name: p.read_bytes() for p in (run_dir / "data").iterdir()}
    from kws import io as kws_io
    real_zipfile = kws_io.zipfile.ZipFile

    def full_disk(file, *args, **kwargs):            # save_npz writes each .npz through this
        if "validation" in str(file):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_zipfile(file, *args, **kwargs)
    monkeypatch.setattr(kws_io.zipfile, "ZipFile", full_disk)
    with pytest.raises(KwsError, match=r"cannot write .*data\.partial/\w*validation\.npz: "
                                       r"the disk is full"):
        run_pipeline(_cfg(layout, "data.silence_share=0.2"), run_dir)
    assert {p.name: p.read_bytes() for p in (run_dir / "data").iterdir()} == before
    assert sorted(p.name for p in run_dir.iterdir()) == [".stage_stamps.json", "data",
                                                         "report.json"]


def test_a_full_disk_behind_a_library_error_is_named_too(tmp_path, monkeypatch):
    """libsndfile and torch.save report ENOSPC as 'System error.' / 'unexpected pos'."""
    import collections
    from kws import io as kws_io
    Usage = collections.namedtuple("Usage", "total used free")
    monkeypatch.setattr(kws_io.shutil, "disk_usage", lambda folder: Usage(10**9, 10**9, 0))
    with pytest.raises(KwsError, match=r"cannot write .*stream\.wav: the disk is full "
                                       r"\(System error\.\)"):
        with kws_io.atomic_path(tmp_path / "stream.wav") as tmp:
            tmp.write_bytes(b"RIFF")
            raise RuntimeError("System error.")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(kws_io.shutil, "disk_usage", lambda folder: Usage(10**9, 0, 10**9))
    with pytest.raises(RuntimeError, match="a bug"):                 # not a full disk
        with kws_io.atomic_path(tmp_path / "stream.wav"):
            raise RuntimeError("a bug")


# ---------------------------------------------------------------- labels and speakers (item 6)

@pytest.mark.parametrize("folder, message", [
    ("YES", "folders YES and yes differ only in case"),
    ("Cat", "folders Cat and cat differ only in case"),
    ("_Silence_", "folder _Silence_ is not one of _silence_, _unknown_, _background_noise_"),
])
def test_misleading_folder_names_are_errors(layout, tmp_path, folder, message):
    write_tone(layout / folder / "0000000c_nohash_0.wav", 440, seed=1)
    with pytest.raises(KwsError, match=message):
        run_pipeline(_cfg(layout), tmp_path / "run")


def test_one_keyword_in_two_cases_is_an_error(layout, tmp_path):
    with pytest.raises(KwsError, match="data.keywords lists YES and yes"):
        run_pipeline(_cfg(layout, "data.keywords=[yes,YES]"), tmp_path / "run")


def test_clips_without_speaker_ids_are_counted_and_warned_about(layout, tmp_path, caplog):
    for i in range(3):
        write_tone(layout / "yes" / f"recording{i}.wav", 300 + i, seed=20 + i)
    with caplog.at_level("WARNING", logger="kws.stages.data"):
        report = run_pipeline(_cfg(layout), tmp_path / "run")["data"]
    assert report["clips_without_speaker_id"] == 3
    assert {p.rsplit("/", 1)[1] for p in report["clips_without_speaker_id_examples"]} == \
        {"recording0.wav", "recording1.wav", "recording2.wav"}
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "3 clip(s) have no speaker id" in warning and "own speaker" in warning \
        and "cannot be guaranteed" in warning
    with pytest.raises(KwsError, match=r"recording0\.wav: no speaker id.*data.strict=true"):
        run_pipeline(_cfg(layout, "data.strict=true"), tmp_path / "run2")


def test_data_root_without_speech_commands_source_is_an_error(layout, tmp_path):
    cfg = compose_cfg([f"data.root={layout}", "stages=[data]"])
    with pytest.raises(KwsError, match=r"data.root=.* is set, but data.source=synthetic .*"
                                       r"add data=speech_commands"):
        run_pipeline(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
