"""The result format between the C harnesses and Python (firmware/tests/common/kws_results.h,
kws.toolchain.results): what the C writer writes, the reader reads back exactly; a file that
is not one, has another version or is cut short gives one clear error naming the file."""
from __future__ import annotations

import struct
import subprocess

import numpy as np
import pytest

from kws.errors import KwsError
from kws.toolchain.host import build_results_tool
from kws.toolchain.results import VERSION, parse_results, read_results


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    return build_results_tool(tmp_path_factory.mktemp("results_tool"), sanitize=True)


def _run(tool, *args):
    proc = subprocess.run([str(tool), *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def written(tool, tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "all.kwsr"
    _run(tool, "write", path)
    return path


def test_round_trip_with_the_c_writer(written):
    r = read_results(written)
    assert list(r) == ["int8.matrix", "uint8", "empty", "uint16_scalar", "int32", "uint32-2x2",
                       "int64_min", "uint64_max", "eight_dims", "pieces"]
    assert r["int8.matrix"].dtype == np.int8 and r["int8.matrix"].tolist() == [
        [-128, -1, 0, 1], [2, 3, 4, 5], [6, 7, 126, 127]]
    assert r["uint8"].dtype == np.uint8 and r["uint8"].tolist() == [255]
    assert r["empty"].dtype == np.int16 and r["empty"].shape == (2, 0, 3)
    assert r["uint16_scalar"].shape == () and int(r["uint16_scalar"]) == 65535
    assert r["int32"].dtype == np.int32 and r["int32"].tolist() == [-2**31, -1, 0, 1, 2**31 - 1]
    assert r["uint32-2x2"].dtype == np.uint32 and r["uint32-2x2"].tolist() == [[0, 1],
                                                                             [2**31, 2**32 - 1]]
    assert r["int64_min"].dtype == np.int64 and int(r["int64_min"]) == -2**63
    assert r["uint64_max"].dtype == np.uint64 and int(r["uint64_max"]) == 2**64 - 1
    assert r["eight_dims"].shape == (1, 2, 1, 2, 1, 2, 1, 2)
    assert r["eight_dims"].ravel().tolist() == [i * 1000 - 8000 for i in range(16)]
    assert r["pieces"].tolist() == np.reshape([i * i - 50 for i in range(12)], (4, 3)).tolist()
    r["int32"][0] = 7                                          # a copy, not the file's buffer


def test_the_writer_refuses_misuse_and_never_ends_a_failed_file(tool, tmp_path):
    _run(tool, "misuse", tmp_path / "m.kwsr")                 # the tool checks each status
    with pytest.raises(KwsError, match=r"m\.kwsr: truncated after 1 array: no end marker"):
        read_results(tmp_path / "m.kwsr")


def test_a_harness_that_stopped_early_reads_as_truncated(tool, tmp_path):
    _run(tool, "stop", tmp_path / "s.kwsr", 3)
    with pytest.raises(KwsError, match=r"s\.kwsr: truncated after 3 arrays"):
        read_results(tmp_path / "s.kwsr")


def test_bad_magic_is_one_clear_error(written, tmp_path):
    data = bytearray(written.read_bytes())
    data[:4] = b"KWSX"
    (tmp_path / "bad.kwsr").write_bytes(data)
    with pytest.raises(KwsError, match=r"bad\.kwsr: not a result file \(starts b'KWSX', "
                                       r"expected b'KWSR'\)"):
        read_results(tmp_path / "bad.kwsr")
    (tmp_path / "text.log").write_text("clips 8/8 bit-exact\n")
    with pytest.raises(KwsError, match="text.log: not a result file"):
        read_results(tmp_path / "text.log")


def test_another_version_is_one_clear_error(written, tmp_path):
    data = bytearray(written.read_bytes())
    data[4:8] = struct.pack("<I", VERSION + 1)
    (tmp_path / "v2.kwsr").write_bytes(data)
    with pytest.raises(KwsError, match=rf"v2\.kwsr: result format version {VERSION + 1}; this "
                                       rf"reader knows version {VERSION}"):
        read_results(tmp_path / "v2.kwsr")


def test_every_truncation_is_one_clear_error(written):
    """Cut after any byte, the file reads as truncated (never as fewer arrays)."""
    data = written.read_bytes()
    for n in range(len(data)):
        with pytest.raises(KwsError, match=r"^cut: truncated ") as e:
            parse_results(data[:n], "cut")
        assert str(e.value).count("truncated") == 1, (n, str(e.value))
    assert len(parse_results(data, "whole")) == 10


@pytest.mark.parametrize("patch, message", [
    (lambda d: d + b"\0", "1 bytes after the end marker"),
    (lambda d: d[:-4] + struct.pack("<I", 9), "the end marker counts 9 arrays, the file holds 10"),
    (lambda d: d[:8] + b"\x01 " + d[10:], r"bad array name b' '"),
    (lambda d: d[:8 + 1 + 11] + b"\x09" + d[8 + 1 + 11 + 1:], "'int8.matrix': unknown dtype code 9"),
    (lambda d: d[:8 + 1 + 11 + 1] + b"\x09" + d[8 + 1 + 11 + 2:], "'int8.matrix': 9 dimensions"),
    (lambda d: d[:-9] + d[8:8 + 1 + 11 + 2 + 8 + 12] + d[-9:], "'int8.matrix' appears twice"),
])
def test_malformed_files_name_what_is_wrong(written, patch, message):
    with pytest.raises(KwsError, match=message):
        parse_results(patch(written.read_bytes()), "patched")


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(KwsError, match=r"none\.kwsr: cannot read the harness's result file"):
        read_results(tmp_path / "none.kwsr")
