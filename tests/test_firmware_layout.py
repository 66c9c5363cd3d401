"""The firmware by role, and its one source list (firmware/sources.txt, kws.toolchain.sources):
every .c under firmware/ is listed exactly once, in a section of its role; no Python names a
firmware source by hand; the size parts and the fingerprints come from the list."""
from __future__ import annotations

import ast
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT
from kws.errors import KwsError
from kws.toolchain import cortex_m, host, sources
from kws.toolchain.sources import FIRMWARE, SourceList

LIBRARY = {"mfcc", "nn", "detector", "wakeword", "model-info"}
# the front end's source, as the list names it (this file lists no firmware source either)
MFCC_C = sources.load().firmware_sources("mfcc")[0].relative_to(FIRMWARE).as_posix()


def _listed(listing: SourceList) -> Counter:
    return Counter(p.resolve() for p in listing.listed_files())


def test_every_firmware_source_is_listed_exactly_once():
    listed = _listed(sources.load())
    on_disk = {p.resolve() for p in FIRMWARE.rglob("*") if p.suffix in (".c", ".ld")}
    assert not [p for p, n in listed.items() if n > 1], "listed twice"
    assert sorted(on_disk - set(listed)) == [], "not in firmware/sources.txt"
    assert sorted(set(listed) - on_disk) == []


def test_each_folder_holds_one_role():
    """src/: the library; app/: the application; examples/: the demo and the board app;
    ports/<board>/: the board only; tests/: every test and benchmark harness; include/: public
    headers only."""
    listing = sources.load()
    role = {}
    for name, section in listing.sections.items():
        for e in section.sources:
            if e.key is None:
                role[e.path] = name
    for path, name in role.items():
        top = path.split("/")[0]
        expected = {"src": LIBRARY, "app": {"app"}, "examples": {"demo", "demo-wav", "mps2-app"},
                    "ports": {"mps2", "micropython"}}.get(top)
        if top == "tests":
            assert name.startswith("tests-"), (path, name)
        else:
            assert expected is not None and name in expected, (path, name)
    assert {p.parent.name for p in (FIRMWARE / "include").iterdir()} == {"include"}
    assert all(p.suffix == ".h" for p in (FIRMWARE / "include").iterdir())
    assert all(p.parent.name == "nn" for p in FIRMWARE.glob("src/nn/*.h"))   # private to src/nn


