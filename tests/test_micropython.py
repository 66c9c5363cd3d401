"""The MicroPython package (kws.emit.micropython): features, logits and detection events equal
to the golden models', under CPython, the MicroPython Unix port and (slow) the QEMU Cortex-M3
port with the package frozen into the firmware.

The Unix port is built once per machine from ../shared/vendor's tarball (about a minute on 2
idle cores, 129 s here under load; cached under ~/.cache/kws/micropython/ by the tarball's hash:
kws.toolchain.micropython); without the tarball or a compiler those tests skip and say why. To
keep the default suite within its budget, the Unix port runs the viper kernels and the native
module (window) there; the pure kernels, the native streaming path, the tables check and QEMU
are `slow`."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import EAGER_DETECTOR_HOST, compose_cfg, copy_run
from kws.emit.micropython import package_files, pure_kernels
from kws.errors import KwsError
from kws.golden.network import Add, QuantParams
from kws.toolchain import micropython as mp

CHUNK = 700                      # samples per push: not a multiple of the 320-sample stride


def _exported(base, overrides, target):
    from kws.pipeline import run_pipeline
    run_dir = copy_run(base, target)
    run_pipeline(compose_cfg(overrides + EAGER_DETECTOR_HOST
                             + ["stages=[data,features,student,quantize,export]"]), run_dir)
    return run_dir


@pytest.fixture(scope="session")
def mp_runs(tmp_path_factory, quantized_run, quantized_valid_run):
    """{"window": run, "streaming": run}: the tiny runs exported (an eager detector)."""
    root = tmp_path_factory.mktemp("micropython")
    return {"window": _exported(*quantized_run, root / "window"),
            "streaming": _exported(*quantized_valid_run, root / "streaming")}


@pytest.fixture(scope="session")
def unix_port():
    reason = mp.missing()
    if reason:
        pytest.skip(f"MicroPython Unix port not built: {reason}")
    return mp.build_unix()


def _inputs(run_dir, n_clips=3, stream_clips=4):
    from kws.artifacts import RunDir
    audio = RunDir(run_dir).split("test")["audio"]
    return audio[:n_clips], np.concatenate(audio[:stream_clips])


def _check(run_dir, tmp_path, runner, kernels, n_clips=3, stream_clips=4):
    clips, stream = _inputs(run_dir, n_clips, stream_clips)
    got = mp.run_check(run_dir / "firmware" / "micropython", tmp_path / "input", clips, stream,
                       CHUNK, kernels, runner)
    want = mp.golden_results(run_dir, clips, stream)
    for key in ("features", "logits", "slogits", "events"):
        assert got[key] == want[key], key
    assert len(want["slogits"]) > 10
    return got, want


@pytest.mark.parametrize("kind", ["window", "streaming"])
def test_package_equals_golden_under_cpython(mp_runs, tmp_path, kind):
    _, want = _check(mp_runs[kind], tmp_path, "cpython", "pure")
    if kind == "streaming":
        assert want["events"]          # the eager detector fires on this model's stream


@pytest.mark.parametrize("kernels", ["viper", pytest.param("pure", marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", ["window", "streaming"])
def test_package_equals_golden_under_micropython_unix(mp_runs, unix_port, tmp_path, kind,
                                                      kernels):
    got, _ = _check(mp_runs[kind], tmp_path, "unix", kernels)
    assert got["time"]["window_inference"] > 0


@pytest.mark.slow
def test_frozen_package_equals_golden_on_qemu_cortex_m3(mp_runs, tmp_path):
    reason = mp.qemu_missing()
    if reason:
        pytest.skip(reason)
    run_dir = mp_runs["streaming"]
    clips, stream = _inputs(run_dir, n_clips=1, stream_clips=2)
    work = tmp_path / "frozen"
    mp.write_inputs(work, clips, stream, CHUNK, "viper")
    shutil.copy(mp.CHECK_SCRIPT, work / "kws_check.py")
    elf = mp.build_qemu([run_dir / "firmware" / "micropython", work], tmp_path / "fw")
    got = mp.parse_output(mp.run_qemu(elf, "import kws_check"))
    want = mp.golden_results(run_dir, clips, stream)
    for key in ("features", "logits", "slogits", "events"):
        assert got[key] == want[key], key


def test_pure_variant_drops_only_the_decorators():
    source = "import micropython\n\n\n@micropython.viper\ndef f(x: ptr8):\n    return 1\n"
    pure = pure_kernels(source)
    assert "@micropython" not in pure and "import micropython" not in pure
    namespace = {}
    exec(pure, namespace)                        # the annotations resolve under CPython
    assert namespace["f"](b"") == 1


def test_a_layer_without_a_kernel_is_one_clear_error(mp_runs):
    from kws.artifacts import RunDir
    run = RunDir(mp_runs["window"])
    q = QuantParams(1.0, 0)
    layers = run.golden_network() + [Add("99_add", 0, q, q, q, 1, 0, 1, 0, 1, 0)]
    with pytest.raises(KwsError, match="99_add: Add has no MicroPython kernel"):
        package_files(layers, run.mfcc_tables(), 49, run.labels(), run.detector_settings())


@pytest.fixture(scope="session")
def native_x64(mp_runs, unix_port, tmp_path_factory):
    """{kind: package folder with kws_native.mpy for the Unix port (x64)}."""
    import platform
    if platform.machine() != "x86_64":
        pytest.skip(f"kws_native.mpy is built for x64 here, this is {platform.machine()}")
    reason = mp.native_missing("x64")
    if reason:
        pytest.skip(reason)
    out = {}
    for kind, run_dir in mp_runs.items():
        package = tmp_path_factory.mktemp(f"native_{kind}")
        shutil.copytree(run_dir / "firmware" / "micropython", package, dirs_exist_ok=True)
        mp.build_native(run_dir / "firmware", "x64", package / "kws_native.mpy")
        out[kind] = package
    return out


@pytest.mark.parametrize("kind", ["window", pytest.param("streaming", marks=pytest.mark.slow)])
def test_native_module_equals_golden_under_micropython_unix(mp_runs, native_x64, tmp_path, kind):
    clips, stream = _inputs(mp_runs[kind])
    got = mp.run_check(native_x64[kind], tmp_path / "input", clips, stream, CHUNK, "native")
    want = mp.golden_results(mp_runs[kind], clips, stream)
    for key in ("features", "logits", "slogits", "events"):
        assert got[key] == want[key], key


@pytest.mark.slow
def test_native_module_refuses_another_runs_tables(mp_runs, native_x64, tmp_path):
    """kws_native.mpy holds one run's front-end tables: a package whose differ says so."""
    package = tmp_path / "package"
    shutil.copytree(native_x64["window"], package)
    model = package / "kws_mp" / "model.py"
    model.write_text(model.read_text().replace("\nSTRIDE = ", "\nSTRIDE = 1 + "))
    clips, _ = _inputs(mp_runs["window"], n_clips=1)
    with pytest.raises(KwsError, match="built for other front-end tables"):
        mp.run_check(package, tmp_path / "input", clips, None, CHUNK, "native")


@pytest.mark.slow
def test_native_module_equals_golden_on_qemu_cortex_m3(mp_runs, tmp_path):
    """kws_native.mpy (armv7m) from the QEMU port's ROM file system, the package frozen."""
    reason = mp.qemu_missing() or mp.native_missing("armv7m")
    if reason:
        pytest.skip(reason)
    run_dir = mp_runs["window"]
    clips, stream = _inputs(run_dir, n_clips=2, stream_clips=3)
    work = tmp_path / "frozen"
    mp.write_inputs(work, clips, stream, CHUNK, "native")
    shutil.copy(mp.CHECK_SCRIPT, work / "kws_check.py")
    elf = mp.build_qemu([run_dir / "firmware" / "micropython", work], tmp_path / "fw")
    mp.build_native(run_dir / "firmware", "armv7m", tmp_path / "rom" / "kws_native.mpy")
    image = mp.make_romfs(tmp_path / "rom", tmp_path / "romfs.img")
    got = mp.parse_output(mp.run_qemu(elf, "import kws_check", romfs=image))
    want = mp.golden_results(run_dir, clips, stream)
    for key in ("features", "logits", "slogits", "events"):
        assert got[key] == want[key], key
