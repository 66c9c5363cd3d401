"""The pipeline's promises: a stage's folder is swapped in whole or not at all, a stage never runs
on missing or stale upstream outputs, a killed run's leftovers are cleaned up, files honour the
umask."""
import subprocess
import sys
import types

import pytest

from conftest import ROOT, compose_cfg
from kws import pipeline
from kws.errors import KwsError
from kws.pipeline import run_pipeline

FAST_FEATURES = ["features.verify_c=false", "features.cmsis_peer=false"]


def _cfg(root, *extra):
    return compose_cfg(["data=speech_commands", f"data.root={root}", "data.keywords=[yes,no]",
                        "stages=[data]", *extra])


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_rerun_leaves_the_previous_folder_whole(layout, tmp_path):
    run_dir = tmp_path / "run"
    run_pipeline(_cfg(layout), run_dir)
    before = _snapshot(run_dir / "data")
    for p in (layout / "no").glob("0000000[0-2]_nohash_0.wav"):    # no "no" in validation
        p.unlink()
    with pytest.raises(KwsError, match="split 'validation' has no clips of .*'no'"):
        run_pipeline(_cfg(layout, "data.silence_share=0.2"), run_dir)   # train.npz was written
    assert _snapshot(run_dir / "data") == before
    assert not (run_dir / "data.partial").exists()
    assert "data" not in (run_dir / ".stage_stamps.json").read_text()
    with pytest.raises(KwsError, match=r"stage features needs stage\(s\) data.*stages=\[data,"
                                       r"features\]"):
        run_pipeline(_cfg(layout, "stages=[features]"), run_dir)


def test_a_failed_first_run_leaves_no_folder(layout, tmp_path):
    for p in (layout / "no").glob("0000000[0-2]_nohash_0.wav"):
        p.unlink()
    with pytest.raises(KwsError, match="has no clips"):
        run_pipeline(_cfg(layout), tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".stage_stamps.json"]


def test_a_plan_without_its_upstream_stages_is_refused_before_anything_runs(layout, tmp_path):
    with pytest.raises(KwsError, match=r"stage teacher needs stage\(s\) features.*"
                                       r"stages=\[features,teacher\]"):
        run_pipeline(_cfg(layout, "stages=[data,teacher]"), tmp_path / "run")
    assert not (tmp_path / "run" / "data").exists()


def test_a_changed_stage_makes_later_stamps_stale(layout, tmp_path):
    run_dir = tmp_path / "run"
    run_pipeline(_cfg(layout, *FAST_FEATURES, "stages=[data,features]"), run_dir)
    run_pipeline(_cfg(layout, "data.silence_share=0.2"), run_dir)         # data only
    with pytest.raises(KwsError, match=r"stage teacher needs stage\(s\) features"):
        run_pipeline(_cfg(layout, "data.silence_share=0.2", "stages=[teacher]"), run_dir)


def test_stages_declare_what_they_need():
    need = lambda name, *o: pipeline.required_stages(compose_cfg(list(o)), name)  # noqa: E731
    assert need("student") == ("data", "features", "teacher")
    assert need("student", "distill.enabled=false") == ("data", "features")
    assert need("student", "distill.teacher_dir=/elsewhere") == ("data", "features")
    assert "stream" not in need("export")              # its operating point is optional
    assert need("evaluate") == ()                      # it reads eval.run, checked there
    for name in pipeline.STAGE_ORDER:
        earlier = pipeline.STAGE_ORDER[:pipeline.STAGE_ORDER.index(name)]
        assert set(need(name)) <= set(earlier), name


def test_evaluate_refuses_a_run_that_has_not_finished(tmp_path, layout):
    (tmp_path / "scored" / "data").mkdir(parents=True)
    (tmp_path / "scored" / "data" / "labels.json").write_text("{}")
    cfg = compose_cfg(["stages=[evaluate]", f"eval.root={layout}",
                       f"eval.run={tmp_path / 'scored'}"])
    with pytest.raises(KwsError, match=r"eval.run=.*scored: stage\(s\) data, features, student, "
                                       r"quantize have not completed there"):
        run_pipeline(cfg, tmp_path / "run")


def test_leftovers_of_a_killed_run_are_removed(layout, tmp_path):
    run_dir = tmp_path / "run"
    run_pipeline(_cfg(layout), run_dir)
    leftovers = [run_dir / ".report.json.kws-tmp-ab12cd34.json",
                 run_dir / "data.partial" / ".train.npz.kws-tmp-k3j2a8b1.npz"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    leftovers.append(run_dir / ".data.kws-tmp-old-x1y2z3")           # a swap cut short
    leftovers[-1].mkdir()
    (run_dir / ".hydra").mkdir()                                     # not ours: kept
    run_pipeline(_cfg(layout, "data.silence_share=0.2"), run_dir)
    assert not any(p.exists() for p in leftovers)
    assert not (run_dir / "data.partial").exists() and (run_dir / ".hydra").is_dir()


def _fake_stage(tmp_path, resumable, fail=False):
    def run(cfg, run_dir, out):
        (out / "result.txt").write_text("new")
        if fail:
            raise KwsError("the fake stage failed")
        return {}
    return types.SimpleNamespace(OUTPUT="fake", RESUMABLE=resumable, run=run)


@pytest.mark.parametrize("resume", [True, False])
def test_a_resumable_stage_keeps_its_partial_folder_only_for_train_resume(tmp_path, monkeypatch,
                                                                          resume):
    cfg = compose_cfg([f"train.resume={str(resume).lower()}"])
    partial = tmp_path / "fake.partial"
    partial.mkdir()
    (partial / "last.pt").write_text("epoch 1")
    (partial / ".last.pt.kws-tmp-k3j2a8b1.pt").write_text("half")   # kill -9 mid-write
    monkeypatch.setattr(pipeline, "stage_module", lambda name: _fake_stage(tmp_path, True))
    pipeline.run_stage(cfg, "fake", tmp_path)
    files = sorted(p.name for p in (tmp_path / "fake").iterdir())
    assert files == (["last.pt", "result.txt"] if resume else ["result.txt"])
    assert not partial.exists()


def test_a_failed_resumable_stage_keeps_its_partial_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "stage_module",
                        lambda name: _fake_stage(tmp_path, True, fail=True))
    with pytest.raises(KwsError):
        pipeline.run_stage(compose_cfg([]), "fake", tmp_path)
    assert (tmp_path / "fake.partial" / "result.txt").exists()
    assert not (tmp_path / "fake").exists()
    monkeypatch.setattr(pipeline, "stage_module",
                        lambda name: _fake_stage(tmp_path, False, fail=True))
    with pytest.raises(KwsError):
        pipeline.run_stage(compose_cfg([]), "fake", tmp_path)
    assert not (tmp_path / "fake.partial").exists()


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                        (0o002, 0o664, 0o775)])
def test_outputs_honour_the_umask(tmp_path, umask, file_mode, dir_mode):
    script = f"""
import os, stat
os.umask({umask:#o})
from pathlib import Path
from kws.io import atomic_dir, save_npz, write_text
import numpy as np
out = Path({str(tmp_path)!r})
write_text(out / "a.txt", "x")
save_npz(out / "b.npz", x=np.zeros(3))
with atomic_dir(out / "folder") as tmp:
    (tmp / "c.txt").write_text("y")
for name in ("a.txt", "b.npz", "folder"):
    print(name, oct(stat.S_IMODE((out / name).stat().st_mode)))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    modes = dict(line.split() for line in proc.stdout.splitlines())
    assert modes == {"a.txt": oct(file_mode), "b.npz": oct(file_mode), "folder": oct(dir_mode)}
