"""Atomic file writes: write to a temp file beside the target, then rename.

A crash or a bad input never leaves a half-written artifact behind: readers see the old file or
the complete new one. Temp names carry TEMP_MARK, so the next run can tell leftovers of a killed
run (`.train.npz.kws-tmp-k3j2a8b1.npz`) from real files and remove them (remove_stale_temps).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from kws.errors import KwsError

TEMP_MARK = ".kws-tmp-"
# Write failures that are the machine's state, not a bug: one clear error naming the file.
_WRITE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                 errno.EFBIG: "the file is too large for its file system",
                 errno.EROFS: "the file system is read-only",
                 errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


def _read_umask() -> int:
    # os.umask can only be read by setting it: done once, at import, before any thread writes.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
_FULL_BYTES = 1 << 20                # less free space than this after a failed write: disk full
FILE_MODE = 0o666 & ~_UMASK          # what open() would give; mkstemp gives 0600
DIR_MODE = 0o777 & ~_UMASK           # what mkdir would give; mkdtemp gives 0700


def write_error(target: Path, exc: OSError) -> KwsError | None:
    """A KwsError naming `target` when `exc` is a failure to write it (disk full, ...)."""
    if exc.errno not in _WRITE_ERRNOS:
        return None
    where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != target else ""
    return KwsError(f"cannot write {target}{where}: {_WRITE_ERRNOS[exc.errno]} "
                    f"([Errno {exc.errno}] {exc.strerror})")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success rename it over the target."""
    target = Path(target)
    tmp_path = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}",
                                   suffix=suffix or target.suffix, dir=target.parent)
        tmp_path = Path(tmp)
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        error = write_error(target, exc) if _about(exc, target) else None
        if error is None:
            raise
        raise error from None
    except (RuntimeError, ValueError) as exc:
        # libsndfile ("System error.") and torch.save ("unexpected pos ...") hide ENOSPC.
        if tmp_path is None or not _disk_full(target.parent):
            raise
        raise KwsError(f"cannot write {target}: the disk is full ({exc})") from None
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def _disk_full(folder: Path) -> bool:
    return shutil.disk_usage(folder).free < _FULL_BYTES


def _about(exc: OSError, target: Path) -> bool:
    """Whether `exc` concerns writing `target`: a failed write names no file; a failed
    mkdir, mkstemp or rename names the folder, the temp file or the target."""
    if exc.filename is None:
        return True
    path = Path(exc.filename)
    return path in (target, target.parent) or path.name.startswith(f".{target.name}{TEMP_MARK}")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp folder beside `target`; on success it replaces `target` whole."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TEMP_MARK}", dir=target.parent))
    tmp.chmod(DIR_MODE)
    try:
        yield tmp
        replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def replace_dir(new: Path, target: Path) -> None:
    """Put folder `new` at `target` by renames, removing the folder that was there."""
    new, target = Path(new), Path(target)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}{TEMP_MARK}old-", dir=target.parent))
        os.replace(target, old)                       # an empty folder is replaced by rename
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old)


def remove_stale_temps(folder: Path, recursive: bool = False) -> list[Path]:
    """Delete the temp files and folders a killed run left in `folder`; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in (folder.rglob(".*") if recursive else folder.glob(".*"))
             if TEMP_MARK in p.name]
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    return found


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy `source` to `target` through a temp file: a kill mid-copy leaves no half file."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text())


# Every member of an .npz gets this timestamp (zip's earliest), so the same arrays give the same
# bytes on every run: np.savez stamps members with the time of writing.
NPZ_MEMBER_TIME = (1980, 1, 1, 0, 0, 0)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """np.savez's layout (np.load reads it), byte-reproducible: members in the given order,
    uncompressed, with a fixed timestamp."""
    with atomic_path(path, suffix=".npz") as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=NPZ_MEMBER_TIME)
            with archive.open(member, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def save_figure(path: str | os.PathLike, fig) -> None:
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
