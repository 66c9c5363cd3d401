"""Hydra callbacks that turn a multirun into one table."""
from __future__ import annotations

import statistics
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from kws.io import read_json, write_json, write_text


class KdAblationTable(Callback):
    """Collects each job's student result; writes mean ± std accuracy with and without KD."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_job_end(self, config, job_return, **kwargs) -> None:
        report = read_json(Path(config.hydra.runtime.output_dir) / "report.json") or {}
        student = report.get("student")
        if student is None:                      # the job failed before the student finished
            return
        self.rows.append({"seed": int(config.seed), "distilled": bool(student["distilled"]),
                          "val_acc": student["val_acc"], "test_acc": student["test_acc"],
                          "teacher_test_acc": report.get("teacher", {}).get("test_acc")})

    def on_multirun_end(self, config, **kwargs) -> None:
        table = summarize_ablation(self.rows)
        out = Path(config.hydra.sweep.dir)
        write_json(out / "kd_ablation.json", {"runs": self.rows, "summary": table})
        lines = ["| student | runs | test accuracy (mean ± std) | val accuracy (mean ± std) |",
                 "|---|---|---|---|"]
        for row in table:
            lines.append(f"| {row['student']} | {row['runs']} | {row['test_mean']:.4f} ± "
                         f"{row['test_std']:.4f} | {row['val_mean']:.4f} ± {row['val_std']:.4f} |")
        if len(table) == 2:
            gain = table[0]["test_mean"] - table[1]["test_mean"]
            lines.append(f"\nDistillation gain in mean test accuracy: {gain * 100:+.2f} points.")
        text = "\n".join(lines) + "\n"
        write_text(out / "kd_ablation.md", text)
        print(f"\nKD ablation ({out}):\n{text}")


def summarize_ablation(rows: list[dict]) -> list[dict]:
    """Mean and sample standard deviation per arm, distilled first."""
    table = []
    for distilled in (True, False):
        arm = [r for r in rows if r["distilled"] == distilled]
        if not arm:
            continue
        test = [r["test_acc"] for r in arm]
        val = [r["val_acc"] for r in arm]
        table.append({"student": "distilled" if distilled else "from scratch", "runs": len(arm),
                      "test_mean": statistics.fmean(test),
                      "test_std": statistics.stdev(test) if len(test) > 1 else 0.0,
                      "val_mean": statistics.fmean(val),
                      "val_std": statistics.stdev(val) if len(val) > 1 else 0.0})
    return table




class DetectorSweepTable(Callback):
    """Collects each job's stream result; writes the detector settings ranked by FRR at the
    false-accept target (the operating point each job chose)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_job_end(self, config, job_return, **kwargs) -> None:
        report = read_json(Path(config.hydra.runtime.output_dir) / "report.json") or {}
        stream = report.get("stream")
        d = config.detector
        if stream is None or stream.get("detector_config") != OmegaConf.to_container(d):
            return                               # this job failed: the report is another's
        self.rows.append({"average_window_ms": d.average_window_ms, "min_count": d.min_count,
                          "suppression_ms": d.suppression_ms,
                          "infer_every_frames": d.infer_every_frames,
                          "threshold": stream["threshold"], "frr": stream["frr"],
                          "fa_per_hour": stream["fa_per_hour"],
                          "target_met": stream["target_met"]})

    def on_multirun_end(self, config, **kwargs) -> None:
        rows = sorted(self.rows, key=lambda r: (not r["target_met"], r["frr"], r["fa_per_hour"]))
        out = Path(config.hydra.sweep.dir)
        write_json(out / "detector_sweep.json", rows)
        lines = ["| average window (ms) | min count | suppression (ms) | infer every | threshold "
                 "| FRR | FA/h | target met |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['average_window_ms']:g} | {r['min_count']} | {r['suppression_ms']:g} | "
                  f"{r['infer_every_frames']} | {r['threshold']} | {r['frr']:.4f} | "
                  f"{r['fa_per_hour']:.3f} | {r['target_met']} |" for r in rows]
        text = "\n".join(lines) + "\n"
        write_text(out / "detector_sweep.md", text)
        print(f"\nDetector sweep ({out}):\n{text}")
