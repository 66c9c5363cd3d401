"""Benchmark deployment of the distilled student on real speech: int8, streams, C, Cortex-M.

    .venv/bin/python bench/deploy.py [--run-dir bench/runs/train] [OVERRIDE ...]

Runs, in the run directory bench/train.py trained (its last arm is the distilled student):
quantize (PTQ then QAT, golden int8 accuracy, TFLite Micro and ONNX Runtime checks) → stream
(FRR at the false-accept target on test-speaker streams) → export → verify (host C bit-exact) →
firmware (Cortex-M4 under QEMU, when the toolchain is there). Writes its sections of
bench/RESULTS.md and prints them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kws.config import compose
from kws.pipeline import run_pipeline
from results import DEFAULT_ROOT, HERE, write_section

STAGES = "[data,features,teacher,student,quantize,stream,export,verify,firmware]"


def quantize_section(command: str, q: dict, student: dict) -> str:
    sqnr = ", ".join(f"{k} {v}" for k, v in q["sqnr_db"].items())
    return "\n".join([
        "## Quantisation: the distilled student in int8 (real speech)", "",
        f"Command: `{command}`", "",
        f"Student: {student['params']:,} parameters, {student['macs']:,} MACs, distilled "
        f"from the teacher; {q.get('tflm_clips')} test clips (test speakers).", "",
        "| | test accuracy |", "|---|---|",
        f"| float (torch) | {q['float_test_acc']:.4f} |",
        f"| int8 PTQ ({q['calibration']}, golden) | {q['ptq_int8_test_acc']:.4f} |",
        f"| int8 QAT (golden) | {q.get('qat_int8_test_acc', float('nan')):.4f} |", "",
        f"- Golden int8 vs TensorFlow Lite Micro (tflite-micro interpreter, same flatbuffer): "
        f"bit-exact on {q['golden_vs_tflm_bitexact'] * 100:.1f}% of {q['tflm_clips']} clips; "
        f"`.tflite` {q['tflite_bytes']:,} B, smallest arena {q['tflm_arena_bytes']:,} B.",
        f"- QAT torch vs golden: argmax agreement {q.get('qat_golden_argmax_agreement')}, "
        f"largest logit gap {q.get('qat_golden_max_logit_diff_lsb')} LSB.",
        f"- Float student as ONNX: {q.get('onnx_bytes')} B, ONNX Runtime vs torch max |diff| "
        f"{q.get('onnx_max_abs_diff')}, argmax agreement {q.get('onnx_argmax_agreement')}.",
        f"- Per-layer SQNR (dB, int8 vs float): {sqnr}.",
        f"- Weights {q['weights_bytes']:,} B int8 + biases {q['bias_bytes']:,} B."])


def stream_section(command: str, s: dict) -> str:
    rows = [f"| {k} | {v['n_positives']} | {v['frr']} | {v['fa_per_hour']} |"
            for k, v in s["per_keyword"].items()]
    return "\n".join([
        "## Streaming wake-word quality (real speech, test speakers)", "",
        f"Command: `{command}`", "",
        f"Positive stream {s['minutes_positive']} min ({s['n_positives']} keywords, 5–20 dB SNR "
        f"over test background noise); negative stream {s['hours_negative']} h with no keyword. "
        f"Integer detector (bit-exact with the C loop), inference every "
        f"{s['detector']['infer_every_frames']} frames, average over "
        f"{s['detector']['average_window']} inferences; hit within 1 s after the word.", "",
        f"**Operating point: threshold {s['threshold']}/255 → FRR {s['frr'] * 100:.2f}% at "
        f"{s['fa_per_hour']} FA/h** (target ≤ {s['target_fa_per_hour']} FA/h: "
        f"{'met' if s['target_met'] else 'NOT met'}; goal FRR < 5%, openWakeWord's target). "
        f"Detector real-time factor (golden numpy, whole loop): {s['realtime_factor']}x.", "",
        "| keyword | occurrences | FRR | FA/h |", "|---|---|---|---|", *rows])


def firmware_section(command: str, e: dict, v: dict, f: dict) -> str:
    lines = ["## Firmware: generated C, host and Cortex-M", "",
             f"Command: `{command}`", "",
             f"- Activation arena {e['ram_bytes']:,} B (layer-wise lower bound "
             f"{e['ram_lower_bound_bytes']:,} B); constants {e['weights_bytes']:,} B.",
             f"- Host C (gcc -O2): {v['bitexact_clips']}/{v['total_clips']} test clips bit-exact "
             f"(features and logits); {v['stream_seconds']} s stream: {v['stream_events_c']} "
             f"events in C, {v['stream_events_python']} in Python, equal: "
             f"{v['stream_events_equal']}. C loop on the host {v['c_host_realtime_factor']}x "
             f"real time."]
    if f.get("ran"):
        parts = ", ".join(f"{k} {p['flash']:,}/{p['ram']:,}" for k, p in f["parts"].items())
        lines += [f"- {f['board']} ({f['cpu']}) under QEMU: {f['bitexact_clips']}/"
                  f"{f['total_clips']} clips bit-exact, stream events equal "
                  f"{f.get('stream_events_equal')}; **{f['insn_per_mfcc_frame']:,} instructions "
                  f"per MFCC frame, {f['insn_per_inference']:,} per inference** (instructions, "
                  f"not cycles); flash {f['flash_bytes']:,} B, RAM {f['ram_bytes']:,} B "
                  f"(stack high-water {f['stack_bytes']:,} B).",
                  f"- By part (flash/RAM bytes, test vectors excluded from the totals): {parts}."]
    else:
        lines.append(f"- Cortex-M: not run ({f.get('reason')}).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--run-dir", type=Path, default=HERE / "runs" / "train")
    parser.add_argument("--epochs", type=int, default=30, help="as bench/train.py was run")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    if not (args.run_dir / "student" / "best.pt").exists():
        sys.exit(f"bench: {args.run_dir} has no trained student: run bench/train.py first")
    # recorded speech alone, as these figures have always been (the synthetic voices off)
    base = ["data=speech_commands", f"data.root={args.root}", "data.with_synthetic=false",
            f"train.epochs={args.epochs}",
            "distill.enabled=true", *args.overrides]
    started = time.perf_counter()
    report = run_pipeline(compose(base + [f"stages={STAGES}"]), args.run_dir)
    if report["student"].get("distilled") is not True:
        sys.exit("bench: the run directory's student is not the distilled one")
    command = " ".join([".venv/bin/python bench/deploy.py", *args.overrides])
    sections = {"quantize": quantize_section(command, report["quantize"], report["student"]),
                "stream": stream_section(command, report["stream"]),
                "firmware": firmware_section(command, report["export"], report["verify"],
                                             report["firmware"])}
    for name, text in sections.items():
        write_section(HERE / "RESULTS.md", name, text + f"\n\n{time.strftime('%Y-%m-%d')}, "
                      f"total {time.perf_counter() - started:.0f} s for the run.")
        print(text, end="\n\n")


if __name__ == "__main__":
    main()
