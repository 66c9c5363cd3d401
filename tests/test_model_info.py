"""The versioned generated API (kws.emit.model_info, firmware/include/kws_model_info.h): the
version, generator and model hash in kws_model.h, kws_model_info in kws_model.c, and the
library's check at init, with mismatches planted and with tables of another front end."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import compose_cfg
from kws import __version__
from kws.emit.limits import API_VERSION
from kws.emit.mfcc_c import write_c_tables
from kws.emit.model_info import HASHED, add_model_info, model_hash
from kws.golden.mfcc_tables import make_tables
from kws.stages import export
from kws.toolchain.host import build_sections, run_tool
from kws.toolchain.sources import FIRMWARE

APP = ("mfcc", "nn", "detector", "wakeword", "model-info", "model", "model-data", "app")
CONSUMER_MAIN = FIRMWARE.parent / "tests/cmake_consumer/main.c"


def header_value(model_dir, name: str) -> str:
    m = re.search(rf"^#define {name} (.+)$", (model_dir / "kws_model.h").read_text(), re.M)
    assert m, name
    return m.group(1).strip().strip('"')


def test_kws_model_h_carries_version_generator_and_the_hash_of_the_files(verified_run):
    model = verified_run[0] / "firmware"
    assert int(header_value(model, "KWS_MODEL_API_VERSION")) == API_VERSION
    assert header_value(model, "KWS_MODEL_GENERATOR") == f"kws {__version__}"
    digest = header_value(model, "KWS_MODEL_HASH")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert digest == model_hash({n: (model / n).read_text() for n in HASHED})
    assert verified_run[1]["export"]["model_hash"] == digest


def test_the_hash_is_deterministic_and_follows_every_hashed_file(verified_run, tmp_path):
    run_dir, _, overrides = verified_run
    again = tmp_path / "again"
    export.run(compose_cfg(overrides), run_dir, again)
    for name in sorted(p.name for p in (run_dir / "firmware").iterdir() if p.is_file()):
        assert (again / name).read_bytes() == (run_dir / "firmware" / name).read_bytes(), name
    files = {n: (again / n).read_text() for n in HASHED}
    base = model_hash(files)
    for name in HASHED:
        changed = dict(files, **{name: files[name].replace("0", "1", 1)})
        assert model_hash(changed) != base, name


def test_add_model_info_refuses_a_header_without_its_guard():
    from kws.errors import KwsError
    with pytest.raises(KwsError, match="include guard"):
        add_model_info({"kws_model.h": "no guard\n"}, None, 49, 4)


def test_the_c_check_returns_the_status_naming_each_planted_mismatch(verified_run, tmp_path):
    model = verified_run[0] / "firmware"
    # without the sanitizers here (ctest's model_check runs the same program)
    tool = build_sections(tmp_path / "kws_model_check_test", APP[:-1] + ("tests-host-model-check",),
                          model=model, tables=model)
    out = run_tool(tool)
    for line in ("ok generated model: 0", "ok api version: -3", "ok init, api version: -3",
                 "ok the network alone (no tables): 0", "ok api version, no tables: -3",
                 "ok coefficients: -4", "ok init, window frames: -4", "ok classes: -5",
                 "ok init, classes: -5", "ok detector settings' classes: -5", "PASSED: 0 failures"):
        assert line in out, out


def test_an_app_linked_with_tables_of_another_front_end_refuses_to_start(verified_run, tmp_path):
    """kws_app_init over the run's model but log-mel tables (40 outputs per frame, not 10):
    KWS_ERR_MODEL_FEATURES (-4), before any audio is processed."""
    model = shutil.copytree(verified_run[0] / "firmware", tmp_path / "model")
    write_c_tables(make_tables(compose_cfg(["features=logmel"]).features, 16000), model)
    from kws.toolchain import sources
    from kws.toolchain.host import build
    b = sources.build(*APP, model=model, tables=model)
    tool = build(tmp_path / "consumer", [*b.sources, CONSUMER_MAIN], b.includes)
    proc = subprocess.run([tool], capture_output=True, text=True)
    assert proc.returncode == 1 and "kws_app_init: -4 (model sha256:" in proc.stdout, proc.stdout
