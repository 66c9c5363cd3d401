"""The streaming path on Cortex-M under QEMU, for a tiny valid-in-time student: the target check
runs kws_model_step (clips and the wake-word loop's stream) bit-exact on the M4 and the M3, the
window path beside it in the same run, and the instructions per second of audio measured over
the stream for both."""
from __future__ import annotations

import pytest

from kws.toolchain import cortex_m as target
from test_firmware import EAGER_DETECTOR, keyword_clips

MISSING = target.missing_tools()
needs_toolchain = pytest.mark.skipif(bool(MISSING), reason=target.toolchain_hint(MISSING))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, quantized_valid_run):
    from conftest import compose_cfg, copy_run
    from kws.pipeline import run_pipeline
    base, overrides = quantized_valid_run
    run_dir = copy_run(base, tmp_path_factory.mktemp("target_streaming") / "run")
    run_pipeline(compose_cfg(overrides + EAGER_DETECTOR + [
        "stages=[data,features,student,quantize,export]"]), run_dir)
    return run_dir


def _check(r: dict, cpu: str) -> None:
    assert r["cpu"] == cpu and r["exit_status"] == 0
    assert r["streaming"] is True
    assert r["bitexact_clips"] == r["total_clips"] == len(r["clip_indices"])
    assert r["stream_events_equal"] is True
    w = r["window"]
    assert w["exit_status"] == 0 and w["bitexact_clips"] == w["total_clips"]
    assert w["stream_events_equal"] is True
    # the warm pass: one inference per 4 frames (of 20 ms) on both paths
    assert r["stream_inferences_warm"] == w["stream_inferences_warm"] == \
        r["stream_samples"] // 320 // 4 > 0
    assert r["insn_per_second_of_audio_window"] == w["insn_per_second_of_audio"]
    # the step recomputes only the new rows: cheaper than the window model every 4 frames
    assert 0 < r["insn_per_second_of_audio"] < w["insn_per_second_of_audio"]
    assert r["share_of_80mhz_m4_lower_bound"] == round(r["insn_per_second_of_audio"] / 80e6, 4)
    assert r["insn_one_step"] > 0
    # each ELF holds only its path's model: the streaming one has no window arena
    assert r["parts"]["model"]["ram"] != w["parts"]["model"]["ram"]


@needs_toolchain
def test_cortex_m4_streaming_path_bit_exact_and_measured(exported, tmp_path):
    clips, n_keyword = keyword_clips(exported)
    r = target.run_on_target(exported, tmp_path, board="mps2-an386", clip_indices=clips)
    _check(r, "Cortex-M4F")
    if n_keyword:
        assert r["stream_events"] > 0


@needs_toolchain
def test_cortex_m3_streaming_path_bit_exact_and_measured(exported, tmp_path):
    clips, _ = keyword_clips(exported)
    r = target.run_on_target(exported, tmp_path, board="mps2-an385", clip_indices=clips)
    _check(r, "Cortex-M3")
