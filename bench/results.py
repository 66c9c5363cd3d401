"""Shared by the bench scripts: where things are, how RESULTS.md sections are rewritten, and the
best of repeated timings."""
from __future__ import annotations

import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE.parent.parent / "shared" / "data" / "speech_commands_v0.02_subset"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the text between <!-- name:begin --> and <!-- name:end --> (or append it)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def best_of(repeats: int, work) -> tuple[float, object]:
    """(fastest wall-clock seconds of `repeats` calls of work(), the last call's result)."""
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - started)
    return min(times), out
