"""Fetching the Speech Commands archive: resumable download, checksum, safe extraction."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from tqdm import tqdm

from kws.errors import KwsError
from kws.io import atomic_dir, write_error

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def _open(url: str, offset: int):
    """Open `url` at byte `offset`: (stream, total size or None, whether the offset was honoured)."""
    if url.startswith("file:"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        stream = open(path, "rb")
        stream.seek(offset)
        return stream, path.stat().st_size, True
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    response = urllib.request.urlopen(request, timeout=60)
    partial = response.status == 206
    length = int(response.headers.get("Content-Length") or 0)
    return response, ((offset if partial else 0) + length) or None, partial


def fetch(url: str, dest: Path) -> Path:
    """Download `url` to `dest`, resuming a partial `dest.part` left by an interrupted run."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    try:
        stream, total, resumed = _open(url, have)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KwsError(f"data.url={url}: cannot download ({exc})") from None
    have = have if resumed else 0
    try:
        with stream, open(part, "ab" if have else "wb") as out, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name) as bar:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    except OSError as exc:
        raise write_error(part, exc) or KwsError(f"data.url={url}: the download broke off "
                                                 f"({exc}); run again to resume it") from None
    if total is not None and part.stat().st_size != total:
        raise KwsError(f"data.url={url}: the download stopped at {part.stat().st_size} of "
                       f"{total} bytes; run again to resume it")
    os.replace(part, dest)
    return dest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download_and_extract(url: str, root: Path, sha256: str | None, cache_dir: Path) -> None:
    """Make `root` hold the extracted archive at `url`; verify `sha256` when given."""
    archive = cache_dir / "downloads" / Path(url.split("?")[0]).name
    if not archive.exists():
        fetch(url, archive)
    if sha256:
        actual = sha256_of(archive)
        if actual != sha256.lower():
            bad = archive.with_name(archive.name + ".bad")
            shutil.move(archive, bad)
            raise KwsError(f"{url}: checksum mismatch (data.sha256={sha256}, got {actual}); "
                           f"the download was moved to {bad}")
    log.info("extracting %s into %s", archive, root)
    try:
        with tarfile.open(archive) as tar, atomic_dir(root) as tmp:
            tar.extractall(tmp, filter="data")
    except OSError as exc:
        error = write_error(root, exc)
        if error is not None:                      # the archive is fine; the disk is not
            raise error from None
        raise _set_aside(archive, url, exc) from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise _set_aside(archive, url, exc) from None


def _set_aside(archive: Path, url: str, exc: Exception) -> KwsError:
    """Move a truncated or corrupt archive out of the cache, so a retry downloads it again."""
    bad = archive.with_name(archive.name + ".bad")
    os.replace(archive, bad)
    return KwsError(f"{archive}: not a readable tar archive, truncated or corrupt ({exc}); "
                    f"moved to {bad}, so the next run downloads {url} again")
