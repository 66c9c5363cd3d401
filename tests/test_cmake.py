"""The CMake build of firmware/ (firmware/CMakeLists.txt): the same sources as the Python builds
(firmware/sources.txt, read by both), ctest over every host harness with golden results
(kws.toolchain.ctest_cases), the board programs (the board app, the check, the kernel cases,
the benchmarks) under QEMU when the Arm toolchain is present, every harness program of
sources.txt a ctest case, and the package used through add_subdirectory and, after cmake
--install, find_package(kws).

One configure + build + ctest per session (the `ctest_build` fixture, in a session tmp folder);
skipped, naming the Debian package, where cmake is missing."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from kws.emit.limits import API_VERSION
from kws.toolchain import cortex_m, fuzz, sources
from kws.toolchain.ctest_cases import write_cases
from kws.toolchain.host import CFLAGS
from kws.toolchain.sources import FIRMWARE

ROOT = FIRMWARE.parent
CMAKE = shutil.which("cmake")
pytestmark = pytest.mark.skipif(CMAKE is None, reason="cmake not found (Debian package cmake; "
                                                      "make toolchain installs it as root)")
LIBRARY = ("mfcc", "nn", "detector", "wakeword", "model-info")
CONSUMER = Path(__file__).parent / "cmake_consumer"


def cmake(*args, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([CMAKE, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"cmake {' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}"
                             f"\n{proc.stderr[-3000:]}")
    return proc


def ctest(build: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["ctest", "--test-dir", str(build), "-j2", "--output-on-failure"],
                          capture_output=True, text=True)


def codemodel(build: Path) -> dict[str, dict]:
    """The CMake File API's codemodel-v2 reply: target name → its target object."""
    reply = build / ".cmake/api/v1/reply"
    index = json.loads(max(reply.glob("index-*.json")).read_text())
    model = json.loads((reply / index["reply"]["codemodel-v2"]["jsonFile"]).read_text())
    return {t["name"]: json.loads((reply / t["jsonFile"]).read_text())
            for t in model["configurations"][0]["targets"]}


def configure(build: Path, *defines: str) -> dict[str, dict]:
    query = build / ".cmake/api/v1/query/codemodel-v2"
    query.parent.mkdir(parents=True, exist_ok=True)
    query.touch()
    cmake("-S", FIRMWARE, "-B", build, *defines)
    return codemodel(build)


def target_sources(target: dict) -> set[Path]:
    return {(FIRMWARE / s["path"]).resolve() for s in target["sources"]
            if s["path"].endswith(".c")}


@pytest.fixture(scope="session")
def ctest_build(tmp_path_factory, verified_run):
    """The verified tiny run's model: cases, host build (File API on), ctest; (paths, proc)."""
    run_dir = verified_run[0]
    work = tmp_path_factory.mktemp("cmake")
    cases = work / "cases"
    write_cases(run_dir, cases)
    build = work / "host"
    targets = configure(build, f"-DKWS_MODEL_DIR={run_dir / 'firmware'}",
                        f"-DKWS_TEST_CASES={cases}")
    cmake("--build", build, "-j2")
    return {"run": run_dir, "cases": cases, "build": build, "work": work,
            "targets": targets, "ctest": ctest(build)}


NO_ARM = "; ".join(cortex_m.missing_tools())


@pytest.fixture(scope="session")
def cross_build(ctest_build):
    """The same model and cases cross-compiled for the Cortex-M4F (the toolchain file, KWS_CPU),
    configured once (File API on); built by the test that runs it under QEMU."""
    if NO_ARM:
        pytest.skip(NO_ARM)
    build = ctest_build["work"] / "m4f"
    targets = configure(build, f"-DCMAKE_TOOLCHAIN_FILE={FIRMWARE / 'cmake/arm-none-eabi.cmake'}",
                        "-DKWS_CPU=cortex-m4f",
                        f"-DKWS_MODEL_DIR={ctest_build['run'] / 'firmware'}",
                        f"-DKWS_TEST_CASES={ctest_build['cases']}",
                        f"-DKWS_HOST_COMPARE={ctest_build['build'] / 'kws_results_compare'}")
    return {"build": build, "targets": targets}


def ctest_programs(build: Path) -> dict[str, str]:
    """ctest test name → the program it runs (a kws_case's TOOL, else the command's own)."""
    shown = json.loads(subprocess.run(["ctest", "--test-dir", str(build), "--show-only=json-v1"],
                                      capture_output=True, text=True, check=True).stdout)
    programs = {}
    for test in shown["tests"]:
        tool = [a.removeprefix("-DTOOL=") for a in test["command"] if a.startswith("-DTOOL=")]
        programs[test["name"]] = Path(tool[0] if tool else test["command"][0]).name
    return programs


