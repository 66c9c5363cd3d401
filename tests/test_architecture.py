"""The house rules, checked: what each part may import, one home per shared number."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from conftest import ROOT
from kws.config import KwsConfig, compose

KWS = ROOT / "kws"
STDLIB = set(sys.stdlib_module_names)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: relative import; use `from kws.… import …`")
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names
                         if node.module == "kws" or node.module.startswith("kws."))
    return names


def test_golden_models_import_only_numpy_and_the_standard_library():
    allowed_kws = ("kws.golden", "kws.errors")
    for path in sorted((KWS / "golden").glob("*.py")):
        for name in imports_of(path):
            top = name.split(".")[0]
            ok = (top in STDLIB or top == "numpy" or top == "__future__"
                  or name.startswith(allowed_kws))
            assert ok, f"{path.relative_to(ROOT)} imports {name}: golden/ is numpy + stdlib only"


def test_the_run_directory_owner_needs_no_stage_torch_or_tts():
    for name in imports_of(KWS / "artifacts.py"):
        top = name.split(".")[0]
        assert top in STDLIB or top in ("numpy", "__future__") or name.startswith(
            ("kws.golden", "kws.errors", "kws.io", "kws.audio.speech_commands")), name


def test_no_stage_imports_another_stage():
    for path in sorted((KWS / "stages").glob("*.py")):
        others = {n for n in imports_of(path) if n.startswith("kws.stages")}
        assert not others, f"{path.relative_to(ROOT)} imports {sorted(others)}: stages talk " \
                           "through the run directory (kws.artifacts), never to each other"


def test_integer_stages_load_without_torch_or_espeak():
    code = ("import sys, kws.stages.stream, kws.stages.export, kws.stages.verify, "
            "kws.stages.firmware; print(sorted(m for m in ('torch', 'espeakng_loader', "
            "'kws.audio.espeak', 'kws.training.loop') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"importing the integer stages loaded {out}"


def test_limits_shared_with_the_c_are_generated_from_python():
    from kws.emit.limits import limits_header
    header = ROOT / "firmware" / "include" / "kws_limits.h"
    assert header.read_text() == limits_header(), \
        f"{header} is stale: regenerate it with `.venv/bin/python -m kws.emit.limits`"


# Where the default composition deliberately differs from the schema's defaults: the default
# teacher is dscnn_l (the schema's ModelConfig is the student) and the default data set is the
# synthetic one, which keeps 15% of its voices for validation and for test; recorded speech
# trains with the synthetic set's training voices (conf/data/speech_commands.yaml).
PRESET_CHOICES = {(): ("teacher_model.", "data.source", "data.validation_percent",
                       "data.testing_percent"),
                  ("data=speech_commands", "data.root=x"): ("teacher_model.", "data.source",
                                                            "data.root", "data.with_synthetic")}


def _differences(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key), b.get(key), f"{path}{key}.")
    elif a != b:
        yield path.rstrip("."), a, b


def test_schema_defaults_agree_with_the_yaml():
    schema = OmegaConf.to_container(OmegaConf.structured(KwsConfig))
    for overrides, allowed in PRESET_CHOICES.items():
        composed = OmegaConf.to_container(compose(list(overrides)))
        wrong = [d for d in _differences(schema, composed) if not d[0].startswith(allowed)]
        assert not wrong, f"dataclass defaults contradict conf/ ({overrides}): {wrong}"


def test_tests_do_not_reach_into_the_benchmarks():
    bench_modules = {p.stem for p in (ROOT / "bench").glob("*.py")} | {"bench"}
    for path in sorted((ROOT / "tests").glob("*.py")):
        tops = {name.split(".")[0] for name in imports_of(path)}
        assert not tops & bench_modules, f"{path.name} imports a bench script"
        edits = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Attribute) and n.attr in ("insert", "append")
                 and ast.unparse(n.value) == "sys.path"]
        assert not edits, f"{path.name} edits sys.path"
