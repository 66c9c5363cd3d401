"""`kws export-firmware RUN_DIR DEST [--library]` (kws/export_firmware.py): the generated files
and the library copied into a user's tree with a manifest, and the refusals."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kws.export_firmware import MANIFEST, export_firmware, library_files
from kws.errors import KwsError
from kws.toolchain.sources import FIRMWARE

CONSUMER = Path(__file__).parent / "cmake_consumer"


def test_the_model_and_the_library_with_a_manifest_of_every_file(verified_run, tmp_path):
    run_dir = verified_run[0]
    dest = tmp_path / "product"
    proc = subprocess.run([sys.executable, "-c", "from kws.app import cli; cli()",
                           "export-firmware", str(run_dir), str(dest), "--library"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((dest / MANIFEST).read_text())
    paths = {f["path"] for f in manifest["files"]}
    assert {"kws_model/kws_model.c", "kws_model/kws_model.h", "kws_model/kws_mfcc_tables.c",
            "kws_model/detector.json", "kws/CMakeLists.txt", "kws/sources.txt",
            "kws/cmake/kws_model.cmake", "kws/include/kws_wakeword.h"} <= paths
    library = {f"kws/{p.relative_to(FIRMWARE).as_posix()}" for p in library_files()}
    assert library <= paths and len(paths) == 8 + len(library)
    on_disk = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert on_disk == paths | {MANIFEST}
    for f in manifest["files"]:
        data = (dest / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    assert manifest["model_hash"] in (dest / "kws_model/kws_model.h").read_text()
    # a second export over its own files is fine (the manifest lists them)
    again = export_firmware(run_dir, dest, library=True)
    assert again["files"] == manifest["files"]


# The exported tree built with CMake (add_subdirectory): tests/test_cmake.py
# test_the_package_through_add_subdirectory_and_find_package.


def test_a_run_whose_export_did_not_finish_is_refused(verified_run, tmp_path):
    run = shutil.copytree(verified_run[0] / "firmware", tmp_path / "run" / "firmware").parent
    with pytest.raises(KwsError, match="export stage has not finished"):
        export_firmware(run, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    proc = subprocess.run([sys.executable, "-m", "kws.export_firmware", str(run),
                           str(tmp_path / "dest")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("error:") == 1, proc.stderr


def test_files_mixed_from_two_exports_are_refused(verified_run, tmp_path):
    run = shutil.copytree(verified_run[0], tmp_path / "run")
    data = run / "firmware" / "kws_model_data.c"
    data.write_text(data.read_text().replace("0", "1", 1))
    with pytest.raises(KwsError, match="files from different exports"):
        export_firmware(run, tmp_path / "dest")


def test_a_file_it_did_not_write_is_not_overwritten(verified_run, tmp_path):
    dest = tmp_path / "dest"
    (dest / "kws_model").mkdir(parents=True)
    (dest / "kws_model" / "kws_model.c").write_text("/* the user's own */\n")
    with pytest.raises(KwsError, match="no earlier export-firmware wrote"):
        export_firmware(verified_run[0], dest)
    assert (dest / "kws_model" / "kws_model.c").read_text() == "/* the user's own */\n"
    export_firmware(verified_run[0], dest, force=True)
    assert (dest / "kws_model" / "kws_model.c").read_bytes() == \
        (verified_run[0] / "firmware" / "kws_model.c").read_bytes()


def test_the_library_copy_is_every_file_the_source_list_names():
    from kws.toolchain import sources
    copied = set(library_files())
    assert set(sources.load().listed_files()) <= copied
    assert FIRMWARE / "CMakeLists.txt" in copied and FIRMWARE / "cmake/kwsConfig.cmake.in" in copied


def readme_makefile() -> str:
    """The plain-Makefile recipe of README's "Integrate into your firmware"."""
    text = (FIRMWARE.parent / "README.md").read_text()
    section = text[text.index("## Integrate into your firmware"):]
    section = section[section.index("**A plain Makefile**"):]
    return section[section.index("```make\n") + 8:section.index("```", section.index("```make") + 7)]


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                    reason="make or gcc not found")
def test_the_readme_makefile_recipe_builds_the_exported_tree(verified_run, tmp_path):
    dest = tmp_path / "my_fw" / "third_party"
    export_firmware(verified_run[0], dest, library=True)
    (dest.parent / "Makefile").write_text(readme_makefile())
    shutil.copy(CONSUMER / "main.c", dest.parent / "main.c")
    env = {**os.environ, "CC": "gcc", "CFLAGS": "-Wall -Wextra -Werror"}   # the recipe adds to them
    proc = subprocess.run(["make", "-s", "firmware"], cwd=dest.parent, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = subprocess.run([dest.parent / "firmware"], capture_output=True, text=True)
    assert out.returncode == 0 and "kws_app_init: 0" in out.stdout, out.stdout