# Every harness program the Python suite builds from firmware/sources.txt (a section whose
# sources define main, or a fuzz harness, under each of its two engines) → where its ctest cases
# run (host, qemu: the cross build, streaming: a streaming model only, libfuzzer: when clang
# links libFuzzer) and their names. A harness added without a ctest case fails
# test_every_harness_the_python_suite_builds_is_a_ctest_case.
HARNESS_CASES = {
    "demo": ("host", {"demo"}),
    "tests-host-results-tool": ("host", {"results_write", "results_misuse"}),
    "tests-host-mfcc": ("host", {"mfcc_clips", "mfcc_clips_chunked"}),
    "tests-host-nn": ("host", {"nn_layers"}),
    "tests-host-detector": ("host", {"detector_recognizer", "detector_stream"}),
    "tests-host-verify": ("host", {"verify_clips", "verify_stream", "verify_trace"}),
    "tests-host-invoke": ("host", {"invoke"}),
    "tests-host-model-check": ("host", {"model_check"}),
    "tests-host-step": ("streaming", {"step_stream", "step_clips", "verify_stream_window_path"}),
    "mps2-app": ("qemu", {"board_app"}),
    "tests-target-check": ("qemu", {"mps2_check"}),
    "tests-target-nn-cases": ("qemu", {"mps2_nn_cases"}),
    "tests-target-bench": ("qemu", {"mps2_bench"}),
    "tests-target-mfcc-bench": ("qemu", {"mps2_mfcc_bench"}),
    **{f"tests-fuzz-{h}/driver": ("host", {f"fuzz_{h}_driver"}) for h in fuzz.HARNESSES},
    **{f"tests-fuzz-{h}/libfuzzer": ("libfuzzer", {f"fuzz_{h}_libfuzzer"})
       for h in fuzz.HARNESSES},
}
MAIN = re.compile(r"^int main\([^;{]*\)\s*\{", re.M)
COMPARATOR = "tests-host-compare"   # ctest's own: every golden case runs it (and the test below)


def harness_programs() -> set[str]:
    """The sections of sources.txt with a main of their own (the board's start-up calls main,
    it has none), and each fuzz harness under each engine (kws.toolchain.fuzz)."""
    listed = sources.load()
    found = set()
    for name in listed.sections:
        if name.startswith("tests-fuzz-") and name.removeprefix("tests-fuzz-") in fuzz.HARNESSES:
            found |= {f"{name}/{engine}" for engine in fuzz.ENGINES}
        elif name not in (COMPARATOR, *fuzz.ENGINES.values()) and any(
                MAIN.search(p.read_text()) for p in listed.firmware_sources(name)):
            found.add(name)
    return found


def test_the_cmake_library_compiles_what_sources_py_lists(ctest_build):
    """kws::kws is the library sections' firmware sources; the model library the generated ones
    from the model folder; each tool its sections' own sources: the two builds cannot drift."""
    targets, model = ctest_build["targets"], ctest_build["run"] / "firmware"
    listed = sources.load()
    assert target_sources(targets["kws"]) == set(listed.firmware_sources(*LIBRARY))
    generated = listed.build(*LIBRARY, "model", "model-data", model=model, tables=model)
    assert target_sources(targets["kws_model"]) == (   # kws_add_model(... APP)
        {p.resolve() for p in generated.sources if p.parent == model.resolve()}
        | set(listed.firmware_sources("app")))
    assert target_sources(targets["kws_verify_tool"]) == set(listed.firmware_sources(
        "tests-host-verify", "tests-results", "tests-host-results"))
    # the host flags: kws/toolchain/host.py's CFLAGS, nothing contradicting them
    fragments = " ".join(f["fragment"] for g in targets["kws"]["compileGroups"]
                         for f in g.get("compileCommandFragments", []))
    assert all(flag in fragments.split() for flag in CFLAGS), (fragments, CFLAGS)


def test_cmake_project_version_is_the_python_package_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    text = (FIRMWARE / "CMakeLists.txt").read_text()
    version = re.search(r"^project\(kws VERSION (\S+) ", text, re.M).group(1)
    assert version == pyproject["project"]["version"]


