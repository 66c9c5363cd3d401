"""A short run of every C fuzz harness (firmware/tests/fuzz/, kws.toolchain.fuzz) under ASan +
UBSan: no fault, no failed check, and the calls it made equal the golden models. With clang's
libFuzzer (Debian: clang libclang-rt-14-dev) the runs are coverage-guided; without it the
harnesses' own seeded random driver (gcc) runs instead, and the libFuzzer test skips saying
so. The long campaign is bench/fuzz_c.py."""
from __future__ import annotations

import numpy as np
import pytest

from kws.errors import KwsError
from kws.toolchain import fuzz

MISSING = fuzz.libfuzzer_missing()
ENGINE = "driver" if MISSING else "libfuzzer"
# executions per harness: a second or two each under the sanitizers
RUNS = {"mfcc": 1000, "nn": 1500, "detector": 4000, "wav": 10000}
RECORDED = 150                 # corpus inputs compared with the golden models, per harness


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_c")
    return folder, fuzz.write_default_tables(folder / "tables")


@pytest.fixture(scope="module")
def built(work):
    """Builds on first use, one per (harness, engine, defines): the builds are most of a short
    run's time (the kernels under the sanitizers: ~10 s on 2 busy cores)."""
    folder, _ = work
    cache = {}

    def get(name, engine=ENGINE, defines=()):
        key = (name, engine, tuple(defines))
        if key not in cache:
            cache[key] = fuzz.build_fuzzer(name, folder, engine, tables=folder / "tables",
                                           defines=list(defines) or None)
        return cache[key]
    return get


@pytest.mark.parametrize("name", sorted(fuzz.HARNESSES))
def test_a_short_run_finds_nothing_and_equals_golden(work, built, name):
    folder, tables = work
    binary = built(name)
    seeds = fuzz.write_seeds(name, folder / f"seeds_{name}")
    if ENGINE == "libfuzzer":
        run = fuzz.run_libfuzzer(binary, folder / f"corpus_{name}", runs=RUNS[name], seeds=seeds,
                                 artifacts=folder / f"artifacts_{name}",
                                 max_len=fuzz.MAX_LENS[name])
        kept = sorted((folder / f"corpus_{name}").iterdir())
        assert run.corpus_files == len(kept) > 0
        rng = np.random.default_rng(0)
        inputs = [kept[i] for i in rng.choice(len(kept), min(len(kept), RECORDED), replace=False)]
        cases = fuzz.record(binary, sorted(seeds.iterdir()) + inputs)
    else:
        run = fuzz.run_driver(binary, random=RUNS[name], seeds=sorted(seeds.iterdir()),
                              artifacts=folder / f"artifacts_{name}",
                              max_len=fuzz.MAX_LENS[name])
        cases = fuzz.record(binary, sorted(seeds.iterdir()), random=RECORDED, seed=1)
    assert run.ok, f"{name}: exit {run.exit_status}, findings {run.findings}:\n{run.log}"
    assert run.executions >= RUNS[name]
    compared = fuzz.check_golden(name, cases, tables)
    # most recorded calls are in range and have a golden twin (nn: not refused ones, ADD only
    # at TFLite's left shift; detector: not when the frame counter wrapped; mfcc: a frame)
    assert compared >= 0.3 * len(cases) > 0, (compared, len(cases))


def test_the_engine_finds_a_planted_fault(work, built):
    """The detector harness built with KWS_FUZZ_PLANT reads past an array when the input asks
    for 7 classes and a threshold >= 200: the run must stop with a finding and keep its input."""
    folder, _ = work
    binary = built("detector", defines=["KWS_FUZZ_PLANT"])
    if ENGINE == "libfuzzer":
        run = fuzz.run_libfuzzer(binary, folder / "corpus_planted", runs=200000,
                                 artifacts=folder / "artifacts_planted")
    else:
        run = fuzz.run_driver(binary, random=200000, artifacts=folder / "artifacts_planted")
    assert not run.ok and run.exit_status != 0 and len(run.findings) == 1
    assert "out of bounds" in run.log or "overflow" in run.log, run.log
    with pytest.raises(KwsError, match="out of bounds|overflow"):
        fuzz.record(binary, run.findings)                  # the kept input replays the fault


def test_a_difference_from_golden_is_reported(work, built):
    folder, _ = work
    binary = built("nn")
    inputs = fuzz.write_seeds("nn", folder / "seeds_golden")
    cases = fuzz.record(binary, sorted(inputs.iterdir()))
    assert fuzz.check_golden("nn", cases) > 0
    case = next(c for c in cases if "out" in c and len(c["out"])
                and fuzz.NN_KINDS[int(c["kind"])] != "add")
    case["out"] = case["out"].copy()
    case["out"][0] ^= 1
    with pytest.raises(KwsError, match="differs from the golden model"):
        fuzz.check_golden("nn", cases)


@pytest.mark.skipif(MISSING is not None, reason=f"libFuzzer: {MISSING}")
def test_the_seeded_driver_runs_where_libfuzzer_does_too(work, built):
    """With clang present the gcc driver (the fallback) is kept working as well."""
    folder, _ = work
    binary = built("wav", "driver")
    run = fuzz.run_driver(binary, random=20000, seeds=sorted(
        fuzz.write_seeds("wav", folder / "seeds_driver").iterdir()))
    assert run.ok and run.executions == 20000 + len(fuzz.seed_inputs("wav")), run.log


def test_the_faults_found_stay_fixed(work, built, tmp_path):
    """The empty input runs the NN harness's regressions (kws_softmax_s8 over 600 equal values,
    whose output exponent reaches 32; kws_mean_s8 refusing a clamp of 128 and an input offset of
    INT32_MAX); the WAV reader must skip a chunk of 2^32 - 1 bytes (2^32 with its pad byte, once
    wrapped to 0) rather than read its payload as chunks. (The MFCC harness ends every input
    with a push of INT32_MAX samples: its short run above keeps that fix.)"""
    _, tables = work
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    cases = fuzz.record(built("nn"), [empty])
    assert fuzz.NN_KINDS[int(cases[0]["kind"])] == "softmax" and len(cases[0]["out"]) == 600
    assert fuzz.check_golden("nn", cases) == len(cases) >= 1   # libFuzzer may run it twice
    riff = fuzz.seed_inputs("wav")["plain_mode0"][1:]
    fmt_end = 12 + 8 + 16
    data = riff[fmt_end:]
    huge = b"junk" + (0xFFFFFFFF).to_bytes(4, "little")          # then what looks like data
    for mode in (0, 1):
        case = tmp_path / f"huge_chunk{mode}"
        case.write_bytes(bytes([mode]) + riff[:fmt_end] + huge + data)
        recorded = fuzz.record(built("wav"), [case])
        assert [int(c["accepted"]) for c in recorded] == [0] * len(recorded)
        assert fuzz.check_golden("wav", recorded) == len(recorded) >= 1
