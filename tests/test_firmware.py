"""The firmware on Cortex-M under QEMU (kws.toolchain.cortex_m): bit-exact, instruction counts, sizes, faults."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kws.toolchain import cortex_m as target
from kws.errors import KwsError
from kws.toolchain.results import read_results

MISSING = target.missing_tools()
needs_toolchain = pytest.mark.skipif(bool(MISSING), reason=target.toolchain_hint(MISSING))

# Fires on any keyword-topped inference (no averaging: one inference per window), so the short
# stream of test clips on the target has events to compare.
EAGER_DETECTOR = ["detector.threshold=0", "detector.min_count=1", "detector.suppression_ms=300",
                  "detector.average_window_ms=40"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, quantized_run):
    """The tiny quantised run, exported (no host verify: that is test_verify's)."""
    from conftest import compose_cfg, copy_run
    from kws.pipeline import run_pipeline
    base, overrides = quantized_run
    run_dir = copy_run(base, tmp_path_factory.mktemp("target") / "run")
    run_pipeline(compose_cfg(overrides + EAGER_DETECTOR + [
        "stages=[data,features,student,quantize,export]"]), run_dir)
    return run_dir


def keyword_clips(run_dir, n: int = 8) -> list[int]:
    """Test clips whose golden logits top a keyword first (so the stream has detections even
    from a barely trained model), then others, n in all."""
    from kws.golden.network import run_network
    from kws.artifacts import RunDir
    features = np.load(run_dir / "features" / "test.npz")["features"]
    top = run_network(RunDir(run_dir).golden_network(), features[..., None]).argmax(1)
    keyword = np.flatnonzero(top >= 2)                 # labels 0, 1: _silence_, _unknown_
    rest = np.flatnonzero(top < 2)
    chosen = list(keyword[:n // 2]) + list(rest[:n - min(len(keyword), n // 2)])
    return sorted(int(i) for i in chosen), int(min(len(keyword), n // 2))


@pytest.fixture(scope="module")
def m4(exported, tmp_path_factory):
    out = tmp_path_factory.mktemp("target_m4")
    clips, n_keyword = keyword_clips(exported)
    result = target.run_on_target(exported, out, board="mps2-an386", clip_indices=clips)
    return {**result, "n_keyword_clips": n_keyword}


def test_missing_toolchain_names_the_debian_packages(monkeypatch):
    monkeypatch.setattr(target.shutil, "which", lambda name: None)
    missing = target.missing_tools()
    assert missing == list(target.TOOLS)
    with pytest.raises(KwsError) as e:
        target.check_toolchain()
    message = str(e.value)
    assert "qemu-system-arm" in message and "arm-none-eabi-gcc" in message
    assert ("apt-get install --no-install-recommends gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi qemu-system-arm") in message


CHECK = {"insn_per_tick": 40, "calibration_ticks": 5130, "calibration_instructions": 205200,
         "clips": 8, "clips_bitexact": 7, "events_expected": 3, "events_found": 3,
         "events_equal": 3, "inferences": 176, "insn_per_mfcc_frame": 92054,
         "insn_per_inference": 917105, "insn_one_mfcc_frame": 92040, "insn_one_inference": 917080,
         "stack_bytes": 480, "stack_reserved_bytes": 32768, "streaming": 1,
         "sample_rate": 16000, "stream_samples": 128000, "ticks_stream": 2_600_000,
         "ticks_stream_warm": 2_000_000, "inferences_warm": 100, "insn_one_step": 90000}


def test_check_results_reads_the_target_checks_numbers():
    arrays = {k: np.array(v, np.uint64) for k, v in CHECK.items()}
    r = target.check_results(arrays, "r.kwsr")
    assert (r["bitexact_clips"], r["total_clips"], r["insn_per_tick"]) == (7, 8, 40)
    assert r["stream_events_equal"] is True and r["stream_inferences"] == 176
    assert r["stream_events"] == 3
    assert (r["insn_per_mfcc_frame"], r["insn_per_inference"]) == (92054, 917105)
    assert (r["stack_bytes"], r["stack_reserved_bytes"]) == (480, 32768)
    # 2e6 ticks x 40 instructions over 8 s of audio; 10 M/s of an 80 MHz M4
    assert r["streaming"] is True and r["stream_seconds_measured"] == 8.0
    assert r["insn_per_second_of_audio"] == 10_000_000
    assert r["insn_per_second_of_audio_first_pass"] == 13_000_000
    assert r["share_of_80mhz_m4_lower_bound"] == 0.125
    arrays["events_found"] = np.array(4, np.uint64)           # an extra event
    assert target.check_results(arrays)["stream_events_equal"] is False
    del arrays["clips_bitexact"]
    with pytest.raises(KwsError, match="r.kwsr: no scalar 'clips_bitexact'"):
        target.check_results(arrays, "r.kwsr")


def flash_fill(map_file: Path) -> int:
    """Bytes of alignment fill the linker put between input sections in flash."""
    import re
    text = map_file.read_text()
    text = text[text.find("Linker script and memory map"):]
    return sum(int(size, 16) for addr, size in
               re.findall(r"^ \*fill\*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", text, re.M)
               if int(addr, 16) < 0x20000000)               # mps2.ld: flash below RAM


@needs_toolchain
def test_cortex_m4_is_bit_exact_and_counts_instructions(m4):
    r = m4
    assert r["exit_status"] == 0
    assert r["bitexact_clips"] == r["total_clips"] == len(r["clip_indices"]) == 8
    assert r["stream_events_equal"] is True
    if r["n_keyword_clips"]:        # the eager detector fires on a keyword-topped inference
        assert r["stream_events"] > 0
    # -icount shift=0: 1 ns per instruction, SysTick at 25 MHz → a tick is 40 instructions.
    assert r["insn_per_tick"] == 40
    assert r["insn_per_mfcc_frame"] > 0 and r["insn_per_inference"] > 0
    assert abs(r["insn_one_mfcc_frame"] - r["insn_per_mfcc_frame"]) < 0.05 * r["insn_per_mfcc_frame"]
    assert 0 < r["stack_bytes"] < r["stack_reserved_bytes"]
    parts = r["parts"]
    assert {"model_data", "model", "kernels", "mfcc", "detector", "port", "test_data"} <= set(parts)
    # The parts add up to the sections but for the linker's alignment fill in flash, the test
    # vectors left out.
    flash_parts = sum(p["flash"] for name, p in parts.items() if name != "test_data")
    assert r["flash_bytes"] - flash_parts == flash_fill(Path(r["elf"]).parent / "app.map")
    assert parts["test_data"]["flash"] >= 8 * 16000 * 2
    assert r["ram_bytes"] == r["ram_static_bytes"] + r["stack_bytes"]
    assert parts["model"]["ram"] >= 4                     # the activation arena


@needs_toolchain
def test_instruction_counts_repeat_exactly(m4):
    status, text = target.run_qemu("mps2-an386", Path(m4["elf"]))
    again = target.check_results(read_results(target.results_path(Path(m4["elf"]))))
    assert status == 0
    for key in ("insn_per_mfcc_frame", "insn_per_inference", "insn_one_mfcc_frame",
                "insn_one_inference", "stack_bytes", "bitexact_clips"):
        assert again[key] == m4[key], key


@needs_toolchain
def test_without_a_result_file_name_the_check_fails_and_says_so(m4):
    """The program takes its result file's name from the semihosting command line; alone
    (only the program's name) it writes nothing, rather than over the ELF."""
    import subprocess
    elf = Path(m4["elf"])
    cmd = [a if not a.startswith("enable=on") else f"enable=on,target=native,arg={elf.name}"
           for a in target.qemu_command("mps2-an386", elf)]
    target.results_path(elf).unlink()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=elf.parent, timeout=120)
    assert proc.returncode == 2
    assert "names no result file" in proc.stdout + proc.stderr
    assert not target.results_path(elf).exists() and elf.stat().st_size > 0


@needs_toolchain
def test_cortex_m3_is_bit_exact(exported, tmp_path):
    r = target.run_on_target(exported, tmp_path, board="mps2-an385", n_clips=4)
    assert r["cpu"] == "Cortex-M3" and r["exit_status"] == 0
    assert r["bitexact_clips"] == r["total_clips"] == 4
    assert r["stream_events_equal"] is True


@needs_toolchain
def test_a_wrong_expected_logit_fails_with_status_1(exported, tmp_path):
    vectors = target.expected_vectors(exported, 2)
    vectors["logits"] = vectors["logits"].copy()
    vectors["logits"][1, 3] = np.int8(vectors["logits"][1, 3] ^ 1)
    target.write_test_data(vectors, tmp_path / "gen")
    elf = target.build_elf("mps2-an386", exported / "firmware", tmp_path / "gen", tmp_path / "b")
    status, text = target.run_qemu("mps2-an386", elf)
    assert status == 1
    r = target.check_results(read_results(target.results_path(elf)))
    assert (r["bitexact_clips"], r["total_clips"]) == (1, 2)
    assert "MISMATCH clip 1 logit 3" in text                 # what people read in qemu.log


@needs_toolchain
def test_a_fault_is_reported_and_exits_non_zero(tmp_path):
    source = tmp_path / "fault_main.c"
    source.write_text('#include "semihost.h"\n'
                      'int main(void)\n{\n    sh_puts("before\\n");\n'
                      '    __asm__ volatile("udf #7");\n    return 0;\n}\n')
    elf = target.build_program("mps2-an386", (), tmp_path / "b", extra_sources=(source,))
    status, text = target.run_qemu("mps2-an386", elf, timeout_s=30)
    assert status == 3
    assert "before" in text and "FAULT: exception 3" in text and "CFSR 0x00010000" in text
    assert not target.results_path(elf).exists()


@needs_toolchain
def test_unknown_board_is_named(tmp_path):
    with pytest.raises(KwsError, match="mps2-an386"):
        target.compile_and_link("lm3s6965evb", [], [], tmp_path)


def test_pick_clips_spreads_over_the_split():
    assert target.pick_clips(62, 8).tolist() == [0, 9, 17, 26, 35, 44, 52, 61]
    assert target.pick_clips(3, 8).tolist() == [0, 1, 2]
    with pytest.raises(KwsError):
        target.pick_clips(10, 0)



def test_firmware_stage_reports_the_target(exported, quantized_run, monkeypatch):
    from conftest import compose_cfg
    from kws.pipeline import run_pipeline
    _, overrides = quantized_run
    cfg = compose_cfg(overrides + EAGER_DETECTOR + ["stages=[firmware]"])
    if MISSING:
        entry = run_pipeline(cfg, exported)["firmware"]
        assert entry["ran"] is False and "apt-get install" in entry["reason"]
        return
    entry = run_pipeline(cfg, exported)["firmware"]
    assert entry["ran"] and entry["board"] == "mps2-an386"
    assert entry["bitexact_clips"] == entry["total_clips"] == 8
    assert entry["insn_per_mfcc_frame"] > 0 and entry["insn_per_inference"] > 0
    assert entry["flash_bytes"] > 0 and entry["ram_bytes"] > entry["stack_bytes"] > 0
    assert {"model_data", "mfcc", "kernels", "detector", "port"} <= set(entry["parts"])


def test_firmware_stage_without_toolchain_says_what_to_install(exported, quantized_run,
                                                               monkeypatch):
    from conftest import compose_cfg
    from kws.stages import firmware
    _, overrides = quantized_run
    monkeypatch.setattr(target, "missing_tools", lambda: ["qemu-system-arm"])
    entry = firmware.run(compose_cfg(overrides + ["stages=[firmware]"]), exported)
    assert entry["ran"] is False and "qemu-system-arm" in entry["reason"]
    with pytest.raises(KwsError, match="apt-get install"):
        firmware.run(compose_cfg(overrides + ["firmware.required=true"]), exported)


def test_the_measured_stream_has_no_digital_silence():
    """Zero padding (>= 10 ms of exact zeros) becomes a quiet room's noise, seeded by the clip
    index; speech, and zeros that are only a zero crossing, stay as they are."""
    clips = np.zeros((2, 4000), np.int16)
    clips[:, 1000:3000] = 1000
    clips[:, 2000:2100] = 0                                 # 100 samples: below SILENCE_RUN
    filled = target.without_digital_silence(clips, np.array([5, 9]))
    assert np.array_equal(filled[:, 1000:3000], clips[:, 1000:3000])
    for pad in (filled[:, :1000], filled[:, 3000:]):
        assert np.count_nonzero(pad) > 0.9 * pad.size
        assert 0.8 * target.FLOOR_NOISE_RMS < np.sqrt(np.mean(pad.astype(float) ** 2)) \
            < 1.2 * target.FLOOR_NOISE_RMS
    assert not np.array_equal(filled[0], filled[1])          # each clip its own noise
    assert np.array_equal(filled, target.without_digital_silence(clips, np.array([5, 9])))
    assert not clips[:, :1000].any()                          # the input is not changed
