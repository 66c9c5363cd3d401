import hashlib
import io
import tarfile

import numpy as np
import pytest

from conftest import compose_cfg, make_layout
from kws.audio.augment import augment
from kws.audio.download import download_and_extract, fetch
from kws.errors import KwsError


def _clips(n=8):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, 16000)) * 3000).astype(np.int16)


def test_augmentation_is_deterministic_from_the_seed():
    cfg = compose_cfg([]).data.augment
    noise = [(np.random.default_rng(1).standard_normal(40000) * 500).astype(np.int16)]
    a = augment(_clips(), noise, cfg, 16000, np.random.default_rng([0, 3]))
    b = augment(_clips(), noise, cfg, 16000, np.random.default_rng([0, 3]))
    c = augment(_clips(), noise, cfg, 16000, np.random.default_rng([0, 4]))
    assert a.dtype == np.int16 and np.array_equal(a, b) and not np.array_equal(a, c)


def test_time_shift_moves_an_impulse_by_at_most_100_ms():
    cfg = compose_cfg(["data.augment.noise_prob=0", "data.augment.gain_db_min=0",
                       "data.augment.gain_db_max=0", "data.augment.level_prob=0"]).data.augment
    clips = np.zeros((200, 16000), dtype=np.int16)
    clips[:, 8000] = 10000
    out = augment(clips, [], cfg, 16000, np.random.default_rng(0))
    moved = np.argmax(out, axis=1) - 8000
    assert np.abs(moved).max() <= 1600 and np.abs(moved).max() > 1200
    assert np.all(out.max(axis=1) == 10000)


def test_noise_is_mixed_at_the_drawn_snr():
    cfg = compose_cfg(["data.augment.noise_prob=1", "data.augment.snr_db_min=10",
                       "data.augment.snr_db_max=10", "data.augment.time_shift_ms=0",
                       "data.augment.gain_db_min=0", "data.augment.gain_db_max=0",
                       "data.augment.level_prob=0"]).data.augment
    clips = _clips(16)
    noise = [(np.random.default_rng(1).standard_normal(64000) * 500).astype(np.int16)]
    out = augment(clips, noise, cfg, 16000, np.random.default_rng(0))
    residual = out.astype(float) - clips
    snr = 10 * np.log10(np.mean(clips.astype(float) ** 2) / np.mean(residual**2))
    assert abs(snr - 10) < 0.3


@pytest.fixture
def archive(tmp_path):
    src = make_layout(tmp_path / "src")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(src.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(src)), recursive=False)
    path = tmp_path / "speech_commands_test.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


def test_download_resumes_a_partial_file(archive, tmp_path):
    dest = tmp_path / "dl" / archive.name
    dest.parent.mkdir()
    data = archive.read_bytes()
    (dest.parent / (archive.name + ".part")).write_bytes(data[:1000])
    fetch(archive.as_uri(), dest)
    assert dest.read_bytes() == data


def test_download_checks_sha256_and_extracts(archive, tmp_path):
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    root = tmp_path / "sc"
    download_and_extract(archive.as_uri(), root, sha, tmp_path / "cache")
    assert (root / "yes").is_dir() and (root / "validation_list.txt").exists()


def test_download_checksum_mismatch_is_a_clear_error(archive, tmp_path):
    with pytest.raises(KwsError, match="checksum mismatch"):
        download_and_extract(archive.as_uri(), tmp_path / "sc", "0" * 64, tmp_path / "cache")
    assert not (tmp_path / "sc").exists()


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_data_stage_downloads_when_asked(archive, tmp_path):
    from kws.pipeline import run_pipeline
    cfg = compose_cfg(["data=speech_commands", f"data.root={tmp_path / 'sc'}",
                       "data.download=true", f"data.url={archive.as_uri()}",
                       "data.keywords=[yes,no]", f"paths.cache_dir={tmp_path / 'cache'}",
                       "stages=[data]"])
    report = run_pipeline(cfg, tmp_path / "run")["data"]
    assert report["counts"]["train"]["yes"] > 0


def test_a_truncated_archive_is_an_error_and_not_reused(archive, tmp_path):
    cut = tmp_path / "cut" / archive.name
    cut.parent.mkdir()
    cut.write_bytes(archive.read_bytes()[:len(archive.read_bytes()) // 2])
    cache, root = tmp_path / "cache", tmp_path / "sc"
    with pytest.raises(KwsError, match="not a readable tar archive, truncated or corrupt"):
        download_and_extract(cut.as_uri(), root, None, cache)
    kept = cache / "downloads" / archive.name
    assert not kept.exists() and kept.with_name(archive.name + ".bad").exists()
    assert not root.exists()
    download_and_extract(archive.as_uri(), root, None, cache)     # the retry downloads again
    assert (root / "yes").is_dir()


def test_a_download_that_breaks_off_is_resumed_not_used(archive, tmp_path, monkeypatch):
    from kws.audio import download
    data = archive.read_bytes()
    real_open = download._open
    monkeypatch.setattr(download, "_open", lambda url, offset: (io.BytesIO(data[:1000]),
                                                                len(data), False))
    dest = tmp_path / "dl" / archive.name
    with pytest.raises(KwsError, match=f"stopped at 1000 of {len(data)} bytes; run again"):
        fetch(archive.as_uri(), dest)
    assert not dest.exists() and dest.with_name(dest.name + ".part").stat().st_size == 1000
    monkeypatch.setattr(download, "_open", real_open)
    fetch(archive.as_uri(), dest)
    assert dest.read_bytes() == data
