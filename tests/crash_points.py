"""Crash at an exact write: the n-th write of a file named NAME is cut short (MODE "mid": half
its bytes written) or completed (MODE "after"), then the process dies.

Writes go through kws.io.atomic_path (a temp file renamed over the target) or shutil.copyfile;
both are hooked. In a test, `install(spec, Killed)` raises Killed (a BaseException: no stage
catches it); as a script, the process sends itself SIGKILL, a real kill -9:

    python tests/crash_points.py mid:last.pt:2 [kws overrides ...]
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path


class Killed(BaseException):
    """The stand-in for SIGKILL inside a test process."""


def install(spec: str, die=None) -> dict:
    """Hook the writes for `spec` = MODE:NAME:N; returns a dict whose "fired" says if it did.
    die: called at the crash point (default: SIGKILL this process)."""
    import kws.io
    mode, name, nth = spec.split(":")
    if mode not in ("mid", "after"):
        raise ValueError(f"{spec}: mode must be mid or after")
    nth, state = int(nth), {"seen": 0, "fired": False}
    real_atomic_path, real_copyfile = kws.io.atomic_path, shutil.copyfile

    def kill():
        state["fired"] = True
        if die is None:
            os.kill(os.getpid(), signal.SIGKILL)
        raise die()

    def hit(path) -> bool:
        if Path(path).name != name or state["fired"]:
            return False
        state["seen"] += 1
        return state["seen"] == nth

    @contextlib.contextmanager
    def atomic_path(target, suffix=""):
        fire = hit(target)
        with real_atomic_path(target, suffix) as tmp:
            yield tmp
            if fire and mode == "mid":
                data = Path(tmp).read_bytes()
                Path(tmp).write_bytes(data[:len(data) // 2])
                kill()
        if fire:
            kill()

    def copyfile(src, dst, *args, **kwargs):
        fire = hit(dst)
        if fire and mode == "mid":
            data = Path(src).read_bytes()
            Path(dst).write_bytes(data[:len(data) // 2])
            kill()
        result = real_copyfile(src, dst, *args, **kwargs)
        if fire:
            kill()
        return result

    kws.io.atomic_path = atomic_path
    shutil.copyfile = copyfile
    # Modules that imported atomic_path by name before the hook (in a test process).
    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "") or "").startswith("kws.") and \
                getattr(module, "atomic_path", None) is real_atomic_path:
            module.atomic_path = atomic_path
    state["restore"] = lambda: _restore(real_atomic_path, real_copyfile, atomic_path)
    return state


def _restore(real_atomic_path, real_copyfile, hooked) -> None:
    import kws.io
    kws.io.atomic_path = real_atomic_path
    shutil.copyfile = real_copyfile
    for module in list(sys.modules.values()):
        if getattr(module, "atomic_path", None) is hooked:
            module.atomic_path = real_atomic_path


if __name__ == "__main__":
    install(sys.argv[1])
    sys.argv = ["kws", *sys.argv[2:]]
    from kws.app import cli
    cli()
