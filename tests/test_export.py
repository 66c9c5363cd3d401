"""Stage export: the memory plan and the generated C (files, arena, settings)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from kws.artifacts import RunDir
from kws.emit.memplan import MemoryPlan, Placement, check_plan, lower_bound, plan_chain
from kws.emit.model_c import is_packable, layer_shapes


def test_plan_chain_meets_the_lower_bound():
    sizes = [490, 16000, 4160, 4160, 4160, 64, 12]
    plan = plan_chain([f"t{i}" for i in range(len(sizes))], sizes)
    assert plan.lower_bound_bytes == lower_bound(sizes) == 20160
    assert plan.arena_bytes == 20160                     # every size already a multiple of 4
    odd = plan_chain(["a", "b", "c"], [5, 7, 3])
    assert odd.lower_bound_bytes == 12 and odd.arena_bytes == 16     # 8 + 8 after alignment
    assert all(t.offset % 4 == 0 for t in odd.tensors)


def test_check_plan_rejects_overlap_and_overflow():
    with pytest.raises(ValueError, match="overlap"):
        check_plan(MemoryPlan(16, 16, (Placement("a", 0, 8), Placement("b", 4, 8))))
    with pytest.raises(ValueError, match="outside"):
        check_plan(MemoryPlan(16, 16, (Placement("a", 0, 8), Placement("b", 12, 8))))


def test_export_writes_the_firmware_files_and_a_minimal_arena(verified_run):
    run_dir, report, _ = verified_run
    entry = report["export"]
    assert {"kws_model.c", "kws_model.h", "kws_model_data.c", "kws_model_data.h",
            "kws_model_settings.h", "kws_mfcc_tables.c", "kws_mfcc_tables.h"} <= set(entry["files"])
    # The lower bound itself, but for rounding two tensors up to 4-byte offsets.
    assert entry["ram_lower_bound_bytes"] <= entry["ram_bytes"] <= entry["ram_lower_bound_bytes"] + 6
    with np.load(run_dir / "quantize" / "model_int8.npz") as f:
        constants = sum(f[k].size * (1 if f[k].dtype == np.int8 else 4) for k in f.files
                        if not k.endswith(("/io_quant", "/stride")))
    dense_mult_shift = 8                                  # the dense layer's are immediates
    assert entry["weights_bytes"] == constants - dense_mult_shift
    # DSP builds hold the packable layers' weights as int16 pairs: twice their int8 bytes
    shapes = layer_shapes(RunDir(run_dir).golden_network(), (49, 10, 1))
    packable = sum(s.layer.weights.size for s in shapes if is_packable(s))
    assert packable > 0 and entry["weights_bytes_packed"] == entry["weights_bytes"] + packable
    settings = (run_dir / "firmware" / "kws_model_settings.h").read_text()
    assert re.search(r"#define KWS_THRESHOLD\s+0\b", settings)
    assert '"_silence_"' in settings