def _firmware_literals(tree: ast.AST, names: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value.strip()
            if value.endswith((".c", ".ld")) and Path(value).name in names and " " not in value:
                yield node.lineno, value


def test_no_python_lists_firmware_sources_by_hand():
    """Builds name sections of firmware/sources.txt; a string literal naming a firmware .c or
    .ld file (a path or a bare file name) anywhere in the package, the benchmarks or the tests
    would be a second list."""
    names = {p.name for p in FIRMWARE.rglob("*") if p.suffix in (".c", ".ld")}
    found = []
    for folder in ("kws", "bench", "tests"):
        for py in sorted((ROOT / folder).rglob("*.py")):
            for line, value in _firmware_literals(ast.parse(py.read_text()), names):
                found.append(f"{py.relative_to(ROOT)}:{line}: {value!r}")
    assert found == []


def test_the_literal_check_finds_a_hand_written_list():
    names = {"kws_x.c", "board.ld"}
    code = ('x = FIRMWARE / "src" / "kws_x' '.c"\ny = "ports/b/board' '.ld"\n'
            'z = "see kws_x' '.c"\nw = "kws_y' '.c"\n')
    assert [v for _, v in sorted(_firmware_literals(ast.parse(code), names))] == \
        ["kws_x" ".c", "ports/b/board" ".ld"]


def test_size_parts_come_from_the_sections():
    listing = sources.load()
    assert cortex_m.PARTS == listing.parts()
    assert {cortex_m.PARTS[o] for o in listing.objects("nn")} == {"kernels"}
    assert cortex_m.PARTS["kws_model_data.o"] == "model_data"
    assert cortex_m.PARTS["kws_target_data.o"] == "test_data"
    assert cortex_m.PARTS["kws_mfcc_tables.o"] == cortex_m.PARTS["kws_mfcc.o"] == "mfcc"


def test_a_build_takes_generated_files_from_the_folders_it_is_given(tmp_path):
    b = sources.build("mfcc", "model", tables=tmp_path / "t", model=tmp_path / "m")
    assert b.sources[-2:] == [tmp_path / "t" / "kws_mfcc_tables.c", tmp_path / "m" / "kws_model.c"]
    assert b.includes[0] == FIRMWARE / "include" and {tmp_path / "t", tmp_path / "m"} <= set(
        b.includes)
    with pytest.raises(KwsError, match=r"\[model\] needs .*kws_model.c: pass model="):
        sources.build("model")
    with pytest.raises(KwsError, match="no generated sources for data"):
        sources.build("nn", data=tmp_path)
    with pytest.raises(KwsError, match=r"no section \[nope\]"):
        sources.build("nope")
    script, = sources.build("mps2").linker                  # the board's one linker script
    assert script.is_file() and script.parent == FIRMWARE / "ports" / "mps2"
    assert sources.build("nn").linker == []


@pytest.mark.parametrize("text, message", [
    (f"[api]\ninclude include\n[a]\n{MFCC_C}\n[b]\n${{data}}/{Path(MFCC_C).name}\n",
     rf":6: object name {Path(MFCC_C).stem}.o already comes from line 4"),
    ("[api]\ninclude include\n[a]\nsrc/missing.c\n", r":4: src/missing.c: no such file"),
    (f"{MFCC_C}\n", rf":1: '{MFCC_C}' before the first \[section\]"),
    ("[api]\ninclude include\n[a]\nsrc/kws_mfcc.h\n", r":4: 'src/kws_mfcc.h' is neither"),
    ("[api]\ninclude nowhere\n", r":2: include 'nowhere': no such path"),
    ("[a]\n[a]\n", r":2: section \[a\] appears twice"),
    ("[a]\n", r"no \[api\] section"),
])
def test_a_bad_source_list_names_the_line(tmp_path, text, message):
    tree = tmp_path / "firmware"
    shutil.copytree(FIRMWARE / "include", tree / "include")
    shutil.copytree(FIRMWARE / "src", tree / "src")
    (tree / "sources.txt").write_text(text)
    with pytest.raises(KwsError, match=message) as e:
        SourceList.load(tree / "sources.txt")
    assert str(tree / "sources.txt") in str(e.value)


def test_fingerprint_covers_the_built_sources_all_headers_and_the_list(tmp_path, monkeypatch):
    tree = tmp_path / "firmware"
    shutil.copytree(FIRMWARE, tree)
    monkeypatch.setattr(host, "FIRMWARE", tree)
    monkeypatch.setattr(host, "SOURCES_TXT", tree / "sources.txt")
    copy = SourceList.load(tree / "sources.txt")
    built = copy.build("mfcc", tables=tmp_path / "generated").sources
    before = host.sources_fingerprint(built)
    other = copy.firmware_sources("detector")[0]
    other.write_text("/* not built by this stage */\n")
    assert host.sources_fingerprint(built) == before
    for changed in (copy.firmware_sources("mfcc")[0], tree / "include" / "kws_nn.h",
                    tree / "src" / "nn" / "kws_nn_internal.h", tree / "sources.txt"):
        changed.write_text(changed.read_text() + "\n")
        now = host.sources_fingerprint(built)
        assert now != before, changed
        before = now
    assert host.sources_fingerprint() != host.sources_fingerprint(built)


def test_the_mfcc_tool_fingerprint_covers_everything_it_links(tmp_path):
    linked = {p.resolve() for p in host.sources.build(*host.MFCC_TOOL, *host.HOST_RESULTS,
                                                      tables=tmp_path).sources}
    assert {p.resolve() for p in host.mfcc_tool_sources()} == {p for p in linked
                                                               if p.is_relative_to(FIRMWARE)}
