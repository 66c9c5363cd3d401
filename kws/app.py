"""The `kws` command: a Hydra app over conf/config.yaml that runs the chosen stages.

`cli` is the installed entry point: it answers --help and --version itself, hands
`kws export-firmware ...` to kws.export_firmware (Hydra's own pages
describe Hydra, with a 250-line config dump) and turns Hydra's config-composition failures (a
misspelt key, a bad override) into exit code 2, as for every bad setting or input; 1 is left for
crashes.
"""
from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from kws.config import CONFIG_DIR, register_configs
from kws.errors import KwsError
from kws.pipeline import REPORT, STAGE_ORDER, ordered_stages, run_pipeline, summary_lines

log = logging.getLogger("kws")
register_configs()
BAD_INPUT, CRASH = 2, 1
_task_started = False                      # set once Hydra has composed the config


def kws_version() -> str:
    try:
        return version("kws")
    except PackageNotFoundError:
        return "unknown (not installed)"


# One line per stage for --help (importing the stage modules for their docstrings takes seconds).
STAGES_HELP = {
    "data": "Speech Commands folder or synthetic speech -> speaker-split int16 clips",
    "features": "fixed-point MFCC -> int8 features; the C front end checked bit for bit",
    "teacher": "a large DS-CNN trained on the features",
    "student": "the small DS-CNN, distilled from the teacher",
    "prune": "whole channels removed, fine-tuned by distillation (off unless prune=l1/wanda)",
    "quantize": "int8 student (PTQ, QAT), scored by the golden integer model; .tflite, .onnx",
    "stream": "false rejects vs false accepts per hour on long streams; operating point",
    "export": "C for the firmware: weights, tables, settings, kws_model_invoke()",
    "verify": "host C vs the golden models, bit for bit, on clips and a stream",
    "firmware": "the same C on a Cortex-M under QEMU: bit-exact, instructions, flash, RAM",
    "evaluate": "score a finished run (eval.run) on a folder (eval.root); not in the default",
}


def help_text() -> str:
    stages = "\n".join(f"  {name:<9} {STAGES_HELP[name]}" for name in STAGE_ORDER)
    return f"""kws {kws_version()}: keyword spotting, from audio to a bit-exact int8 wake-word
detector on a microcontroller.

usage: kws [KEY=VALUE ...]    (settings as Hydra overrides; --multirun for sweeps)

Runs the chosen stages (stages=[...]) in this order, each writing into the run directory
(outputs/<date>/<time>/, or hydra.run.dir=DIR); a stage whose settings and inputs are unchanged
since it last completed there is skipped:
{stages}

examples:
  kws                                                         everything, on synthetic speech
  kws data=speech_commands data.root=PATH train.epochs=30     a real data set
  kws hydra.run.dir=runs/a stages=[stream] stream.target_fa_per_hour=1

Every setting with its value: kws --cfg job    (README.md explains them; Hydra: kws --hydra-help)
A .tflite you already have, as the same C: kws-import MODEL.tflite --out DIR --verify
A run's C (and the library: --library) into your firmware tree: kws export-firmware RUN_DIR DEST
"""


def cli() -> None:
    args = sys.argv[1:]
    if args[:1] == ["export-firmware"]:    # a plain command beside the Hydra app
        from kws.export_firmware import main as export_firmware
        sys.exit(export_firmware(args[1:]))
    if "--help" in args or "-h" in args:
        print(help_text(), end="")
        return
    if "--version" in args:
        print(f"kws {kws_version()}")
        return
    if os.environ.get("WORLD_SIZE", "1") != "1":
        _join_torchrun(args)
    try:
        main()
    except SystemExit as exc:
        if exc.code == CRASH and not _task_started:   # Hydra could not compose the config
            sys.exit(BAD_INPUT)
        raise


