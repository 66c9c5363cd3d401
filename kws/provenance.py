"""What made a run's artifacts: the versions of kws, Python, the packages whose arithmetic or
file formats the artifacts depend on, and the compilers and emulator the C is built and run with.
The pipeline records it in report.json ("environment") on every run."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("kws", "numpy", "torch", "scipy", "librosa", "soundfile", "hydra-core", "omegaconf",
            "tflite-micro", "onnx", "onnxruntime", "cmsisdsp", "espeakng-loader", "piper-tts")
PROGRAMS = {"cc": ("gcc", "--version"), "arm-none-eabi-gcc": ("arm-none-eabi-gcc", "--version"),
            "qemu-system-arm": ("qemu-system-arm", "--version"), "espeak-ng": ("espeak-ng", "--version"),
            "flite": ("flite", "--version")}


def package_versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def program_version(command: str, flag: str) -> str | None:
    """The first line a program prints for its version flag; None when it is not installed."""
    path = shutil.which(command)
    if path is None:
        return None
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [l.strip() for l in (out.stdout or out.stderr).strip().splitlines() if l.strip()]
    named = [l for l in lines if "version" in l.lower()]
    return (named or lines or [None])[0]


def source_revision() -> str | None:
    """The git commit of this kws checkout (+ "-dirty" with uncommitted changes), if it is one."""
    from kws.config import REPO_DIR
    if not (REPO_DIR / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        head = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO_DIR), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment() -> dict:
    cc = os.environ.get("CC", "gcc")
    programs = {name: program_version(cc if name == "cc" else command, flag)
                for name, (command, flag) in PROGRAMS.items()}
    return {"kws_revision": source_revision(), "python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "packages": package_versions(), "programs": programs}
