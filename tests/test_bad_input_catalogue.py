"""The bad-input catalogue (issue 19): every kind of broken or unusual WAV a user may hand the
pipeline, each read as audio or refused with one reason naming the file; a network over the RAM
or flash budget refused by export; a run directory made by another kws version refused. The
pipeline-level behaviour (skipped clips counted, strict mode, folders, disk full) is in
tests/test_bad_input.py."""
import errno
import json
import struct

import numpy as np
import pytest
import soundfile as sf

from conftest import compose_cfg, copy_run
from kws.audio.clips import UnreadableClip, read_clip
from kws.errors import KwsError
from kws.pipeline import run_pipeline

RATE = 16000


def _tone(n: int = RATE, rate: int = RATE) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)


def _write(path, data, rate=RATE, subtype="PCM_16"):
    sf.write(path, data, rate, subtype=subtype)
    return path


def _patched(path, good, offset, value):
    """good's bytes with a little-endian uint32 at `offset` replaced."""
    data = bytearray(good.read_bytes())
    data[offset:offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(data))
    return path


def _readable(tmp_path, kind):
    good = _write(tmp_path / "good.wav", _tone())
    return {
        "pcm_u8": lambda: _write(tmp_path / "a.wav", _tone(), subtype="PCM_U8"),
        "pcm_24": lambda: _write(tmp_path / "a.wav", _tone(), subtype="PCM_24"),
        "pcm_32": lambda: _write(tmp_path / "a.wav", _tone(), subtype="PCM_32"),
        "float_32": lambda: _write(tmp_path / "a.wav", _tone(), subtype="FLOAT"),
        "stereo": lambda: _write(tmp_path / "a.wav", np.stack([_tone(), _tone()], 1)),
        "rate_8k": lambda: _write(tmp_path / "a.wav", _tone(8000, 8000), 8000),
        "rate_44k1": lambda: _write(tmp_path / "a.wav", _tone(44100, 44100), 44100),
        "rate_48k": lambda: _write(tmp_path / "a.wav", _tone(48000, 48000), 48000),
        "shorter_than_1s": lambda: _write(tmp_path / "a.wav", _tone(4000)),
        "longer_than_1s": lambda: _write(tmp_path / "a.wav", _tone(3 * RATE)),
        "full_scale_clipped": lambda: _write(tmp_path / "a.wav", np.clip(10 * _tone(), -1, 1)),
        "digital_silence": lambda: _write(tmp_path / "a.wav", np.zeros(RATE)),
        # the RIFF size field wrong either way: the chunks themselves are whole, so it reads
        "riff_size_too_big": lambda: _patched(tmp_path / "a.wav", good, 4, 10**9),
        "riff_size_too_small": lambda: _patched(tmp_path / "a.wav", good, 4, 12),
    }[kind]()


@pytest.mark.parametrize("kind", ["pcm_u8", "pcm_24", "pcm_32", "float_32", "stereo", "rate_8k",
                                  "rate_44k1", "rate_48k", "shorter_than_1s", "longer_than_1s",
                                  "full_scale_clipped", "digital_silence", "riff_size_too_big",
                                  "riff_size_too_small"])
def test_unusual_but_whole_wavs_read_as_one_second_of_int16(tmp_path, kind):
    clip = read_clip(_readable(tmp_path, kind), sample_rate=RATE, n_samples=RATE)
    assert clip.dtype == np.int16 and clip.shape == (RATE,)
    peak = int(np.abs(clip).max())
    if kind == "digital_silence":
        assert peak == 0
    elif kind == "full_scale_clipped":
        assert peak == 32767
    else:                                 # the tone's level (0.3 of full scale) survives
        assert abs(peak - 0.3 * 32768) < 0.02 * 32768
        if kind == "shorter_than_1s":     # 0.25 s centred in the window, zeros around it
            assert not clip[:6000].any() and not clip[-6000:].any() and clip[6000:10000].any()
        else:
            spectrum = np.abs(np.fft.rfft(clip.astype(float)))
            assert abs(int(np.argmax(spectrum)) - 440) <= 1


