"""Stage `firmware`: the exported C on a Cortex-M under QEMU (kws.toolchain.cortex_m), checked bit for bit.

Reads:  firmware/ (export), data/, features/, quantize/
Writes: target/<board>/ (app.elf, app.map, qemu.log), target/gen/ (embedded test vectors)

The Cortex-M4 build (-O2, hard float) runs `firmware.clips` test clips and the stream they make
back to back (their zero padding filled with a quiet room's noise, as a microphone gives it:
kws.toolchain.cortex_m.without_digital_silence); features, logits and detection events must
equal the golden models'. Reports
flash and RAM by part and INSTRUCTIONS (not cycles: QEMU counts executed instructions) per MFCC
frame and per inference, and the figure an always-on product needs: instructions per second of
audio of the whole wake-word loop (front end + network + recogniser), measured over a pass of
the clip stream (kws.toolchain.cortex_m.stream_figure), for the app's path
(`insn_per_second_of_audio`: the streaming step for a streaming network) and the window model
(`insn_per_second_of_audio_window`, a second check on the window path in the same run), with
their share of an 80 MHz Cortex-M4 (a lower bound) and RAM and flash. The same checks run on
each of `firmware.figure_boards` (default the Cortex-M3), under "boards". Without the toolchain the stage reports why it did not run, unless
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
    _require_exact(result, f.board)
    final_elf = lambda r: str(final / Path(r["elf"]).relative_to(out))  # noqa: E731
    result["elf"] = final_elf(result)
    if result.get("window"):
        result["window"]["elf"] = final_elf(result["window"])
    boards = {}
    for board in [b for b in f.figure_boards if b != f.board]:
        other = target.run_on_target(Path(run_dir), out / "boards", board=board, n_clips=f.clips)
        _require_exact(other, board)
        if other.get("window"):
            other["window"]["elf"] = final_elf(other["window"])
        boards[board] = {k: other[k] for k in FIGURE_KEYS if k in other}
    return {"ran": True, **result, "boards": boards}


# what the report keeps of each figure board's run
FIGURE_KEYS = ("cpu", "streaming", "bitexact_clips", "total_clips", "stream_events_equal",
               "insn_per_second_of_audio", "insn_per_second_of_audio_first_pass",
               "insn_per_second_of_audio_window", "insn_one_inference", "insn_one_step",
               "insn_per_mfcc_frame", "flash_bytes", "ram_bytes", "stack_bytes", "window")


def _require_exact(result: dict, board: str) -> None:
    """Every clip and the stream's events bit-exact, on each path the board ran."""
    for path, r in (("", result), (" (window path)", result.get("window"))):
        if r is not None and (r["bitexact_clips"] != r["total_clips"]
                              or not r.get("stream_events_equal")):
            log = Path(r["elf"]).parent / "qemu.log"
            raise KwsError(f"firmware: on {board}{path}, {r['bitexact_clips']}/"
                           f"{r['total_clips']} clips bit-exact, stream events equal: "
                           f"{r.get('stream_events_equal')}; the end of QEMU's output:\n"
                           f"{log.read_text()[-3000:]}")


def summarize(entry: dict) -> str:
    if not entry.get("ran", True):
        return f"not run: {entry.get('reason')}"
    boards = "".join(f"; {b}: {e.get('insn_per_second_of_audio')} instructions per second of "
                     f"audio (window model {e.get('insn_per_second_of_audio_window')})"
                     for b, e in (entry.get("boards") or {}).items())
    return target.summarize(entry) + boards
