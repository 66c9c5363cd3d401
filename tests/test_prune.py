"""Structured pruning (kws.training.prune) and the prune stage."""
import json
import re

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import compose_cfg, copy_run
from kws.errors import KwsError
from kws.pipeline import run_pipeline
from kws.settings import validate_settings
from kws.training.models import build_model, count_params
from kws.training.prune import (_consumer, candidate_ratios, choose_channels, conv_units,
                                group_widths, importance, keep_counts, prune_channels,
                                round_schedule, search_ratio)

CFG = {"name": "tiny", "first_channels": 12, "first_kernel": [5, 4], "first_stride": [2, 1],
       "blocks": [{"channels": 8, "stride": [2, 2]}, {"channels": 12, "stride": [1, 1]}],
       "dropout": 0.0, "time_padding": "same"}


def _random_model(seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(OmegaConf.create(CFG), 5)
    for unit in conv_units(model):                # BatchNorm with non-trivial statistics
        bn = unit[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(0.3, 0.6)          # no channel dead on every clip
    return model.eval()


def _clips(n: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 1, 49, 10, generator=torch.Generator().manual_seed(seed))


def test_keeping_every_channel_gives_the_same_network():
    model = _random_model()
    keep = [np.arange(w) for w in group_widths(CFG)]
    small, cfg = prune_channels(model, CFG, keep, 5)
    x = _clips()
    assert cfg == CFG and torch.equal(small.eval()(x), model(x))


def test_channels_nobody_reads_are_cut_exactly_and_scored_zero_by_wanda():
    """Zero the consumer's weights on some channels of every group: the activation-aware score
    of exactly those is 0, and the network without them computes the same logits."""
    model = _random_model()
    unused = [np.array([1, 4, 7]), np.array([0, 5]), np.array([2, 3, 11])]
    with torch.no_grad():
        for g, idx in enumerate(unused):
            consumer, _ = _consumer(model, g)
            consumer.weight[:, idx] = 0
    x = _clips()
    scores = importance(model, "wanda", x)
    for s, idx in zip(scores, unused):
        assert np.all(s[idx] == 0) and np.all(np.delete(s, idx) > 0)
    counts = [w - len(i) for w, i in zip(group_widths(CFG), unused)]
    keep = choose_channels(scores, counts)
    for k, idx, w in zip(keep, unused, group_widths(CFG)):
        assert list(k) == sorted(set(range(w)) - set(idx.tolist()))
    small, cfg = prune_channels(model, CFG, keep, 5)
    assert group_widths(cfg) == counts
    assert count_params(small) < count_params(model)
    torch.testing.assert_close(small.eval()(x), model(x), rtol=1e-5, atol=1e-5)


def test_filter_norm_scores_rank_the_folded_filters():
    model = _random_model()
    with torch.no_grad():
        conv_units(model)[0][0].weight[3] *= 100      # one first-conv filter far the largest
    for kind in ("l1", "l2"):
        scores = importance(model, kind)
        assert [len(s) for s in scores] == group_widths(CFG)
        assert int(np.argmax(scores[0])) == 3
    with pytest.raises(KwsError, match="prune.importance"):
        importance(model, "random")


def test_channel_counts_stay_multiples_of_the_lane_count():
    assert keep_counts([64, 64, 48], 0.375, 4) == [40, 40, 32]
    assert keep_counts([64, 8], 0.9, 4) == [8, 4]              # never fewer than the multiple
    assert all(c % 4 == 0 for r in np.linspace(0.05, 0.95, 19)
               for c in keep_counts([64, 64, 64, 64, 64], r, 4))
    assert round_schedule(0.5, 2) == [0.25, 0.5]
    ratios = candidate_ratios([64, 32], 4)
    assert ratios[0] == 0 and len(ratios) == 16
    assert keep_counts([64, 32], ratios[-1], 4) == [4, 4]


def test_budget_search_finds_the_least_pruning_that_fits():
    ratios = [i / 10 for i in range(10)]
    calls = []

    def cost(r):
        calls.append(r)
        return 1000 * (1 - r)

    index, measured = search_ratio(ratios, cost, 640)
    assert ratios[index] == 0.4 and measured[index] == 600 and len(calls) <= 5
    assert search_ratio(ratios, cost, 50)[0] == -1


@pytest.mark.parametrize("override, key", [("prune.ratio=1.0", "prune.ratio"),
                                           ("prune.ratio=0", "prune.ratio"),
                                           ("prune.budget.kind=arena_bytes", "prune.budget"),
                                           ("prune.budget.kind=ram", "prune.budget.kind"),
                                           ("prune.multiple=0", "prune.multiple")])
def test_bad_prune_settings_are_named(override, key):
    with pytest.raises(KwsError, match=key.replace(".", r"\.")):
        validate_settings(compose_cfg(["prune=l1", override]))


PRUNE_TINY = ["prune=l1", "prune.ratio=0.5", "prune.rounds=1", "prune.finetune_epochs=1",
              "prune.calibration_clips=64", "quant.qat_epochs=1"]


@pytest.fixture(scope="module")
def pruned_run(trained_run, tmp_path_factory):
    """The tiny distilled run, pruned (half the channels, wanda), quantised, exported, verified
    on the host and checked on the Cortex-M when the toolchain is there."""
    base, _, overrides = trained_run
    run_dir = copy_run(base, tmp_path_factory.mktemp("prune") / "run")
    overrides = overrides + PRUNE_TINY + [
        "prune.importance=wanda", "verify.stream_seconds=30", "firmware.clips=2",
        "firmware.figure_boards=[]", "stages=[prune,quantize,export,verify,firmware]"]
    return run_dir, run_pipeline(compose_cfg(overrides), run_dir), overrides


def test_the_pruned_network_flows_through_to_the_device_bit_exact(pruned_run):
    run_dir, report, _ = pruned_run
    prune = report["prune"]
    assert prune["channels_before"] == [8, 8] and prune["channels"] == [4, 4]
    assert prune["params"] < prune["student_params"] and prune["macs"] < prune["student_macs"]
    assert json.loads((run_dir / "prune" / "model.json").read_text())["first_channels"] == 4
    quantize = report["quantize"]
    assert quantize["float_source"] == "prune"
    assert quantize["golden_vs_tflm_bitexact"] == 1.0
    verify = report["verify"]
    assert verify["bitexact_clips"] == verify["total_clips"] and verify["stream_events_equal"]
    layers = json.loads((run_dir / "quantize" / "layers.json").read_text())
    assert [row["shape"][-1] for row in layers if row["kind"] != "dense"] == [4, 4, 4, 4]
    firmware = report["firmware"]
    if firmware.get("ran"):                          # Cortex-M4 under QEMU, when installed
        assert firmware["bitexact_clips"] == firmware["total_clips"] == 2
        assert firmware["exit_status"] == 0


def test_a_budget_no_ratio_reaches_is_named(trained_run, tmp_path):
    base, _, overrides = trained_run
    run_dir = copy_run(base, tmp_path / "run")
    cfg = compose_cfg(overrides + PRUNE_TINY + ["prune.budget.kind=flash_bytes",
                                                "prune.budget.value=10", "stages=[prune]"])
    with pytest.raises(KwsError, match=r"prune\.budget\.value=10 \(flash_bytes\): no pruning "
                                       r"ratio reaches it.*reachable budgets are >= \d+"):
        run_pipeline(cfg, run_dir)
    assert not (run_dir / "prune").exists()


def test_a_budget_the_student_already_meets_is_named(trained_run, tmp_path):
    base, _, overrides = trained_run
    run_dir = copy_run(base, tmp_path / "run")
    cfg = compose_cfg(overrides + PRUNE_TINY + ["prune.budget.kind=arena_bytes",
                                                "prune.budget.value=10000000", "stages=[prune]"])
    with pytest.raises(KwsError, match="already costs"):
        run_pipeline(cfg, run_dir)


def test_an_arena_budget_picks_the_least_pruning_that_fits(trained_run, tmp_path):
    """8 channels need a bigger arena than 4: a budget between the two gives 4, from scratch."""
    base, _, overrides = trained_run
    run_dir = copy_run(base, tmp_path / "run")
    common = overrides + PRUNE_TINY + ["prune.budget.kind=arena_bytes", "stages=[prune]"]
    with pytest.raises(KwsError, match=r"already costs (\d+)") as info:
        run_pipeline(compose_cfg(common + ["prune.budget.value=10000000"]), run_dir)
    unpruned = int(re.search(r"already costs (\d+)", str(info.value)).group(1))
    cfg = compose_cfg(common + [f"prune.budget.value={unpruned - 1}", "prune.from_scratch=true"])
    entry = run_pipeline(cfg, run_dir)["prune"]
    assert entry["method"] == "from scratch" and entry["channels"] == [4, 4]
    assert entry["budget"]["cost"] < unpruned == entry["budget"]["unpruned_cost"]
    model = json.loads((run_dir / "prune" / "model.json").read_text())
    assert model["name"].endswith("-scratch") and model["blocks"][0]["channels"] == 4


@pytest.mark.slow      # make test-slow; keeps the default suite under 15 min
def test_prune_sweep_experiment_writes_the_table_and_the_plot(trained_run, tmp_path):
    """kws experiment=prune_sweep, cut down to pruned and from-scratch at one ratio."""
    import subprocess
    import sys
    from conftest import ROOT
    base, _, overrides = trained_run
    args = ["experiment=prune_sweep", *overrides, *PRUNE_TINY[2:], "prune=l1,scratch",
            "prune.ratio=0.5", f"prune.student_dir={base}", f"distill.teacher_dir={base}",
            "stages=[data,features,prune,quantize,export]", f"hydra.sweep.dir={tmp_path}"]
    proc = subprocess.run([sys.executable, "-m", "kws.app", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "prune_sweep.json").read_text())
    assert sorted(r["method"] for r in rows) == ["from scratch", "pruned (l1)"]   # no base report
    assert all(r["channels"] == [4, 4] and 0 <= r["int8_test_acc"] <= 1 for r in rows)
    assert "| int8 test acc |" in (tmp_path / "prune_sweep.md").read_text()
    assert (tmp_path / "prune_sweep.png").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.glob("*_0.5")) == ["l1_0.5", "scratch_0.5"]


def test_the_costs_a_budget_uses_are_the_ones_export_and_firmware_report(pruned_run):
    from kws.artifacts import RunDir
    from kws.measure.network_cost import memory_costs, m4_instructions
    from kws.toolchain.cortex_m import missing_tools
    run_dir, report, _ = pruned_run
    run = RunDir(run_dir)
    layers, quant = run.golden_network(), run.quant()
    costs = memory_costs(layers, (quant["frames"], quant["n_out"], 1))
    assert costs == {"arena_bytes": report["export"]["ram_bytes"],
                     "flash_bytes": report["export"]["weights_bytes"]}
    if missing_tools():
        pytest.skip(f"Cortex-M4 instructions need {', '.join(missing_tools())}")
    x = run.features("test")["features"][0][..., None]
    insn = m4_instructions(layers, x)
    assert abs(insn - report["firmware"]["insn_per_inference"]) <= 0.02 * insn
