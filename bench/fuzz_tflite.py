"""Fuzz the .tflite reader (kws.imports.tflite.read_tflite): mutated copies of builder-made
models must either read (a mutation may leave a valid model) or give one KwsError naming the
file -- never another exception, a hang or a crash.

    .venv/bin/python bench/fuzz_tflite.py [--cases 20000] [--seed 0] [--no-write]

Seeds: DS-CNN-S (bench/kernels.py's network) and a small streamable network with softmax, written
by kws.emit.tflite. Mutations, chosen at random per case: truncation at a random length, 1-8
random byte flips, a random 4-byte field overwritten with an extreme int32 (0, -1, 2^31 - 1,
-2^31, 2^16), a random span duplicated or deleted. Writes the "fuzz_tflite" section of
bench/RESULTS.md: cases, outcomes, executions per second, the mutations that read as a model.
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kernels import golden_network
from results import HERE, write_section

from kws.emit.tflite import to_tflite
from kws.errors import KwsError
from kws.imports.tflite import read_tflite

EXTREMES = (0, -1, 2**31 - 1, -2**31, 1 << 16)


def seeds() -> dict[str, bytes]:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_golden_streaming import random_network
    from kws.golden.network import QuantParams, Softmax
    from kws.golden.softmax import softmax_params
    small = random_network(np.random.default_rng(1), time_padding="valid")
    small.append(Softmax("sm", *softmax_params(small[-1].output.scale), small[-1].output,
                         QuantParams(1 / 256, -128)))
    return {"dscnn_s": to_tflite(golden_network(0), (49, 10)),
            "small_valid_softmax": to_tflite(small, (49, 10))}


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    b = bytearray(data)
    kind = int(rng.integers(5))
    if kind == 0:
        return "truncate", bytes(b[:int(rng.integers(0, len(b)))])
    if kind == 1:
        for i in rng.integers(0, len(b), int(rng.integers(1, 9))):
            b[i] ^= int(rng.integers(1, 256))
        return "flip", bytes(b)
    if kind == 2:
        i = int(rng.integers(0, len(b) - 4)) & ~3
        b[i:i + 4] = int(EXTREMES[int(rng.integers(len(EXTREMES)))] & 0xFFFFFFFF).to_bytes(4, "little")
        return "field", bytes(b)
    i, n = int(rng.integers(0, len(b))), int(rng.integers(1, 64))
    if kind == 3:
        return "duplicate", bytes(b[:i] + b[i:i + n] + b[i:])
    return "delete", bytes(b[:i] + b[i + n:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    models = seeds()
    outcomes = collections.Counter()
    read_as_model = collections.Counter()
    failures = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.tflite"
        names = list(models)
        for case in range(args.cases):
            name = names[case % len(names)]
            kind, data = mutate(models[name], rng)
            path.write_bytes(data)
            try:
                read_tflite(path)
                outcomes["read as a model"] += 1
                read_as_model[kind] += 1
            except KwsError as exc:
                outcomes["KwsError"] += 1
                if str(path) not in str(exc):
                    failures.append((case, kind, f"error without the file name: {exc}"))
            except Exception as exc:                       # a finding
                outcomes["other exception"] += 1
                failures.append((case, kind, f"{type(exc).__name__}: {exc}"))
    seconds = time.perf_counter() - started
    lines = [f"## Fuzzing the .tflite reader (kws-import)", "",
             f"Command: `.venv/bin/python bench/fuzz_tflite.py --cases {args.cases} --seed "
             f"{args.seed}` ({time.strftime('%Y-%m-%d')}, {seconds:.0f} s, "
             f"{args.cases / seconds:,.0f} files/s). Seeds: {', '.join(f'{k} ({len(v):,} B)' for k, v in models.items())}, "
             "written by kws.emit.tflite; mutations: truncation, 1-8 byte flips, an int32 field "
             "overwritten with an extreme, a span duplicated or deleted.", "",
             "| outcome | cases |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(outcomes.items())]
    lines += ["", f"Read as a model (a mutation that kept it valid, e.g. a flipped weight): "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(read_as_model.items())) + ".",
              f"Findings (another exception, or an error that does not name the file): "
              f"**{len(failures)}**."]
    lines += [f"- case {c} ({k}): {m}" for c, k, m in failures[:10]]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", "fuzz_tflite", text)
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
