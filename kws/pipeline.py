"""Runs the chosen stages in pipeline order inside one run directory.

Each stage is a module `kws.stages.<stage>` with
    CONFIG_KEYS: the top-level config keys it depends on (or config_keys(cfg), when that
                 depends on the settings),
    OUTPUT: the folder it writes in the run directory (None: it writes into another run),
    REQUIRES: the earlier stages whose outputs it reads (or requires(cfg), when that depends
              on the settings),
    run(cfg, run_dir, out) -> dict: reads what earlier stages wrote, writes its artifacts into
                                    `out`, returns its report entry,
and optionally input_fingerprint(cfg) -> str for inputs outside the run directory, and
RESUMABLE = True when it can continue an interrupted run (train.resume).

A stage is skipped when its fingerprint (its config, its outside inputs, and the fingerprints of
the stages before it) equals the one recorded when it last completed in this run directory
(.stage_stamps.json). A stage runs only when every stage it requires has a current stamp; when a
stage re-runs with a new fingerprint, the stamps of the stages after it are dropped (they were
made from its old outputs).

A stage builds its folder aside, in <OUTPUT>.partial/, which replaces <OUTPUT>/ only when the
stage succeeds: a failed or killed stage leaves the previous outputs whole. A failed stage's
partial folder is removed, but a resumable stage's is kept: it is what train.resume=true
continues from.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
import shutil
import time
from pathlib import Path

from omegaconf import OmegaConf

from kws import provenance
from kws.artifacts import REPORT, STAMPS
from kws.errors import KwsError
from kws.io import read_json, remove_stale_temps, replace_dir, write_json
from kws.settings import validate_settings

log = logging.getLogger(__name__)

STAGE_ORDER = ("data", "features", "teacher", "student", "prune", "quantize", "stream", "export",
               "verify", "firmware", "evaluate")
PARTIAL = ".partial"
ENVIRONMENT = "environment"     # each stage's report entry: what made it (kws.provenance)
# train.* keys that change how a stage runs but not what it computes: not in its fingerprint.
RUNTIME_ONLY = ("resume", "device", "threads", "tensorboard")


def stage_module(name: str):
    return importlib.import_module(f"kws.stages.{name}")


def ordered_stages(requested) -> list[str]:
    unknown = [s for s in requested if s not in STAGE_ORDER]
    if unknown:
        raise KwsError(f"stages={list(requested)}: unknown stage(s) {unknown}; "
                       f"known stages: {list(STAGE_ORDER)}")
    return [s for s in STAGE_ORDER if s in requested]


def fingerprint_record(cfg, name: str, stamps: dict) -> dict:
    """What a stage's fingerprint covers: its resolved config keys (without the runtime-only
    ones), the stamps of the stages before it, and its inputs outside the run directory."""
    module = stage_module(name)
    keys = module.config_keys(cfg) if hasattr(module, "config_keys") else module.CONFIG_KEYS
    config = {key: _plain(OmegaConf.select(cfg, key)) for key in keys}
    if isinstance(config.get("train"), dict):
        for key in RUNTIME_ONLY:
            config["train"].pop(key, None)
    upstream = {s: stamps.get(s) for s in STAGE_ORDER[:STAGE_ORDER.index(name)]}
    outside = module.input_fingerprint(cfg) if hasattr(module, "input_fingerprint") else ""
    return {"stage": name, "config": config, "upstream": upstream, "outside": outside}


def fingerprint(cfg, name: str, stamps: dict) -> str:
    record = fingerprint_record(cfg, name, stamps)
    blob = json.dumps([name, record["config"], list(record["upstream"].values()),
                       record["outside"]], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def required_stages(cfg, name: str) -> tuple[str, ...]:
    module = stage_module(name)
    return tuple(module.requires(cfg)) if hasattr(module, "requires") else module.REQUIRES


def _check_requirements(cfg, name: str, available, run_dir: Path) -> None:
    missing = [s for s in required_stages(cfg, name) if s not in available]
    if missing:
        plan = ",".join(s for s in STAGE_ORDER if s in missing or s == name)
        raise KwsError(f"stage {name} needs stage(s) {', '.join(missing)}, which have not "
                       f"completed in {run_dir} with the current inputs (no stamp in {STAMPS}): "
                       f"run them first, e.g. kws hydra.run.dir={run_dir} stages=[{plan}] "
                       "(with the same settings)")


def run_pipeline(cfg, run_dir: Path) -> dict:
    validate_settings(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(run_dir)                 # temp files and old folders of a killed run
    stages = ordered_stages(list(cfg.stages))
    report = read_json(run_dir / REPORT, default={})
    stamps = read_json(run_dir / STAMPS, default={})
    _check_made_by_this_version(run_dir, report, stamps)
    for i, name in enumerate(stages):           # before any stage runs: a plan that cannot work
        _check_requirements(cfg, name, set(stamps) | set(stages[:i]), run_dir)
    environment = provenance.environment()
    for name in stages:
        stamp = fingerprint(cfg, name, stamps)
        if stamps.get(name) == stamp and name in report:
            log.info("stage %s: unchanged since it last completed here; skipped", name)
            report[name]["skipped"] = True
            continue
        _check_requirements(cfg, name, stamps, run_dir)
        log.info("stage %s: running", name)
        started = time.perf_counter()
        _forget(stamps, name, stamp)
        write_json(run_dir / STAMPS, stamps)
        result = run_stage(cfg, name, run_dir)
        result["seconds"] = round(time.perf_counter() - started, 2)
        result[ENVIRONMENT] = environment
        report[name] = result
        stamps[name] = stamp
        write_json(run_dir / REPORT, _without_skip_flags(report))
        write_json(run_dir / STAMPS, stamps)
    return report


def _check_made_by_this_version(run_dir: Path, report: dict, stamps: dict) -> None:
    """A run directory whose completed stages another kws version made is refused: its
    artifacts need not be what this version reads or writes (the fingerprints cover settings
    and inputs, not the code)."""
    ours = provenance.package_versions()["kws"]
    other = {name: entry[ENVIRONMENT]["packages"].get("kws")
             for name, entry in report.items()
             if name in stamps and isinstance(entry, dict) and ENVIRONMENT in entry}
    other = {name: v for name, v in other.items() if v != ours}
    if other:
        made_by = ", ".join(f"{name} (kws {v})" for name, v in other.items())
        raise KwsError(f"{run_dir / REPORT}: stage(s) {made_by} were made by another version "
                       f"than this kws {ours}; use a new hydra.run.dir, or delete "
                       f"{run_dir / STAMPS} to re-run every stage here")


def _forget(stamps: dict, name: str, stamp: str) -> None:
    """Drop the stage's stamp (a failed run leaves none behind) and, when its inputs changed,
    the stamps of every later stage: they were made from its old outputs."""
    old = stamps.pop(name, None)
    if old is not None and old != stamp:
        for later in STAGE_ORDER[STAGE_ORDER.index(name) + 1:]:
            stamps.pop(later, None)


def run_stage(cfg, name: str, run_dir: Path) -> dict:
    """Run one stage into <OUTPUT>.partial/ and swap that in for <OUTPUT>/ when it succeeds."""
    module = stage_module(name)
    if module.OUTPUT is None:
        return module.run(cfg, run_dir, None)
    final = run_dir / module.OUTPUT
    partial = final.with_name(final.name + PARTIAL)
    resumable = getattr(module, "RESUMABLE", False)
    if partial.exists() and not (resumable and cfg.train.resume):
        if resumable:
            log.info("stage %s: discarding the interrupted run in %s (train.resume=true would "
                     "continue it)", name, partial)
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(partial, recursive=True)
    try:
        result = module.run(cfg, run_dir, partial)
    except BaseException:
        if not resumable:
            shutil.rmtree(partial, ignore_errors=True)
        raise
    replace_dir(partial, final)
    return result


def _without_skip_flags(report: dict) -> dict:
    return {k: {kk: vv for kk, vv in v.items() if kk != "skipped"} for k, v in report.items()}


def summary_lines(report: dict, stages: list[str]) -> list[str]:
    """A short table: one line per stage with its headline numbers."""
    lines = [f"{'stage':<10} {'status':<8} summary"]
    for name in stages:
        entry = report.get(name, {})
        status = "skipped" if entry.get("skipped") else "ran"
        module = stage_module(name)
        text = module.summarize(entry) if hasattr(module, "summarize") else ""
        lines.append(f"{name:<10} {status:<8} {text}")
    return lines
