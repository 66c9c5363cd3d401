"""Crash safety, measured: kill -9 a pipeline run at seeded random points, resume it, check it.

A *session* is one fresh run directory taken from nothing to a finished run of `STAGES`
(data → features → teacher → student → quantize → export) by `kws` subprocesses
(`python -m kws.app ... hydra.run.dir=RUN train.resume=true`). Each launch is given the next
*target* of the session's plan: a log line to wait for (the stage starting, a training epoch's
line, quantize writing its files) and a seeded random delay after it, then the whole process
group gets SIGKILL. A target whose line never comes (its stage was already done) is dropped.
After every kill the run directory is checked (`check_files`, `check_stamps`):

  (a) no half-written file: every .json parses, .npz/.npy load (every array read: the zip CRCs
      are checked), .pt load with torch, .tflite read with kws.imports.tflite, .onnx pass the
      ONNX checker, .csv have whole rows, .png end in IEND, ELF binaries start with their magic,
      and every generated .c/.h equals what the uninterrupted reference run wrote. Temp files of
      kws.io (TEMP_MARK in the name) may be there after a kill: they are counted, and none may
      survive the session's last run;
  (b) .stage_stamps.json claims only stages whose folder is there, holds the reference's files
      and passes (a), with an entry in report.json;
  (c) a killed training stage loses at most the epoch in progress: the next launch's "resuming
      after epoch N" names the epoch that was in last.pt when the process died, and that is at
      most one behind the last epoch the killed process had logged;
  (d) at the end the session's artifacts equal the reference's (`compare_runs`): int8 weights,
      layers, .tflite, generated C, the trained weights and histories.

The reference is one uninterrupted run with the same settings in a fresh directory.
bench/crash_safety.py runs a campaign and writes bench/RESULTS.md; tests/test_crash_safety.py
runs it as a slow test.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kws.artifacts import REPORT, STAMPS
from kws.io import TEMP_MARK

STAGES = ("data", "features", "teacher", "student", "quantize", "export")
TRAINING = ("teacher", "student")
PARTIAL = ".partial"
# The tests' tiny synthetic data set (tests/conftest.py TINY_SYNTHETIC) and tiny networks.
TINY_SYNTHETIC = [
    "data.synthetic.engines=[espeak,flite]", "data.synthetic.accents=[en,en-gb-scotland]",
    "data.synthetic.variants=[m1,m3,m4,f1,Annie]", "data.synthetic.speakers_per_voice.flite=1",
    "data.synthetic.unknown_per_speaker=2", "data.synthetic.sentences_per_speaker=1",
    "data.synthetic.noise_seconds=15", "data.synthetic.babble_voices=2",
    "data.augment.negatives_sources=[synthetic]", "data.rooms.synthetic_rooms=6",
    "data.validation_percent=20", "data.testing_percent=20"]
TINY_NETWORKS = [
    "model@teacher_model=student", "teacher_model.first_channels=24",
    "teacher_model.blocks=[{channels:24,stride:[2,2]},{channels:24,stride:[1,1]}]",
    "student_model.first_channels=8", "student_model.blocks=[{channels:8,stride:[2,2]}]",
    "train.batch_size=32", "train.threads=1", "train.tensorboard=false"]

_STAGE_LINE = re.compile(r"stage (\w+): (running|unchanged)")
_EPOCH_LINE = re.compile(r"(\w+) epoch (\d+)/(\d+):")
_RESUME_LINE = re.compile(r"(\w+): resuming after epoch (\d+)")
_QUANTIZE_LINE = re.compile(r"quantize: (.*)$")
_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]")


def default_overrides(cache_dir: Path, epochs: int = 4, qat_epochs: int = 2) -> list[str]:
    return [*TINY_SYNTHETIC, *TINY_NETWORKS, f"train.epochs={epochs}",
            f"quant.qat_epochs={qat_epochs}", f"paths.cache_dir={cache_dir}",
            f"stages=[{','.join(STAGES)}]"]


# ------------------------------------------------------------------ launching and killing

@dataclasses.dataclass
class Target:
    """Kill `delay` seconds after the first log line matching `trigger` (in `stage`)."""
    label: str
    stage: str
    trigger: str
    delay: float


@dataclasses.dataclass
class Attempt:
    """One launch: what it was asked to do and how it ended."""
    target: Target | None
    returncode: int
    seconds: float
    lines: list[str]
    killed_after: float | None = None       # seconds after launch
    dropped: list[str] = dataclasses.field(default_factory=list)   # targets whose line never came


def launch(run_dir: Path, overrides: list[str], log_path: Path,
           resume: bool = True) -> subprocess.Popen:
    """`python -m kws.app` into run_dir, its own process group, output (unbuffered) to log_path."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "kws.app", *overrides, f"hydra.run.dir={run_dir}",
            f"train.resume={str(resume).lower()}"]
    with open(log_path, "w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=run_dir.parent, start_new_session=True)


def _stage_passed(line: str, stage: str) -> bool:
    """Whether `line` says a stage after `stage` has begun (or was skipped)."""
    m = _STAGE_LINE.search(line)
    return bool(m) and m.group(1) in STAGES and STAGES.index(m.group(1)) > STAGES.index(stage)


def run_attempt(run_dir: Path, overrides: list[str], targets: list[Target], log_path: Path,
                timeout: float = 900.0, poll: float = 0.002) -> Attempt:
    """Launch once; kill at the first target whose line comes (dropping those that cannot)."""
    started = time.monotonic()
    proc = launch(run_dir, overrides, log_path)
    lines, pending, fire_at, chosen, dropped = [], "", None, None, []
    with open(log_path) as log:
        while True:
            chunk = log.read()
            pending += chunk
            *complete, pending = pending.split("\n")
            for line in complete:
                lines.append(line)
                while chosen is None and targets:
                    if re.search(targets[0].trigger, line):
                        chosen = targets.pop(0)
                        fire_at = time.monotonic() + chosen.delay
                    elif _stage_passed(line, targets[0].stage):
                        dropped.append(targets.pop(0).label)
                        continue
                    break
            now = time.monotonic()
            if fire_at is not None and now >= fire_at and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                lines.extend(l for l in (pending + log.read()).split("\n") if l)
                return Attempt(chosen, proc.returncode, now - started, lines,
                               killed_after=now - started, dropped=dropped)
            if proc.poll() is not None and not chunk:
                lines.extend(l for l in (pending + log.read()).split("\n") if l)
                return Attempt(chosen, proc.returncode, time.monotonic() - started, lines,
                               dropped=dropped + [t.label for t in targets if chosen is None])
            if now - started > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RuntimeError(f"kws run in {run_dir} took over {timeout} s; see {log_path}")
            time.sleep(poll)


# ------------------------------------------------------------------ checking a run directory

def is_temp(path: Path) -> bool:
    return any(TEMP_MARK in part for part in path.parts)


def final_relative(path: Path, run_dir: Path) -> Path:
    """`teacher.partial/last.pt` → `teacher/last.pt`: where the file will live."""
    parts = list(path.relative_to(run_dir).parts)
    if parts and parts[0].endswith(PARTIAL):
        parts[0] = parts[0][:-len(PARTIAL)]
    return Path(*parts)


def check_file(path: Path, run_dir: Path, reference: Path | None) -> str | None:
    """None if `path` is whole, else what is wrong with it."""
    suffix = path.suffix
    try:
        if suffix == ".json":
            json.loads(path.read_text())
        elif suffix in (".yaml", ".yml"):
            import yaml
            yaml.safe_load(path.read_text())
        elif suffix == ".npz":
            with np.load(path) as f:
                for name in f.files:
                    f[name]
        elif suffix == ".npy":
            np.load(path)
        elif suffix == ".pt":
            import torch
            torch.load(path, map_location="cpu", weights_only=False)
        elif suffix == ".tflite":
            from kws.imports.tflite import read_tflite
            read_tflite(path)
        elif suffix == ".onnx":
            import onnx
            onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        elif suffix == ".csv":
            text = path.read_text()
            rows = list(csv.reader(io.StringIO(text)))
            if not text.endswith("\n") or not rows or any(len(r) != len(rows[0]) for r in rows):
                return "a row is cut short"
        elif suffix == ".png":
            data = path.read_bytes()
            if not data.startswith(b"\x89PNG\r\n\x1a\n") or not data.endswith(b"IEND\xaeB`\x82"):
                return "not a whole PNG"
        elif suffix in (".c", ".h"):
            expected = reference / final_relative(path, run_dir) if reference else None
            if expected is not None and expected.exists():
                if path.read_bytes() != expected.read_bytes():
                    return f"differs from the uninterrupted run's {expected}"
            elif not path.read_text().rstrip().endswith(("}", "#endif", ";", "*/")):
                return "does not end as a C file ends"
        elif suffix == ".py":          # the export's MicroPython package
            expected = reference / final_relative(path, run_dir) if reference else None
            if expected is not None and expected.exists():
                if path.read_bytes() != expected.read_bytes():
                    return f"differs from the uninterrupted run's {expected}"
            else:
                compile(path.read_text(), str(path), "exec")    # a cut file is a SyntaxError
        elif suffix == "" and path.read_bytes()[:4] == b"\x7fELF":
            pass
        elif suffix == ".log":
            pass                       # appended line by line: a killed run cuts its last line
        else:
            return "of a kind this check does not know"
    except Exception as exc:              # noqa: BLE001 -- any failure to read is the finding
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def check_files(run_dir: Path, reference: Path | None) -> tuple[list[str], list[str]]:
    """(problems, temp files) of every file under run_dir (temp files are not checked)."""
    problems, temps = [], []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(run_dir)
        if is_temp(rel):
            temps.append(str(rel))
            continue
        problem = check_file(path, run_dir, reference)
        if problem:
            problems.append(f"{rel}: {problem}")
    return problems, temps


def check_stamps(run_dir: Path, reference: Path | None, file_problems: list[str]) -> list[str]:
    """Every stamped stage's folder is there, whole (no problem of check_files in it) and holds
    the reference's files; report.json has its entry."""
    stamps_path = run_dir / STAMPS
    if not stamps_path.exists():
        return []
    stamps = json.loads(stamps_path.read_text())
    report = json.loads((run_dir / REPORT).read_text()) if (run_dir / REPORT).exists() else {}
    problems = []
    for stage in stamps:
        folder = _folder(stage)
        if not (run_dir / folder).is_dir():
            problems.append(f"{STAMPS} claims {stage}, but {folder}/ is missing")
            continue
        want = {p.relative_to(reference / folder) for p in (reference / folder).rglob("*")
                if p.is_file()} if reference else set()
        have = {p.relative_to(run_dir / folder) for p in (run_dir / folder).rglob("*")
                if p.is_file() and not is_temp(p.relative_to(run_dir))}
        if want - have:
            problems.append(f"{STAMPS} claims {stage}, but {folder}/ lacks "
                            f"{sorted(map(str, want - have))}")
        bad = [p for p in file_problems if p.startswith(f"{folder}/")]
        if bad:
            problems.append(f"{STAMPS} claims {stage}, but {folder}/ has broken files: {bad}")
        if stage not in report:
            problems.append(f"{STAMPS} claims {stage}, but {REPORT} has no entry for it")
    return problems


def _folder(stage: str) -> str:
    return {"features": "features", "export": "firmware"}.get(stage, stage)


def saved_epoch(run_dir: Path, stage: str) -> int | None:
    """The epoch in the last.pt that train.resume would continue (the partial folder's, else the
    completed folder's when the stage has no stamp), None when there is none."""
    import torch
    stamps = json.loads((run_dir / STAMPS).read_text()) if (run_dir / STAMPS).exists() else {}
    for path in (run_dir / f"{stage}{PARTIAL}" / "last.pt", run_dir / stage / "last.pt"):
        if path.exists() and (path.parent.name.endswith(PARTIAL) or stage not in stamps):
            return int(torch.load(path, map_location="cpu", weights_only=False)["state"]["epoch"])
    return None


def landing(run_dir: Path, attempt: Attempt) -> dict:
    """Where a kill landed: the stage that was running, and within it what the log and the
    folders say (training epoch, quantize step, export files written)."""
    stage, detail = None, "before any stage ran"
    for line in attempt.lines:
        m = _STAGE_LINE.search(line)
        if m and m.group(2) == "running":
            stage = m.group(1)
    if stage is None:
        return {"stage": None, "detail": detail}
    stamps = json.loads((run_dir / STAMPS).read_text()) if (run_dir / STAMPS).exists() else {}
    folder, partial = run_dir / _folder(stage), run_dir / f"{_folder(stage)}{PARTIAL}"
    if stage in stamps:
        return {"stage": stage, "detail": "after the stage completed (stamped)"}
    if folder.is_dir() and not partial.exists():
        return {"stage": stage, "detail": "after the folder swap, before the stamp"}
    if stage in TRAINING:
        logged = [int(m.group(2)) for l in attempt.lines
                  if (m := _EPOCH_LINE.search(l)) and m.group(1) == stage]
        total = [int(m.group(3)) for l in attempt.lines
                 if (m := _EPOCH_LINE.search(l)) and m.group(1) == stage]
        saved = saved_epoch(run_dir, stage) or 0
        last = max(logged, default=0)
        n = total[0] if total else None
        if last > saved:
            detail = f"saving epoch {last} (between epochs; last.pt still at {saved})"
        elif n is not None and saved >= n:
            detail = f"after the last epoch ({saved}/{n}): testing, plotting"
        else:
            detail = f"inside epoch {saved + 1}" + (f"/{n}" if n else "") + f" ({saved} saved)"
        return {"stage": stage, "detail": detail, "saved_epoch": saved, "logged_epoch": last}
    if stage == "quantize":
        steps = [m.group(1) for l in attempt.lines if (m := _QUANTIZE_LINE.search(l))]
        detail = steps[-1] if steps else "loading, folding, PTQ"
        if not steps:
            detail = "loading, folding, PTQ"
        elif steps[-1].startswith("QAT, "):
            detail = "QAT epoch 1"
        elif steps[-1].startswith("QAT epoch"):
            done, total = steps[-1].split()[2].rstrip(":").split("/")
            detail = (f"QAT epoch {int(done) + 1}" if int(done) < int(total)
                      else "after QAT: golden int8 network, per-layer SQNR")
        else:
            detail = steps[-1].split(",")[0]
    if stage == "export":
        written = sorted(p.name for p in partial.iterdir()) if partial.is_dir() else []
        detail = f"{len([w for w in written if TEMP_MARK not in w])} files written" + (
            f", {len([w for w in written if TEMP_MARK in w])} temp" if any(
                TEMP_MARK in w for w in written) else "")
    return {"stage": stage, "detail": detail}


# ------------------------------------------------------------------ comparing two finished runs

def compare_runs(run_dir: Path, reference: Path) -> dict:
    """What of run_dir's artifacts equals the reference's: {"equal": [...], "differ": [...]}."""
    import torch
    equal, differ = [], []

    def record(name, same, why=""):
        (equal if same else differ).append(name if same else f"{name}: {why}")

    def bytes_of(rel):
        return (run_dir / rel).read_bytes(), (reference / rel).read_bytes()

    with np.load(run_dir / "quantize/model_int8.npz") as a, \
            np.load(reference / "quantize/model_int8.npz") as b:
        same = a.files == b.files and all(
            a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a.files)
        record("quantize/model_int8.npz arrays", same, "arrays differ")
    x, y = bytes_of("quantize/model_int8.npz")
    record("quantize/model_int8.npz bytes", x == y, "bytes differ (zip entry times)")
    for rel in ("quantize/layers.json", "quantize/student_int8.tflite",
                "quantize/student_float.onnx"):
        x, y = bytes_of(rel)
        record(rel, x == y, "bytes differ")
    for path in sorted(p for p in (reference / "firmware").rglob("*") if p.is_file()):
        rel = path.relative_to(reference)                   # the C and the MicroPython package
        x, y = bytes_of(rel)
        record(rel.as_posix(), x == y, "bytes differ")
    for stage in TRAINING:
        a = torch.load(run_dir / stage / "last.pt", map_location="cpu", weights_only=False)
        b = torch.load(reference / stage / "last.pt", map_location="cpu", weights_only=False)
        record(f"{stage}/last.pt weights", a["model"].keys() == b["model"].keys() and all(
            torch.equal(a["model"][k], b["model"][k]) for k in b["model"]), "tensors differ")
        record(f"{stage}/last.pt optimizer", _same_optimizer(a["optimizer"], b["optimizer"]),
               "optimizer state differs")
        strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa
        record(f"{stage} history (without seconds)",
               strip(a["state"]["history"]) == strip(b["state"]["history"]), "history differs")
        for name in ("best.pt",):
            pa = torch.load(run_dir / stage / name, map_location="cpu", weights_only=False)
            pb = torch.load(reference / stage / name, map_location="cpu", weights_only=False)
            record(f"{stage}/{name}", pa["epoch"] == pb["epoch"] and all(
                torch.equal(pa["model"][k], pb["model"][k]) for k in pb["model"]),
                "differs")
        rows = [_without_seconds(p / stage / "metrics.csv") for p in (run_dir, reference)]
        record(f"{stage}/metrics.csv (without seconds)", rows[0] == rows[1],
               f"{len(rows[0])} rows vs {len(rows[1])}")
    ra = json.loads((run_dir / REPORT).read_text())
    rb = json.loads((reference / REPORT).read_text())
    for stage in ("teacher", "student", "quantize", "export"):
        keep = lambda e: {k: (_without(v, "run_dir") if k == "teacher" else v)  # noqa: E731
                          for k, v in e.items() if k not in ("seconds", "train_seconds", "folder")}
        record(f"report.json {stage}", keep(ra.get(stage, {})) == keep(rb.get(stage, {})),
               "entries differ")
    return {"equal": equal, "differ": differ}


def _without(entry, key: str):
    return {k: v for k, v in entry.items() if k != key} if isinstance(entry, dict) else entry


def _same_optimizer(a: dict, b: dict) -> bool:
    import torch
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(torch.equal(torch.as_tensor(a["state"][k][n]), torch.as_tensor(b["state"][k][n]))
               for k in a["state"] for n in a["state"][k])


def _without_seconds(path: Path) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# ------------------------------------------------------------------ a campaign

def log_times(lines: list[str]) -> list[tuple[float, str]]:
    """(seconds since the first timestamped line, line) for the lines hydra timestamped."""
    out, first = [], None
    for line in lines:
        m = _TIME.match(line)
        if not m:
            continue
        t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
        first = t if first is None else first
        out.append((t - first, line))
    return out


def phase_seconds(lines: list[str]) -> dict[str, float]:
    """How long the reference spent from each trigger to the end of its stage."""
    timed = log_times(lines)
    end = timed[-1][0] if timed else 0.0
    starts = {}
    for t, line in timed:
        m = _STAGE_LINE.search(line)
        if m and m.group(2) == "running":
            starts[m.group(1)] = t
        for key, text in (("quantize QAT", "quantize: QAT, "),
                          ("quantize tflite", "quantize: writing student_int8.tflite"),
                          ("quantize onnx", "quantize: writing student_float.onnx"),
                          ("export writing", "export: writing")):
            if text in line and key not in starts:
                starts[key] = t
    order = sorted(starts.items(), key=lambda kv: kv[1])
    # Each phase lasts until the next one starts (the last until the run's last line).
    return {name: (order[i + 1][1] if i + 1 < len(order) else end) - t
            for i, (name, t) in enumerate(order)}


def session_plan(rng: np.random.Generator, phases: dict[str, float], epochs: int) -> list[Target]:
    """Eight kills: in each training stage at a random time and while an epoch is being saved,
    in quantize's QAT, while it writes and checks the .tflite, and at a random time (most of it
    is the ONNX export), and while export writes the C."""
    def uniform(hi):
        return float(rng.uniform(0.0, max(hi, 0.01)))

    plan = []
    for stage in TRAINING:
        plan.append(Target(f"{stage}: random time", stage, rf"stage {stage}: running",
                           uniform(phases.get(stage, 2.0))))
        k = int(rng.integers(1, epochs + 1))
        plan.append(Target(f"{stage}: saving an epoch (after epoch >= {k})", stage,
                           rf"{stage} epoch ({'|'.join(str(e) for e in range(k, epochs + 1))})/",
                           uniform(0.008)))
    plan.append(Target("quantize: QAT", "quantize", r"quantize: QAT, ",
                       uniform(phases.get("quantize QAT", 0.5))))
    plan.append(Target("quantize: writing the .tflite, TFLite Micro", "quantize",
                       r"quantize: writing student_int8.tflite",
                       uniform(phases.get("quantize tflite", 0.5))))
    plan.append(Target("quantize: random time", "quantize", r"stage quantize: running",
                       uniform(phases.get("quantize", 5.0))))
    plan.append(Target("export: writing the C", "export", r"export: writing",
                       uniform(phases.get("export writing", 0.005))))
    return plan


def run_campaign(work: Path, kills: int = 20, seed: int = 0, overrides: list[str] | None = None,
                 cache_dir: Path | None = None, epochs: int = 4, echo=print) -> dict:
    """Sessions of kill → check → resume until `kills` kills landed; returns every number."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir or work / "cache")
    overrides = list(overrides or default_overrides(cache_dir, epochs=epochs))
    reference = work / "reference"
    started = time.monotonic()
    ref = run_attempt(reference, overrides, [], work / "reference.log")
    if ref.returncode != 0:
        raise RuntimeError(f"the reference run failed: see {work / 'reference.log'}")
    reference_again = work / "reference2"
    ref2 = run_attempt(reference_again, overrides, [], work / "reference2.log")
    if ref2.returncode != 0:
        raise RuntimeError(f"the second reference run failed: see {work / 'reference2.log'}")
    determinism = compare_runs(reference_again, reference)
    phases = phase_seconds(ref.lines)
    phases.update({stage: float(entry["seconds"]) for stage, entry in
                   json.loads((reference / REPORT).read_text()).items() if "seconds" in entry})
    echo(f"reference run: {ref.seconds:.1f} s; phases {json.dumps({k: round(v, 2) for k, v in phases.items()})}")
    echo(f"second uninterrupted run vs the first: {len(determinism['differ'])} differ "
         f"{determinism['differ']}")
    rng = np.random.default_rng(seed)
    result = {"seed": seed, "overrides": overrides, "reference_seconds": round(ref.seconds, 1),
              "phases": {k: round(v, 3) for k, v in phases.items()},
              "determinism": determinism, "sessions": [], "kills": 0, "launches": 0,
              "problems": [], "temps_seen": 0}
    session = 0
    while result["kills"] < kills:
        session += 1
        run_dir = work / f"session{session}"
        plan = session_plan(rng, phases, epochs)
        record = {"run_dir": str(run_dir), "kills": [], "dropped": [], "launches": 0}
        previous = None
        for launch_no in range(1, 40):
            attempt = run_attempt(run_dir, overrides, plan,
                                  work / f"session{session}-{launch_no}.log")
            record["launches"] += 1
            record["dropped"] += attempt.dropped
            problems = _resume_problems(previous, attempt)
            if attempt.killed_after is None:
                if attempt.returncode != 0:
                    problems.append(f"launch {launch_no} failed (exit {attempt.returncode}): "
                                    + " | ".join(attempt.lines[-5:]))
                record["final"] = {"problems": problems}
                break
            where = landing(run_dir, attempt)
            file_problems, temps = check_files(run_dir, reference)
            stamp_problems = check_stamps(run_dir, reference, file_problems)
            kill = {"launch": launch_no, "target": attempt.target.label,
                    "delay": round(attempt.target.delay, 4),
                    "after_s": round(attempt.killed_after, 2), **where, "temps": temps,
                    "problems": problems + file_problems + stamp_problems}
            record["kills"].append(kill)
            result["kills"] += 1
            result["temps_seen"] += len(temps)
            result["problems"] += kill["problems"]
            echo(f"kill {result['kills']:2d} (session {session}, launch {launch_no}): "
                 f"{kill['target']} +{kill['delay']:.3f}s -> {where['stage']}: {where['detail']}"
                 f"{'; temp files ' + str(len(temps)) if temps else ''}"
                 f"{'; PROBLEMS ' + str(kill['problems']) if kill['problems'] else ''}")
            previous = (where, attempt)
        else:
            result["problems"].append(f"session {session} did not finish in 39 launches")
        file_problems, temps = check_files(run_dir, reference)
        leftovers = temps + [str(p.relative_to(run_dir)) for p in run_dir.glob(f"*{PARTIAL}")]
        final = record.setdefault("final", {"problems": []})
        final["problems"] += file_problems + check_stamps(run_dir, reference, file_problems)
        final["problems"] += [f"left behind by the finished run: {p}" for p in leftovers]
        stamps = json.loads((run_dir / STAMPS).read_text()) if (run_dir / STAMPS).exists() else {}
        missing = [s for s in STAGES if s not in stamps]
        if missing:
            final["problems"].append(f"finished without stamps for {missing}")
        else:
            final["compare"] = compare_runs(run_dir, reference)
            # What two uninterrupted runs also differ in is not the kills' doing.
            unstable = {d.split(":")[0] for d in determinism["differ"]}
            final["problems"] += [f"differs from the uninterrupted run: {d}"
                                  for d in final["compare"]["differ"]
                                  if d.split(":")[0] not in unstable]
        result["problems"] += [f"session {session}, end: {p}" for p in final["problems"]]
        echo(f"session {session}: {len(record['kills'])} kills, {record['launches']} launches, "
             f"differs from the reference in {final.get('compare', {}).get('differ')}; "
             f"problems {final['problems']}")
        result["sessions"].append(record)
        result["launches"] += record["launches"]
    cache_temps = [str(p) for p in cache_dir.rglob("*") if TEMP_MARK in p.name]
    result["cache_temps"] = cache_temps
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _resume_problems(previous, attempt: Attempt) -> list[str]:
    """(c): after a kill in a training stage, the next launch continues from the epoch that was
    saved, and loses at most the epoch in progress."""
    if previous is None:
        return []
    where, _ = previous
    stage = where.get("stage")
    if stage not in TRAINING or "saved_epoch" not in where:
        return []
    saved, logged = where["saved_epoch"], where["logged_epoch"]
    resumed = [int(m.group(2)) for l in attempt.lines
               if (m := _RESUME_LINE.search(l)) and m.group(1) == stage]
    trained = [l for l in attempt.lines if (m := _EPOCH_LINE.search(l)) and m.group(1) == stage]
    if not resumed and not trained and attempt.killed_after is not None:
        return []                 # killed again before it got that far: the next kill checks it
    problems = []
    if saved and resumed != [saved]:
        problems.append(f"{stage}: killed with epoch {saved} in last.pt, but the next launch "
                        f"resumed {resumed or 'from scratch'}")
    if not saved and resumed:
        problems.append(f"{stage}: no checkpoint at the kill, yet the next launch resumed "
                        f"after epoch {resumed}")
    if max(logged, saved) - (resumed[0] if resumed else 0) > 1:
        problems.append(f"{stage}: lost {max(logged, saved) - (resumed[0] if resumed else 0)} "
                        "epochs")
    return problems


def summary(result: dict) -> dict:
    """Counts for the report: kills by stage and landing, launches, problems."""
    by_stage, details = {}, []
    for s in result["sessions"]:
        for k in s["kills"]:
            by_stage[k["stage"]] = by_stage.get(k["stage"], 0) + 1
            details.append(k)
    return {"kills": result["kills"], "launches": result["launches"], "by_stage": by_stage,
            "sessions": len(result["sessions"]), "problems": result["problems"],
            "temps_seen": result["temps_seen"], "kills_detail": details}
