"""The `kws` command: a Hydra app over conf/config.yaml that runs the chosen stages."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from kws.config import CONFIG_DIR, register_configs
from kws.errors import KwsError
from kws.pipeline import REPORT, ordered_stages, run_pipeline, summary_lines

log = logging.getLogger("kws")
register_configs()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        report = run_pipeline(cfg, run_dir)
        stages = ordered_stages(list(cfg.stages))
    except KwsError as exc:
        log.error("%s", exc)
        print(f"kws: error: {exc}", file=sys.stderr)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # One bad point of a sweep (say, an impossible setting) must not end the sweep.
            return float("inf") if cfg.objective else None
        sys.exit(2)
    print("\n".join(summary_lines(report, stages)))
    print(f"run directory: {run_dir}  (report: {run_dir / REPORT})")
    return objective(report, cfg.objective) if cfg.objective else None


def objective(report: dict, key: str) -> float:
    """report["stage"]["name"] for key "stage.name": the number a sweeper minimises."""
    stage, _, name = key.partition(".")
    value = report.get(stage, {}).get(name)
    if not isinstance(value, (int, float)):
        raise KwsError(f"objective={key}: report.json has no number there")
    return float(value)


if __name__ == "__main__":
    main()
