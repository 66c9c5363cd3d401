"""Reading the result files the C harnesses write (firmware/tests/common/kws_results.h: the
layout, version 1): named arrays, so that Python takes numbers from the harnesses' own binary
output, never from their console text.

    arrays = read_results(path)              # {"logits": int8 [N, C], "stack_bytes": uint64, ...}
    write_results(path, arrays)              # the same layout from Python (golden result files
                                             # for the ctest cases, kws.toolchain.ctest_cases)

A file that is not one, has another version, is cut short (no end marker: the harness stopped
or its writer failed) or is malformed raises KwsError naming the file and what is wrong.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from kws.errors import KwsError

MAGIC = b"KWSR"
VERSION = 1
END = b"KEND"
MAX_DIMS = 8
DTYPES = {1: np.dtype("<i1"), 2: np.dtype("<u1"), 3: np.dtype("<i2"), 4: np.dtype("<u2"),
          5: np.dtype("<i4"), 6: np.dtype("<u4"), 7: np.dtype("<i8"), 8: np.dtype("<u8")}
_NAME = re.compile(rb"^[A-Za-z0-9_.-]{1,63}$")


def read_results(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a result file, by name, in file order (scalars as 0-d arrays)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KwsError(f"{path}: cannot read the harness's result file ({e.strerror}); "
                       "did the harness run to its end?") from None
    return parse_results(data, str(path))


def parse_results(data: bytes, source: str = "results") -> dict[str, np.ndarray]:
    """read_results on bytes; `source` names them in errors."""
    if data[:4] != MAGIC[:len(data[:4])]:
        raise KwsError(f"{source}: not a result file (starts {data[:4]!r}, expected {MAGIC!r})")
    if len(data) < 8:
        raise KwsError(f"{source}: truncated at byte {len(data)} in the file header (the "
                       "harness stopped early or its writer failed)")
    version, = struct.unpack_from("<I", data, 4)
    if version != VERSION:
        raise KwsError(f"{source}: result format version {version}; this reader knows version "
                       f"{VERSION} (firmware/tests/common/kws_results.h)")
    pos, arrays = 8, {}

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise KwsError(f"{source}: truncated at byte {len(data)} in {what} (needs "
                           f"{pos + n - len(data)} more bytes; the harness stopped early or "
                           "its writer failed)")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    while True:
        at = pos
        if pos == len(data):
            n = len(arrays)
            raise KwsError(f"{source}: truncated after {n} array{'' if n == 1 else 's'}: no end "
                           "marker (the harness stopped early or its writer failed)")
        name_len = take(1, "an array header")[0]
        if name_len == 0:
            if take(4, "the end marker") != END:
                raise KwsError(f"{source}: byte {at}: a name length of 0 not followed by the "
                               f"end marker {END!r}")
            count, = struct.unpack("<I", take(4, "the end marker"))
            if count != len(arrays):
                raise KwsError(f"{source}: the end marker counts {count} arrays, the file "
                               f"holds {len(arrays)}")
            if pos != len(data):
                raise KwsError(f"{source}: {len(data) - pos} bytes after the end marker")
            return arrays
        raw = take(name_len, "an array name")
        if not _NAME.match(raw):
            raise KwsError(f"{source}: byte {at}: bad array name {raw!r}")
        name = raw.decode()
        if name in arrays:
            raise KwsError(f"{source}: array {name!r} appears twice")
        code, ndim = take(2, f"the header of {name!r}")
        if code not in DTYPES:
            raise KwsError(f"{source}: array {name!r}: unknown dtype code {code}")
        if ndim > MAX_DIMS:
            raise KwsError(f"{source}: array {name!r}: {ndim} dimensions (at most {MAX_DIMS})")
        dims = struct.unpack(f"<{ndim}I", take(4 * ndim, f"the dims of {name!r}"))
        dtype = DTYPES[code]
        n_bytes = int(np.prod(dims, dtype=object)) * dtype.itemsize
        arrays[name] = np.frombuffer(take(n_bytes, f"the data of {name!r}"),
                                     dtype).reshape(dims).copy()


def encode_results(arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes a harness would write for `arrays` (name → array, in order; a 0-d array is a
    scalar): what kws_results.c writes, byte for byte."""
    codes = {dtype: code for code, dtype in DTYPES.items()}
    out = [MAGIC, struct.pack("<I", VERSION)]
    for name, value in arrays.items():
        a = np.asarray(value)
        raw = name.encode()
        dtype = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
        if not _NAME.match(raw) or dtype not in codes or a.ndim > MAX_DIMS:
            raise KwsError(f"result array {name!r}: {a.dtype} [{a.ndim} dims] cannot be written "
                           f"(names {_NAME.pattern}, integer dtypes, at most {MAX_DIMS} dims)")
        out += [bytes([len(raw)]), raw, bytes([codes[dtype], a.ndim]),
                struct.pack(f"<{a.ndim}I", *a.shape), np.ascontiguousarray(a, dtype).tobytes()]
    out += [b"\0", END, struct.pack("<I", len(arrays))]
    return b"".join(out)


def write_results(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """encode_results(arrays), written atomically to `path`."""
    from kws.io import atomic_path
    with atomic_path(path) as tmp:
        tmp.write_bytes(encode_results(arrays))
    return Path(path)


def scalars(arrays: dict[str, np.ndarray], names, source: str) -> dict[str, int]:
    """The named scalars of a result file as ints; KwsError naming `source` and the first
    missing or non-scalar one."""
    out = {}
    for name in names:
        if name not in arrays or arrays[name].shape != ():
            raise KwsError(f"{source}: no scalar {name!r} (the file holds "
                           f"{', '.join(arrays) or 'nothing'})")
        out[name] = int(arrays[name])
    return out
