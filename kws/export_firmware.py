"""`kws export-firmware RUN_DIR DEST [--library]`: a finished run's generated C copied into a
user's firmware tree, with a manifest of what was written.

    DEST/kws_model/        the export stage's files (RUN_DIR/firmware): kws_model.{c,h},
                           kws_model_data.{c,h}, kws_model_settings.h, kws_mfcc_tables.{c,h},
                           detector.json: kws_add_model(<target> DEST/kws_model) in CMake
    DEST/kws/              with --library: firmware/ itself (the library's sources and headers,
                           the app, the demo, the MPS2 port, the test harnesses, sources.txt,
                           CMakeLists.txt and cmake/): add_subdirectory(DEST/kws)
    DEST/kws_manifest.json what was written: generator, API version, model hash, and per file
                           its path (relative to DEST), size and sha256

Refuses, with one error naming the problem: a RUN_DIR whose export stage has not finished (no
stamp), generated files whose hash is not the one kws_model.h records (a folder mixed from two
exports), and a file in DEST that a previous export-firmware did not write (its manifest does
not list it; --force overwrites). Every file is written atomically (kws.io), the manifest last.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from kws import __version__
from kws.artifacts import RunDir
from kws.emit.limits import API_VERSION
from kws.emit.model_info import HASHED, model_hash
from kws.errors import KwsError
from kws.io import copy_file, read_json, write_json
from kws.toolchain.sources import FIRMWARE

MANIFEST = "kws_manifest.json"
MODEL_DIR, LIBRARY_DIR = "kws_model", "kws"
GENERATED = (*HASHED, "kws_model.h", "detector.json")
LIBRARY_SUFFIXES = {".c", ".h", ".ld", ".cmake", ".in"}
LIBRARY_NAMES = {"CMakeLists.txt", "sources.txt"}


def library_files() -> list[Path]:
    """firmware/'s files for --library: C, headers, linker script, the CMake files, the list."""
    return sorted(p for p in FIRMWARE.rglob("*") if p.is_file()
                  and (p.suffix in LIBRARY_SUFFIXES or p.name in LIBRARY_NAMES)
                  and "__pycache__" not in p.parts)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _recorded_hash(model_dir: Path) -> str:
    for line in (model_dir / "kws_model.h").read_text().splitlines():
        if line.startswith("#define KWS_MODEL_HASH "):
            return line.split(None, 2)[2].strip().strip('"')
    raise KwsError(f"{model_dir}/kws_model.h has no KWS_MODEL_HASH: exported by an older kws; "
                   "re-run the export stage (kws hydra.run.dir=RUN_DIR stages=[export])")


def plan(run_dir: Path, library: bool) -> tuple[dict[str, Path], str]:
    """(DEST-relative path → source file, model hash) after checking the run."""
    run = RunDir(run_dir)
    if not run.root.is_dir():
        raise KwsError(f"{run.root}: no such run directory")
    stamps = read_json(run.stamps, default={})
    if "export" not in stamps:
        raise KwsError(f"{run.root}: the export stage has not finished there (no 'export' stamp "
                       f"in {run.stamps.name}): run it first, e.g. kws hydra.run.dir={run.root} "
                       "stages=[export]")
    missing = [n for n in GENERATED if not (run.export / n).is_file()]
    if missing:
        raise KwsError(f"{run.export}: {', '.join(missing)} missing although the export stage "
                       "finished: re-run it (kws hydra.run.dir=RUN_DIR stages=[export])")
    digest = model_hash({n: (run.export / n).read_text() for n in HASHED})
    if digest != _recorded_hash(run.export):
        raise KwsError(f"{run.export}: the generated files hash to {digest}, kws_model.h records "
                       f"{_recorded_hash(run.export)}: files from different exports; re-run the "
                       "export stage")
    files = {f"{MODEL_DIR}/{n}": run.export / n for n in GENERATED}
    if library:
        files.update({f"{LIBRARY_DIR}/{p.relative_to(FIRMWARE).as_posix()}": p
                      for p in library_files()})
    return files, digest


def export_firmware(run_dir: Path, dest: Path, library: bool = False,
                    force: bool = False) -> dict:
    """Copies the files (see the module docstring); returns the manifest."""
    dest = Path(dest)
    files, digest = plan(run_dir, library)
    previous = read_json(dest / MANIFEST, default={}) if (dest / MANIFEST).is_file() else {}
    ours = {f.get("path") for f in previous.get("files", [])} if isinstance(previous, dict) \
        else set()
    if not force:
        foreign = sorted(rel for rel in files if (dest / rel).exists() and rel not in ours)
        if foreign:
            raise KwsError(f"{dest}: {len(foreign)} file(s) exist that no earlier export-firmware "
                           f"wrote ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}"
                           f"; not in {MANIFEST}): remove them or pass --force")
    written = []
    for rel, source in sorted(files.items()):
        copy_file(source, dest / rel)
        written.append({"path": rel, "bytes": (dest / rel).stat().st_size,
                        "sha256": _sha256(dest / rel)})
    manifest = {"generator": f"kws {__version__}", "api_version": API_VERSION,
                "model_hash": digest, "run_dir": str(Path(run_dir).resolve()),
                "library": library, "model_dir": MODEL_DIR,
                "library_dir": LIBRARY_DIR if library else None, "files": written}
    write_json(dest / MANIFEST, manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="kws export-firmware",
        description="Copy a finished run's generated C (and, with --library, the kws firmware "
                    "library and its CMake files) into your firmware tree, with a manifest.")
    p.add_argument("run_dir", type=Path, help="a run directory whose export stage finished")
    p.add_argument("dest", type=Path, help=f"your tree: writes DEST/{MODEL_DIR}/, "
                   f"DEST/{LIBRARY_DIR}/ (--library) and DEST/{MANIFEST}")
    p.add_argument("--library", action="store_true",
                   help=f"also copy firmware/ (sources, headers, CMake) into DEST/{LIBRARY_DIR}/")
    p.add_argument("--force", action="store_true",
                   help="overwrite files that no earlier export-firmware wrote")
    a = p.parse_args(argv)
    try:
        m = export_firmware(a.run_dir, a.dest, a.library, a.force)
    except KwsError as exc:
        print(f"kws export-firmware: error: {exc}", file=sys.stderr)
        return 2
    print(f"kws export-firmware: {len(m['files'])} files into {a.dest} (model {m['model_hash']}, "
          f"API {m['api_version']}); manifest {a.dest / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
