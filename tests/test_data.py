import json

import numpy as np
import pytest

from conftest import compose_cfg
from kws.artifacts import RunDir
from kws.pipeline import run_pipeline
from kws.audio.speech_commands import SPLITS, hash_split, scan, voice_of


def test_speaker_hash_split_is_stable_and_salted():
    assert hash_split("0c540988", 10, 10) == hash_split("0c540988", 10, 10)
    splits = {hash_split(f"{i:08x}", 10, 10, salt="kws") for i in range(200)}
    assert splits == set(SPLITS)


def test_synthetic_run_has_every_class_in_every_split_and_no_shared_speaker(tiny_cfg, tmp_path):
    report = run_pipeline(tiny_cfg, tmp_path)["data"]
    assert report["speaker_overlap"] == 0
    for split in SPLITS:
        assert all(n > 0 for n in report["counts"][split].values()), report["counts"][split]
    assert report["skipped_clips"] == 0
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["data"]["counts"] == report["counts"]
    for split in SPLITS:
        clips = RunDir(tmp_path).split(split)
        assert clips["audio"].dtype == np.int16 and clips["audio"].shape[1] == 16000
        assert len(clips["label"]) == sum(report["counts"][split].values())
    speakers = [set(RunDir(tmp_path).split(s)["speaker"]) - {""} for s in SPLITS]
    assert not (speakers[0] & speakers[1]) and not (speakers[0] & speakers[2]) \
        and not (speakers[1] & speakers[2])
    voices = [{voice_of(x) for x in s} for s in speakers]
    assert not (voices[0] & voices[1]) and not (voices[0] & voices[2]) \
        and not (voices[1] & voices[2])
    assert report["voice_overlap"] == 0
    assert report["voices"] == {s: len(v) for s, v in zip(SPLITS, voices)}
    assert "espeak" in report["engines"]
    for split in SPLITS:
        assert sum(e["clips"][split] for e in report["engines"].values()) == \
            sum(report["counts"][split][k] for k in report["counts"][split]
                if k != "_silence_")
    assert set(report["tts"]["voices"]) >= {voice for v in voices for voice in v}
    for png in ("class_counts.png", "spectrograms.png"):
        assert (tmp_path / "data" / png).stat().st_size > 1000


def test_unchanged_stage_is_skipped_and_changed_config_reruns(tiny_cfg, tmp_path, cache_dir):
    run_pipeline(tiny_cfg, tmp_path)
    mtime = (tmp_path / "data" / "train.npz").stat().st_mtime_ns
    again = run_pipeline(tiny_cfg, tmp_path)
    assert again["data"].get("skipped") is True
    assert (tmp_path / "data" / "train.npz").stat().st_mtime_ns == mtime
    from conftest import TINY_SYNTHETIC
    changed = compose_cfg(TINY_SYNTHETIC + [f"paths.cache_dir={cache_dir}",
                                            "data.silence_share=0.2", "stages=[data]"])
    rerun = run_pipeline(changed, tmp_path)
    assert "skipped" not in rerun["data"]


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_synthetic_generation_is_deterministic(tiny_cfg, cache_dir, tmp_path):
    from kws.audio import synthetic
    first = synthetic.ensure_dataset(tiny_cfg.data, 0, cache_dir)
    again = synthetic.ensure_dataset(tiny_cfg.data, 0, tmp_path / "other_cache")
    files = sorted(p.relative_to(first) for p in first.rglob("*.wav"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.wav"))
    assert len(files) > 100
    for rel in files:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel
    other_seed = synthetic.ensure_dataset(tiny_cfg.data, 1, cache_dir)
    assert other_seed != first
    assert (other_seed / files[0]).read_bytes() != (first / files[0]).read_bytes()


def test_lists_decide_the_split_when_present(layout):
    refs, noise = scan(layout, ["yes", "no"], 10, 10)
    by_speaker = {}
    for r in refs:
        by_speaker.setdefault(r.speaker, set()).add(r.split)
    assert all(len(s) == 1 for s in by_speaker.values())
    assert by_speaker["00000000"] == {"validation"} and by_speaker["00000004"] == {"test"}
    assert by_speaker["0000000a"] == {"train"}
    assert {r.label for r in refs if r.path.parent.name == "cat"} == {"_unknown_"}
    assert len(noise) == 3


def test_real_subset_split_by_speaker(shared_subset, tmp_path):
    cfg = compose_cfg(["data=speech_commands", f"data.root={shared_subset}", "stages=[data]"])
    report = run_pipeline(cfg, tmp_path)["data"]
    assert report["speaker_overlap"] == 0
    assert report["skipped_clips"] == 0
    for split in SPLITS:
        assert len(report["counts"][split]) == 12
        assert all(n > 0 for n in report["counts"][split].values()), (split, report["counts"])
    assert sum(report["speakers"].values()) >= 170


def test_custom_keyword_list_makes_other_words_unknown(shared_subset, tmp_path):
    cfg = compose_cfg(["data=speech_commands", f"data.root={shared_subset}",
                       "data.keywords=[yes,no]", "stages=[data]"])
    report = run_pipeline(cfg, tmp_path)["data"]
    assert report["labels"] == ["_silence_", "_unknown_", "yes", "no"]
    assert report["speaker_overlap"] == 0


def test_symlinked_class_folders_are_fingerprinted(tmp_path):
    from conftest import make_layout
    real = make_layout(tmp_path / "elsewhere")
    root = tmp_path / "sc"
    root.mkdir()
    for path in real.iterdir():                          # every folder and list a symlink
        (root / path.name).symlink_to(path)
    cfg = compose_cfg(["data=speech_commands", f"data.root={root}", "data.keywords=[yes,no]",
                       "stages=[data]"])
    first = run_pipeline(cfg, tmp_path / "run")["data"]
    assert first["counts"]["train"]["yes"] == 6
    for path in sorted((real / "yes").glob("*.wav"))[-3:]:        # three training speakers
        path.unlink()
    again = run_pipeline(cfg, tmp_path / "run")["data"]
    assert "skipped" not in again and again["counts"]["train"]["yes"] == 3


def test_the_fingerprint_covers_exactly_what_the_scan_reads(layout):
    from kws.audio.speech_commands import files_read
    (layout / "notes.txt").write_text("not read")
    (layout / "yes" / "deeper").mkdir()
    (layout / "yes" / "deeper" / "x.wav").write_bytes(b"not read either")
    refs, noise = scan(layout, ["yes", "no"], 10, 10)
    assert sorted(files_read(layout)) == sorted([r.path for r in refs] + noise + [
        layout / "validation_list.txt", layout / "testing_list.txt"])