def _join_torchrun(args: list[str]) -> None:
    """Started by torchrun: join its process group; every rank gets rank 0's run directory, and
    only rank 0 writes Hydra's files and the log (kws.training.distributed)."""
    from kws.training import distributed
    if "--multirun" in args or "-m" in args:
        print("kws: error: --multirun under torchrun: run the sweep with a Hydra launcher and "
              "torchrun inside each job, or one torchrun per point", file=sys.stderr)
        sys.exit(BAD_INPUT)
    distributed.start()
    sys.argv += distributed.run_directory_override(args) + distributed.quiet_follower_overrides()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    global _task_started
    _task_started = True
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    _stdlib_start_method()
    if os.environ.get("WORLD_SIZE", "1") != "1":
        return _distributed_main(cfg, run_dir)
    return _run(cfg, run_dir)


def _stdlib_start_method() -> None:
    """Under Hydra's joblib launcher a job runs in a loky worker, whose default start method
    ("loky") the processes the stages spawn cannot name when they start: give them the
    stdlib's."""
    if multiprocessing.get_start_method(allow_none=True) not in (None, "fork", "spawn",
                                                                 "forkserver"):
        multiprocessing.set_start_method("spawn", force=True)


def _distributed_main(cfg: DictConfig, run_dir: Path) -> float | None:
    """Rank 0 runs the pipeline and then releases the others; they train when it trains."""
    from kws.training import distributed
    from kws.training.loop import follow_trainings
    try:
        if not distributed.ranks().leader:
            follow_trainings()
            return None
        try:
            return _run(cfg, run_dir)
        finally:
            distributed.from_rank_0(None)
    finally:
        distributed.stop()


def _run(cfg: DictConfig, run_dir: Path) -> float | None:
    try:
        report = run_pipeline(cfg, run_dir)
        stages = ordered_stages(list(cfg.stages))
        check_budget(report, cfg.budget)
        value = objective(report, cfg.objective) if cfg.objective else None
    except (KwsError, OSError) as exc:
        error = exc if isinstance(exc, KwsError) else _disk_full(exc)
        if error is None:
            raise
        _report(error)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # One bad point of a sweep (an impossible setting, a network over the budget) must
            # not end the sweep: it scores as the worst possible trial.
            return _worst_value() if cfg.objective else None
        sys.exit(BAD_INPUT)
    print("\n".join(summary_lines(report, stages)))
    print(f"run directory: {run_dir}  (report: {run_dir / REPORT})")
    return value


def _disk_full(exc: OSError) -> KwsError | None:
    """A write that failed outside kws.io's atomic writes (a library's own file, say)."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    return KwsError(f"cannot write {exc.filename or 'a file'}: the disk is full "
                    f"([Errno {exc.errno}] {exc.strerror})")


def _report(error: KwsError) -> None:
    """The message once on stderr; the run's log file records it too (not the console)."""
    print(f"kws: error: {error}", file=sys.stderr)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (error,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def check_budget(report: dict, budget) -> None:
    """budget.kind/value: the quantize stage's figure for the int8 network must not exceed it."""
    if budget.kind is None:
        return
    measured = report.get("quantize", {}).get(budget.kind)
    if measured is None:
        raise KwsError(f"budget.kind={budget.kind}: the quantize stage did not report it (run "
                       "stages=[..., quantize])")
    if measured > budget.value:
        raise KwsError(f"budget: the int8 network has {budget.kind}={measured:,}, over "
                       f"budget.value={budget.value:,} by {measured - budget.value:,}")


def _worst_value() -> float:
    """The objective a failed sweep point returns: the worst for the sweeper's direction."""
    direction = str(HydraConfig.get().sweeper.get("direction", "minimize"))
    return float("-inf") if "max" in direction.lower() else float("inf")


def objective(report: dict, key: str) -> float:
    """report["stage"]["name"] for key "stage.name": the number a sweeper minimises."""
    stage, _, name = key.partition(".")
    value = report.get(stage, {}).get(name)
    if not isinstance(value, (int, float)):
        raise KwsError(f"objective={key}: report.json has no number there")
    return float(value)


if __name__ == "__main__":
    cli()