def test_ctest_runs_every_host_harness_bit_exact(ctest_build):
    proc = ctest_build["ctest"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    ran = set(re.findall(r"Test +#\d+: (\S+) \.+ +Passed", proc.stdout))
    assert {"mfcc_clips", "mfcc_clips_chunked", "verify_clips", "verify_stream", "invoke",
            "nn_layers", "detector_recognizer", "results_write", "results_misuse", "demo",
            "verify_trace",
            "model_check", "verify_clips_planted_difference", "fuzz_nn_driver",
            "fuzz_detector_driver", "fuzz_wav_driver", "fuzz_mfcc_driver",
            "detector_stream"} <= ran, proc.stdout
    if not fuzz.libfuzzer_missing():
        assert {f"fuzz_{h}_libfuzzer" for h in fuzz.HARNESSES} <= ran, proc.stdout
    # the planted difference passes only because the comparison failed, naming the value
    log = subprocess.run(["ctest", "--test-dir", str(ctest_build["build"]), "-R", "planted",
                          "-V"], capture_output=True, text=True).stdout
    assert re.search(r"ERROR at pos 0 of logits: got -?\d+ want -?\d+", log), log[-2000:]


def test_every_harness_the_python_suite_builds_is_a_ctest_case(ctest_build, request):
    """HARNESS_CASES names every harness program (a new one fails here until it has cases),
    and each case it names is in ctest -N of the build it runs in, running a program compiled
    from that section's sources (the File API's targets; libFuzzer's custom command by name)."""
    assert harness_programs() == set(HARNESS_CASES), "a harness without ctest cases (or gone)"
    builds = {"host": ctest_build, "libfuzzer": ctest_build}
    if not NO_ARM:
        builds["qemu"] = request.getfixturevalue("cross_build")
    if fuzz.libfuzzer_missing():
        del builds["libfuzzer"]
    listed, programs = sources.load(), {}
    for where, build in builds.items():
        programs[where] = ctest_programs(build["build"])
    for program, (where, names) in HARNESS_CASES.items():
        if where not in builds:
            continue
        section, _, engine = program.partition("/")
        ran = programs[where]
        assert names <= set(ran), f"{program}: no ctest case {sorted(names - set(ran))}"
        for name in names:
            target = ran[name].removesuffix(".elf")
            if engine == "libfuzzer":
                assert target == f"kws_fuzz_{section.removeprefix('tests-fuzz-')}_libfuzzer"
                continue
            compiled = target_sources(builds[where]["targets"][target])
            assert set(listed.firmware_sources(section)) <= compiled, (name, target)


def test_a_changed_golden_value_fails_its_ctest(ctest_build, tmp_path):
    """The comparator itself: the results_write case against a copy with one byte changed."""
    build, cases = ctest_build["build"], ctest_build["cases"]
    golden = (cases / "results_write.kwsr").read_bytes()
    changed = tmp_path / "changed.kwsr"
    changed.write_bytes(golden[:-30] + bytes([golden[-30] ^ 1]) + golden[-29:])
    compare = build / "kws_results_compare"
    assert subprocess.run([compare, cases / "results_write.kwsr",
                           build / "ctest/results_write/out.kwsr"]).returncode == 0
    proc = subprocess.run([compare, changed, build / "ctest/results_write/out.kwsr"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "ERROR at pos" in proc.stdout, proc.stdout


def test_cases_for_another_model_are_refused(ctest_build, tmp_path):
    stale = shutil.copytree(ctest_build["cases"], tmp_path / "cases")
    text = (stale / "cases.cmake").read_text()
    (stale / "cases.cmake").write_text(re.sub(r'"sha256:[0-9a-f]+"', '"sha256:' + "0" * 64 + '"',
                                              text))
    proc = cmake("-S", FIRMWARE, "-B", tmp_path / "b",
                 f"-DKWS_MODEL_DIR={ctest_build['run'] / 'firmware'}",
                 f"-DKWS_TEST_CASES={stale}", check=False)
    assert proc.returncode != 0 and "remake them" in proc.stderr, proc.stderr


def test_a_model_of_another_api_version_is_refused_at_configure(ctest_build, tmp_path):
    model = shutil.copytree(ctest_build["run"] / "firmware", tmp_path / "model")
    header = model / "kws_model.h"
    header.write_text(header.read_text().replace(f"#define KWS_MODEL_API_VERSION {API_VERSION}",
                                                 f"#define KWS_MODEL_API_VERSION {API_VERSION + 1}"))
    proc = cmake("-S", FIRMWARE, "-B", tmp_path / "b", f"-DKWS_MODEL_DIR={model}",
                 "-DKWS_BUILD_TESTS=OFF", check=False)
    assert proc.returncode != 0 and f"API version {API_VERSION + 1}" in proc.stderr, proc.stderr


def test_ctest_runs_the_board_programs_under_qemu(cross_build):
    """Cross-compiled for the Cortex-M4F and run on mps2-an386: the board app (its console
    against the golden detections), the board check, the kernel cases and the two benchmark
    programs, each against its golden results."""
    build = cross_build["build"]
    cmake("--build", build, "-j2")
    proc = subprocess.run(["ctest", "--test-dir", str(build), "-V"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert re.search(r"clips (\d+)/\1 bit-exact", proc.stdout), proc.stdout[-3000:]
    for name in ("board_app", "mps2_nn_cases", "mps2_bench", "mps2_mfcc_bench"):
        assert re.search(rf"Test +#\d+: {name} \.+ +Passed", proc.stdout), proc.stdout[-3000:]
    assert len(re.findall(r"results.kwsr: \d+ arrays compared with \S+: equal", proc.stdout)) == 2


def test_the_board_app_is_a_target_of_a_cross_build_without_tests(ctest_build, tmp_path):
    """The MPS2 board app (examples/mps2) for the Cortex-M3 from the toolchain file and the
    model alone (KWS_BUILD_TESTS=OFF): an ELF for the board, linked with the model."""
    if NO_ARM:
        pytest.skip(NO_ARM)
    build = tmp_path / "m3"
    cmake("-S", FIRMWARE, "-B", build, "-DKWS_BUILD_TESTS=OFF",
          f"-DCMAKE_TOOLCHAIN_FILE={FIRMWARE / 'cmake/arm-none-eabi.cmake'}", "-DKWS_CPU=cortex-m3",
          f"-DKWS_MODEL_DIR={ctest_build['run'] / 'firmware'}")
    cmake("--build", build, "-j2", "--target", "kws_mps2_board_app")
    elf = build / "kws_mps2_board_app.elf"
    assert elf.read_bytes()[:4] == b"\x7fELF"
    symbols = (build / "kws_mps2_board_app.map").read_text()
    assert "kws_model_invoke" in symbols and "kws_app_feed" in symbols


def test_the_package_through_add_subdirectory_and_find_package(ctest_build, tmp_path):
    """tests/cmake_consumer: a firmware project that links the model and the app, once with
    add_subdirectory of the tree `kws export-firmware --library` wrote and once with
    find_package(kws) after cmake --install."""
    from kws.export_firmware import export_firmware
    dest = tmp_path / "third_party"
    export_firmware(ctest_build["run"], dest, library=True)
    prefix = tmp_path / "prefix"
    cmake("--install", ctest_build["build"], "--prefix", prefix)
    assert (prefix / "lib/cmake/kws/kwsConfig.cmake").is_file()
    assert (prefix / "include/kws/kws_wakeword.h").is_file()
    for how, defines in (("subdirectory", [f"-DKWS_FIRMWARE_DIR={dest / 'kws'}"]),
                         ("package", [f"-DCMAKE_PREFIX_PATH={prefix}"])):
        build = tmp_path / how
        cmake("-S", CONSUMER, "-B", build, f"-DKWS_MODEL_DIR={dest / 'kws_model'}", *defines)
        cmake("--build", build, "-j2")
        out = subprocess.run([build / "consumer"], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert re.search(rf"kws_app_init: 0 \(model sha256:[0-9a-f]{{64}}, API {API_VERSION}\)",
                         out.stdout), \
            out.stdout


@pytest.mark.slow
def test_ctest_on_a_streaming_model(tmp_path, quantized_valid_run):
    """A valid-in-time network: also the step harness (stream and clips) and the loop on the
    window path (-DKWS_APP_STREAMING=0), bit-exact; about 40 s (export, build, ctest)."""
    from conftest import EAGER_DETECTOR_HOST, compose_cfg, copy_run
    from kws.pipeline import run_pipeline
    base, overrides = quantized_valid_run
    run_dir = copy_run(base, tmp_path / "run")
    run_pipeline(compose_cfg(overrides + EAGER_DETECTOR_HOST + [
        "stages=[data,features,student,quantize,export]"]), run_dir)
    names = write_cases(run_dir, tmp_path / "cases")
    assert {"step_stream", "step_clips", "verify_stream_window_path"} <= set(names)
    build = tmp_path / "build"
    cmake("-S", FIRMWARE, "-B", build, f"-DKWS_MODEL_DIR={run_dir / 'firmware'}",
          f"-DKWS_TEST_CASES={tmp_path / 'cases'}")
    cmake("--build", build, "-j2")
    proc = ctest(build)
    assert proc.returncode == 0, proc.stdout[-4000:]
    ran = set(re.findall(r"Test +#\d+: (\S+) \.+ +Passed", proc.stdout))
    assert {"step_stream", "step_clips", "verify_stream_window_path", "verify_stream"} <= ran
