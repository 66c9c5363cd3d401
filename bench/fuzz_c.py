"""Fuzz the C in firmware/ under ASan + UBSan (-fno-sanitize-recover=all): each harness of
firmware/tests/fuzz/ (MFCC stream, every NN kernel, the recogniser, kws_demo's WAV reader) for
its share of an execution budget, one at a time, then a sample of each corpus replayed and
compared with the golden models.

    .venv/bin/python bench/fuzz_c.py [--executions 10000000] [--harness nn ...]
                                     [--engine auto|libfuzzer|driver] [--seed 0]
                                     [--work DIR] [--golden 2000] [--no-write]

--engine auto: clang's libFuzzer (coverage-guided) where clang and libclang-rt are installed,
else the harnesses' seeded random driver (gcc). Corpora grow in --work (default: a temporary
folder, removed; nothing is committed) from generated seeds (kws.toolchain.fuzz.seed_inputs).
Prints per harness: executions, executions/s, corpus files and bytes, coverage (libFuzzer's
cov/ft), golden comparisons, findings (crash/leak/timeout/oom inputs, kept in --work when
given); writes the "fuzz_c" section of bench/RESULTS.md. Exit status 1 on any finding.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from results import HERE, write_section

from kws.errors import KwsError
from kws.toolchain import fuzz

# each harness's share of --executions (by its speed: the WAV reader and the recogniser run
# 20-30 thousand inputs a second under the sanitizers, the kernels and the front end a few)
SHARES = {"wav": 0.35, "detector": 0.30, "nn": 0.20, "mfcc": 0.15}
MAX_SECONDS = 3600                    # per harness, a safety stop


def campaign(name: str, engine: str, executions: int, work: Path, tables, seed: int,
             golden: int) -> dict:
    binary = fuzz.build_fuzzer(name, work / "build", engine, tables=work / "tables")
    seeds = fuzz.write_seeds(name, work / "seeds" / name, seed)
    artifacts = work / "artifacts" / name
    if engine == "libfuzzer":
        run = fuzz.run_libfuzzer(binary, work / "corpus" / name, runs=executions,
                                 seconds=MAX_SECONDS, seeds=seeds, artifacts=artifacts,
                                 seed=seed, max_len=fuzz.MAX_LENS[name])
    else:
        run = fuzz.run_driver(binary, random=executions, seed=seed,
                              seeds=sorted(seeds.iterdir()), artifacts=artifacts,
                              max_len=fuzz.MAX_LENS[name])
    compared, recorded, golden_error = 0, 0, ""
    if run.ok:
        try:
            if engine == "libfuzzer":
                kept = sorted((work / "corpus" / name).iterdir())
                rng = np.random.default_rng(seed)
                pick = rng.choice(len(kept), min(golden, len(kept)), replace=False)
                cases = fuzz.record(binary, [kept[i] for i in sorted(pick)])
            else:
                cases = fuzz.record(binary, sorted(seeds.iterdir()), random=golden,
                                    seed=seed + 1)
            recorded = len(cases)
            compared = fuzz.check_golden(name, cases, tables)
        except KwsError as e:
            golden_error = str(e)
    return {"name": name, "engine": engine, "run": run, "cov": run.coverage,
            "recorded": recorded, "compared": compared, "golden_error": golden_error}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--executions", type=int, default=10_000_000)
    p.add_argument("--harness", nargs="*", default=list(SHARES), choices=list(SHARES))
    p.add_argument("--engine", default="auto", choices=["auto", "libfuzzer", "driver"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--golden", type=int, default=2000,
                   help="corpus inputs per harness replayed against the golden models")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    missing = fuzz.libfuzzer_missing()
    engine = args.engine if args.engine != "auto" else ("driver" if missing else "libfuzzer")
    if engine == "libfuzzer" and missing:
        sys.exit(f"--engine libfuzzer: {missing}")
    share = sum(SHARES[h] for h in args.harness)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        tables = fuzz.write_default_tables(work / "tables")
        for name in args.harness:
            budget = int(round(args.executions * SHARES[name] / share))
            print(f"fuzz_c: {name}: {budget:,} executions ({engine})", flush=True)
            row = campaign(name, engine, budget, work, tables, args.seed, args.golden)
            r = row["run"]
            print(f"fuzz_c: {name}: {r.executions:,} in {r.seconds:.0f} s, corpus "
                  f"{r.corpus_files:,} files, golden {row['compared']:,}/{row['recorded']:,}, "
                  f"findings {len(r.findings)} {row['golden_error']}", flush=True)
            if not r.ok:
                print(r.log[-3000:], file=sys.stderr)
            rows.append(row)
    seconds = time.perf_counter() - started
    total = sum(row["run"].executions for row in rows)
    faults = sum(len(row["run"].findings) + (row["run"].exit_status != 0) +
                 bool(row["golden_error"]) for row in rows)
    command = "bench/fuzz_c.py" + (f" --executions {args.executions}"
                                   if args.executions != 10_000_000 else "") + \
        (f" --engine {args.engine}" if args.engine != "auto" else "") + \
        (f" --harness {' '.join(args.harness)}" if args.harness != list(SHARES) else "") + \
        (f" --seed {args.seed}" if args.seed else "") + \
        (f" --work {args.work}" if args.work else "")
    lines = ["## Fuzzing the C (firmware/tests/fuzz/, ASan + UBSan)", "",
             f"Command: `.venv/bin/python {command}` ({time.strftime('%Y-%m-%d')}, "
             f"{seconds / 60:.0f} min, one harness at a time on 2 cores shared with a training "
             f"job; at most {', '.join(f'{k} {v:,}' for k, v in fuzz.MAX_LENS.items())} bytes "
             f"per input). Engine: **{engine}** "
             + ("(clang 14 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -O1)"
                if engine == "libfuzzer" else "(the harnesses' seeded random driver, gcc, "
                "ASan + UBSan, -fno-sanitize-recover=all)")
             + "; seeds generated by kws.toolchain.fuzz.seed_inputs, corpora outside the "
             "repository. Golden: "
             f"up to {args.golden:,} corpus inputs per harness replayed with their calls "
             "recorded and compared with kws.golden (mfcc: frames; nn: outputs; detector: "
             "probabilities and events; wav: an independent Python chunk walk).", "",
             "| harness | executions | exec/s | corpus files | corpus bytes | cov / ft | "
             "golden compared / replayed | findings |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        r = row["run"]
        cov = f"{row['cov'][0]} / {row['cov'][1]}" if row["cov"] else "–"
        rate = r.executions / max(r.seconds, 1e-9)
        lines.append(f"| {row['name']} | {r.executions:,} | {rate:,.0f} | {r.corpus_files:,} "
                     f"| {r.corpus_bytes:,} | {cov} | "
                     f"{row['compared']:,} / {row['recorded']:,} | "
                     f"{len(r.findings) + bool(row['golden_error'])} |")
    lines += ["", f"Total: **{total:,} executions**, findings **{faults}**."]
    for row in rows:
        if row["run"].findings or row["golden_error"] or row["run"].exit_status:
            lines.append(f"- {row['name']}: exit {row['run'].exit_status}, "
                         f"{[str(p) for p in row['run'].findings]} {row['golden_error'][:300]}")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", "fuzz_c", text)
    if faults:
        sys.exit(1)


if __name__ == "__main__":
    main()
