"""What a golden int8 network costs on the device, from the same generator the export stage runs:
arena bytes (the planned activation memory of kws_model_invoke), flash bytes of its constants
(kws_model_data: weights, biases, multipliers, shifts) and Cortex-M4 instructions per inference
(the generated C on the MPS2-AN386 under QEMU, kws.toolchain.model_bench). The prune stage uses
these to meet a budget; each figure is the one the export and firmware stages report for the
same network."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from kws.emit.model_c import (constant_bytes, layer_shapes, model_data_sources, model_sources,
                              plan_memory)
from kws.errors import KwsError

COSTS = ("m4_instructions", "arena_bytes", "flash_bytes")
M4_BOARD = "mps2-an386"


def memory_costs(layers: list, input_dims: tuple[int, int, int]) -> dict[str, int]:
    """arena_bytes and flash_bytes (the generated model's constant data)."""
    shapes = layer_shapes(layers, input_dims)
    return {"arena_bytes": int(plan_memory(shapes).arena_bytes),
            "flash_bytes": constant_bytes(shapes)["portable"]}


def m4_instructions(layers: list, x: np.ndarray) -> int:
    """Instructions of one kws_model_invoke() on the Cortex-M4 for int8 input x [H, W, C]; the
    target's logits are checked against the golden model's on the way."""
    from kws.toolchain import cortex_m as target
    from kws.toolchain.model_bench import bench_golden_network
    missing = target.missing_tools()
    if missing:
        raise KwsError(f"measuring Cortex-M4 instructions needs {', '.join(missing)}: "
                       f"{target.toolchain_hint(missing)}")
    shapes = layer_shapes(layers, x.shape)
    data_h, data_c, _ = model_data_sources(shapes)
    model_h, model_c = model_sources(shapes, plan_memory(shapes))
    with tempfile.TemporaryDirectory(prefix="kws_cost_") as tmp:
        model_dir = Path(tmp) / "model"
        model_dir.mkdir()
        for name, text in (("kws_model_data.h", data_h), ("kws_model_data.c", data_c),
                           ("kws_model.h", model_h), ("kws_model.c", model_c)):
            (model_dir / name).write_text(text)
        r = bench_golden_network(M4_BOARD, model_dir, layers, x[None], Path(tmp))
    if int(r["mismatches"]) != 0:
        raise KwsError("the generated network's output on the Cortex-M4 differs from the golden "
                       "model's while measuring its cost")
    return int(r["total_instructions"])


def network_cost(kind: str, layers: list, x: np.ndarray) -> int:
    """One of COSTS for the golden network `layers` on int8 input x [H, W, C]."""
    if kind == "m4_instructions":
        return m4_instructions(layers, x)
    if kind in ("arena_bytes", "flash_bytes"):
        return memory_costs(layers, x.shape)[kind]
    raise KwsError(f"unknown cost {kind!r}: expected one of {', '.join(COSTS)}")