def _broken(tmp_path, kind):
    good = _write(tmp_path / "good.wav", _tone())
    data = good.read_bytes()
    path = tmp_path / "bad.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated_in_header":
        path.write_bytes(data[:20])
    elif kind == "truncated_in_data":
        path.write_bytes(data[:len(data) // 2])
    elif kind == "odd_byte_count":
        path.write_bytes(data[:-1])
    elif kind == "data_size_too_big":
        _patched(path, good, data.index(b"data") + 4, 10**8)
    elif kind == "not_audio":
        path.write_text("this is not a WAV file\n" * 100)
    elif kind == "float_nan":
        _write(path, np.where(np.arange(RATE) < RATE // 2, _tone(), np.nan), subtype="FLOAT")
    elif kind == "float_inf":
        _write(path, np.where(np.arange(RATE) < RATE // 2, _tone(), -np.inf), subtype="FLOAT")
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind, reason", [
    ("empty", "empty file (0 bytes)"),
    ("truncated_in_header", "not a readable audio file"),
    ("truncated_in_data", "truncated: header declares 32000 bytes of audio, file holds"),
    ("odd_byte_count", "truncated: header declares 32000 bytes of audio, file holds 31999"),
    ("data_size_too_big", "truncated: header declares 100000000 bytes"),
    ("not_audio", "not a readable audio file"),
    ("float_nan", "8000 non-finite sample(s) (NaN or infinity)"),
    ("float_inf", "8000 non-finite sample(s) (NaN or infinity)"),
    ("directory", "cannot read it (Is a directory)"),
])
def test_broken_wavs_give_one_reason_naming_the_file(tmp_path, kind, reason):
    path = _broken(tmp_path, kind)
    with pytest.raises(UnreadableClip) as err:
        read_clip(path, sample_rate=RATE, n_samples=RATE)
    assert str(err.value).startswith(f"{path}: ") and reason in str(err.value)


def test_export_refuses_a_network_over_its_budgets_saying_by_how_much(quantized_run, tmp_path):
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path / "run")
    stages = "stages=[data,features,student,quantize,export]"
    fits = run_pipeline(compose_cfg(overrides + [stages]), run_dir)["export"]
    # the flash budget holds the larger layout: DSP builds' packed pointwise weights
    ram, flash = fits["model_ram_bytes"], fits["weights_bytes_packed"]
    assert flash > fits["weights_bytes"]
    before = _files(run_dir / "firmware")
    cfg = compose_cfg(overrides + [stages, f"export.ram_budget_bytes={ram - 100}",
                                   f"export.flash_budget_bytes={flash - 1}"])
    with pytest.raises(KwsError) as err:
        run_pipeline(cfg, run_dir)
    message = str(err.value)
    assert (f"export.ram_budget_bytes={ram - 100}: the network needs {ram} B of RAM, 100 B over"
            in message)
    assert f"export.flash_budget_bytes={flash - 1}: the network needs {flash} B" in message
    assert "1 B over" in message and "nothing exported" in message
    assert _files(run_dir / "firmware") == before
    exact = compose_cfg(overrides + [stages, f"export.ram_budget_bytes={ram}",
                                     f"export.flash_budget_bytes={flash}"])
    assert run_pipeline(exact, run_dir)["export"]["model_ram_bytes"] == ram


def test_a_run_directory_made_by_another_version_is_refused(layout, tmp_path):
    cfg = compose_cfg(["data=speech_commands", f"data.root={layout}", "data.keywords=[yes,no]",
                       "stages=[data]"])
    run_dir = tmp_path / "run"
    run_pipeline(cfg, run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    report["data"]["environment"]["packages"]["kws"] = "0.0.1"
    (run_dir / "report.json").write_text(json.dumps(report))
    with pytest.raises(KwsError, match=r"report\.json: stage\(s\) data \(kws 0\.0\.1\) were made "
                                       r"by another version.*\.stage_stamps\.json"):
        run_pipeline(cfg, run_dir)
    (run_dir / ".stage_stamps.json").unlink()                 # what the message says to do
    assert run_pipeline(cfg, run_dir)["data"]["environment"]["packages"]["kws"] != "0.0.1"


# A full disk, and a file system turned read-only (as root, chmod would not stop the writes).
WRITE_FAILURES = [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the file system is read-only")]


def _full_disk_for(monkeypatch, name: str, code: int = errno.ENOSPC):
    """os.replace fails with `code` for files called `name` (the atomic write's last step)."""
    import os
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(dst) == name:
            raise OSError(code, os.strerror(code), str(dst))
        return real_replace(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("code, reason", WRITE_FAILURES)
def test_a_full_disk_during_export_names_the_file_and_keeps_the_old_c(quantized_run, tmp_path,
                                                                      monkeypatch, code, reason):
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path / "run")
    stages = "stages=[data,features,student,quantize,export]"
    run_pipeline(compose_cfg(overrides + [stages]), run_dir)
    before = _files(run_dir / "firmware")
    _full_disk_for(monkeypatch, "kws_model.c", code)
    with pytest.raises(KwsError, match=r"cannot write .*firmware\.partial/kws_model\.c: "
                                       + reason):
        run_pipeline(compose_cfg(overrides + [stages, "detector.threshold=200"]), run_dir)
    assert _files(run_dir / "firmware") == before
    assert not (run_dir / "firmware.partial").exists()


@pytest.mark.parametrize("code, reason", WRITE_FAILURES)
def test_a_full_disk_at_a_training_checkpoint_names_it_and_keeps_the_student(
        quantized_run, tmp_path, monkeypatch, code, reason):
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path / "run")
    trained = (run_dir / "student" / "best.pt").read_bytes()
    _full_disk_for(monkeypatch, "last.pt", code)
    with pytest.raises(KwsError, match=r"cannot write .*student\.partial/last\.pt: " + reason):
        run_pipeline(compose_cfg(overrides + ["stages=[student]", "train.epochs=4"]), run_dir)
    assert (run_dir / "student" / "best.pt").read_bytes() == trained
    stamps = json.loads((run_dir / ".stage_stamps.json").read_text())
    assert "student" not in stamps and "quantize" not in stamps    # nothing claims the failure
    monkeypatch.undo()                                             # space again: it trains
    entry = run_pipeline(compose_cfg(overrides + ["stages=[student]", "train.epochs=4"]),
                         run_dir)["student"]
    assert entry["epochs"] == 4 and not (run_dir / "student.partial").exists()


def _files(folder):
    """Every file under folder (the export's C and its MicroPython package) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}
