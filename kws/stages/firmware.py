"""Stage `firmware`: the exported C on a Cortex-M under QEMU (kws.toolchain.cortex_m), checked bit for bit.

Reads:  firmware/ (export), data/, features/, quantize/
Writes: target/<board>/ (app.elf, app.map, qemu.log), target/gen/ (embedded test vectors)

The Cortex-M4 build (-O2, hard float) runs `firmware.clips` test clips and the stream they make
back to back; features, logits and detection events must equal the golden models'. Reports
flash and RAM by part and INSTRUCTIONS (not cycles: QEMU counts executed instructions) per MFCC
frame and per inference. Without the toolchain the stage reports why it did not run, unless
firmware.required=true, which makes that an error.
"""
from __future__ import annotations

from pathlib import Path

from kws.toolchain import cortex_m as target
from kws.toolchain.host import sources_fingerprint
from kws.errors import KwsError

CONFIG_KEYS = ("firmware",)
OUTPUT = "target"
REQUIRES = ("data", "features", "quantize", "export")


def input_fingerprint(cfg) -> str:
    return sources_fingerprint()            # the firmware/ C it builds


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    f = cfg.firmware
    final = Path(run_dir) / OUTPUT
    out = Path(out) if out else final
    missing = target.missing_tools()
    if missing:
        if f.required:
            raise KwsError(target.toolchain_hint(missing))
        return {"ran": False, "reason": target.toolchain_hint(missing)}
    result = target.run_on_target(Path(run_dir), out, board=f.board, n_clips=f.clips)
    if result["bitexact_clips"] != result["total_clips"] or not result.get("stream_events_equal"):
        raise KwsError(f"firmware: on {f.board}, {result['bitexact_clips']}/"
                       f"{result['total_clips']} clips bit-exact, stream events equal: "
                       f"{result.get('stream_events_equal')}; the end of QEMU's output:\n"
                       f"{(out / f.board / 'qemu.log').read_text()[-3000:]}")
    result["elf"] = str(final / Path(result["elf"]).relative_to(out))
    return {"ran": True, **result}


def summarize(entry: dict) -> str:
    if not entry.get("ran", True):
        return f"not run: {entry.get('reason')}"
    return target.summarize(entry)
