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


SWEEP_COSTS = (("m4_insn_per_inference", "Cortex-M4 instructions per inference"),
               ("macs", "MACs per inference"), ("params", "parameters"),
               ("arena_bytes", "arena bytes"), ("flash_bytes", "model constants (flash bytes)"))


def prune_row(report: dict, method: str) -> dict | None:
    """One point of the prune sweep from a run's report (None when the run did not finish):
    int8 test accuracy against what the network costs."""
    quantize, export, firmware = (report.get(k) for k in ("quantize", "export", "firmware"))
    trained = report.get("prune") if method != "unpruned" else report.get("student")
    if not (quantize and export and trained):
        return None
    firmware = firmware or {}
    prune = report.get("prune", {}) if method != "unpruned" else {}
    rounds = len(prune.get("rounds") or []) or 1
    return {"method": method, "importance": prune.get("importance"),
            "ratio": prune.get("ratio", 0.0), "channels": prune.get("channels"),
            # epochs of training this network got: the student's, or all fine-tuning rounds'
            "epochs": trained.get("epochs", 0) * rounds,
            "int8_test_acc": quantize["int8_test_acc"], "float_test_acc": quantize["float_test_acc"],
            "params": trained["params"], "macs": trained["macs"],
            "arena_bytes": export["ram_bytes"], "flash_bytes": export["weights_bytes"],
            "m4_insn_per_inference": firmware.get("insn_per_inference"),
            "m4_insn_per_second_of_audio": firmware.get("insn_per_second_of_audio")}


class PruneSweepTable(Callback):
    """When a multirun ends: every finished job in the sweep folder (also those of earlier
    multiruns into the same hydra.sweep.dir) with the unpruned student of prune.student_dir, as
    prune_sweep.{md,json,png}: int8 test accuracy against M4 instructions, MACs, parameters,
    arena and flash."""

    def on_multirun_end(self, config, **kwargs) -> None:
        out = Path(config.hydra.sweep.dir)
        base = config.prune.student_dir
        rows = sweep_rows(out, Path(base) if base else None)
        write_json(out / "prune_sweep.json", rows)
        text = prune_table(rows)
        write_text(out / "prune_sweep.md", text)
        plot_prune_sweep(rows, out / "prune_sweep.png")
        print(f"\nPrune sweep ({out}):\n{text}")


def sweep_rows(sweep_dir: Path, student_dir: Path | None) -> list[dict]:
    """The unpruned student's row (from student_dir), then each job's, by method and ratio."""
    rows = []
    for path in sorted(sweep_dir.glob("*/report.json")):
        report = read_json(path) or {}
        prune = report.get("prune") or {}
        if prune.get("enabled"):
            method = prune["method"] + (f" ({prune['importance']})"
                                        if prune["method"] == "pruned" else "")
            row = prune_row(report, method)
            if row is not None:
                rows.append({**row, "seed": _job_seed(path.parent), "run": str(path.parent)})
    rows.sort(key=lambda r: (r["method"], r["ratio"], r["epochs"], r["seed"] or 0))
    unpruned = prune_row(read_json(student_dir / "report.json") or {}, "unpruned") \
        if student_dir else None
    return ([{**unpruned, "run": str(student_dir)}] if unpruned else []) + rows


def _job_seed(job_dir: Path) -> int | None:
    """The seed a sweep job ran with (its .hydra/config.yaml)."""
    saved = job_dir / ".hydra" / "config.yaml"
    return int(OmegaConf.load(saved).seed) if saved.exists() else None


def prune_table(rows: list[dict]) -> str:
    base = next((r for r in rows if r["method"] == "unpruned"), None)
    lines = ["| network | ratio | channels | epochs | seed | int8 test acc | M4 insn / inference "
             "| vs unpruned | M4 insn / s of audio | MACs | params | arena B | flash B |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        insn = r["m4_insn_per_inference"]
        saved = (f"{100 * (1 - insn / base['m4_insn_per_inference']):.1f} % fewer"
                 if base and insn and base["m4_insn_per_inference"] and r is not base else "")
        lines.append(f"| {r['method']} | {r['ratio']:g} | {r['channels'] or ''} | "
                     f"{r['epochs']} | {'' if r.get('seed') is None else r['seed']} | "
                     f"{r['int8_test_acc']:.4f} | {insn or 'n/a'} | {saved} | "
                     f"{r['m4_insn_per_second_of_audio'] or 'n/a'} | {r['macs']} | "
                     f"{r['params']} | {r['arena_bytes']} | {r['flash_bytes']} |")
    return "\n".join(lines) + "\n"


def plot_prune_sweep(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from kws.io import save_figure
    fig, axes = plt.subplots(1, len(SWEEP_COSTS), figsize=(4 * len(SWEEP_COSTS), 3.6),
                             sharey=True)
    for ax, (key, label) in zip(axes, SWEEP_COSTS):
        for method, epochs in dict.fromkeys((r["method"], r["epochs"]) for r in rows):
            points = sorted((r[key], r["int8_test_acc"]) for r in rows
                            if (r["method"], r["epochs"]) == (method, epochs)
                            and r[key] is not None)
            if points:
                ax.plot(*zip(*points), "o" if method == "unpruned" else "o-",
                        label=f"{method}, {epochs} epochs")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("int8 test accuracy")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)
