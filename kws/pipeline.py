"""Runs the chosen stages in pipeline order inside one run directory.

Each stage is a module `kws.<stage>` with
    CONFIG_KEYS: the top-level config keys it depends on,
    run(cfg, run_dir) -> dict: reads what earlier stages wrote, writes its artifacts, returns its
                               report entry,
and optionally input_fingerprint(cfg) -> str for inputs outside the run directory.

A stage is skipped when its fingerprint (its config, its outside inputs, and the fingerprints of
the stages before it) equals the one recorded when it last completed in this run directory.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
import time
from pathlib import Path

from omegaconf import OmegaConf

from kws.errors import KwsError
from kws.io import read_json, write_json

log = logging.getLogger(__name__)

STAGE_ORDER = ("data", "features", "teacher", "student", "quantize", "stream", "export",
               "verify", "firmware", "evaluate")
REPORT = "report.json"
STAMPS = ".stage_stamps.json"
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


def fingerprint(cfg, name: str, stamps: dict) -> str:
    module = stage_module(name)
    config = {key: _plain(OmegaConf.select(cfg, key)) for key in module.CONFIG_KEYS}
    if isinstance(config.get("train"), dict):
        for key in RUNTIME_ONLY:
            config["train"].pop(key, None)
    upstream = [stamps.get(s) for s in STAGE_ORDER[:STAGE_ORDER.index(name)]]
    outside = module.input_fingerprint(cfg) if hasattr(module, "input_fingerprint") else ""
    blob = json.dumps([name, config, upstream, outside], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def run_pipeline(cfg, run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stages = ordered_stages(list(cfg.stages))
    report = read_json(run_dir / REPORT, default={})
    stamps = read_json(run_dir / STAMPS, default={})
    for name in stages:
        stamp = fingerprint(cfg, name, stamps)
        if stamps.get(name) == stamp and name in report:
            log.info("stage %s: unchanged since it last completed here; skipped", name)
            report[name]["skipped"] = True
            continue
        log.info("stage %s: running", name)
        started = time.perf_counter()
        stamps.pop(name, None)                      # a failed run leaves no stale stamp behind
        write_json(run_dir / STAMPS, stamps)
        result = stage_module(name).run(cfg, run_dir)
        result["seconds"] = round(time.perf_counter() - started, 2)
        report[name] = result
        stamps[name] = stamp
        write_json(run_dir / REPORT, _without_skip_flags(report))
        write_json(run_dir / STAMPS, stamps)
    return report


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
