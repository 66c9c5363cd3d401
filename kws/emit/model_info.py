"""The generated API's version and the model's identity, written into kws_model.{h,c}.

kws_model.h gets KWS_MODEL_API_VERSION (kws.emit.limits.API_VERSION, which the library compiles
in as KWS_API_VERSION), KWS_MODEL_GENERATOR ("kws <package version>") and KWS_MODEL_HASH;
kws_model.c gets `const kws_model_info_t kws_model_info` (firmware/include/kws_model_info.h):
those three and the front-end settings and class count the network was made for, as integers
baked in here, so that kws_model_check can compare them with the tables and detector settings a
build links.

The hash is sha256 over the other generated files (name, length and bytes of each, sorted by
name): kws_model.c (whose info names only the macros above, so its text does not depend on the
hash), kws_model_data.{c,h}, kws_model_settings.h, kws_mfcc_tables.{c,h} (HASHED; an imported
network, which has no front end, IMPORT_HASHED). It depends on nothing but those texts (no time,
no path, no generator version), so the same run exports the same hash.
"""
from __future__ import annotations

import hashlib

from kws import __version__
from kws.emit.limits import API_VERSION
from kws.errors import KwsError

HEADER_END = "#endif /* KWS_MODEL_H */\n"
IMPORT_HASHED = ("kws_model.c", "kws_model_data.c", "kws_model_data.h", "kws_model_settings.h")
HASHED = IMPORT_HASHED + ("kws_mfcc_tables.c", "kws_mfcc_tables.h")
FRONT_END = ("window_len", "stride", "fft_len", "n_mels", "n_out", "out_multiplier", "out_shift",
             "out_zero_point")


def generator() -> str:
    return f"kws {__version__}"


def model_hash(files: dict[str, str], hashed: tuple[str, ...] = HASHED) -> str:
    """sha256 over the `hashed` files' texts: "sha256:<64 hex digits>"."""
    missing = [n for n in hashed if n not in files]
    if missing:
        raise KwsError(f"model hash: missing generated files {missing}")
    digest = hashlib.sha256()
    for name in sorted(hashed):
        data = files[name].encode()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def info_source(tables, frames: int, n_classes: int) -> str:
    """The definition appended to kws_model.c (macros from kws_model.h, numbers from `tables`,
    a kws.golden.mfcc_tables.MfccTables, or 0 for a network without one: kws-import's)."""
    fields = {k: 0 if tables is None else getattr(tables, k) for k in FRONT_END}
    fields.update(frames=frames, n_classes=n_classes)
    body = "".join(f"    .{k} = {int(v)},\n" for k, v in fields.items())
    return ("\n/* The model's identity and what it was made for: kws_model_check (kws_model_info.h)"
            "\n * compares it with the library, the tables and the detector settings at init. */\n"
            "/* arrays, not literals: a mergeable string section would escape the size split by\n"
            " * object (kws.toolchain.cortex_m memory_report) */\n"
            "static const char kws_model_generator_text[] = KWS_MODEL_GENERATOR;\n"
            "static const char kws_model_hash_text[] = KWS_MODEL_HASH;\n\n"
            "const kws_model_info_t kws_model_info = {\n"
            "    .api_version = KWS_MODEL_API_VERSION,\n"
            "    .generator = kws_model_generator_text,\n"
            "    .hash = kws_model_hash_text,\n" + body + "};\n")


def add_model_info(files: dict[str, str], tables, frames: int, n_classes: int,
                   hashed: tuple[str, ...] = HASHED) -> dict[str, str]:
    """`files` (generated name → text, kws_model.{h,c} among them, and every `hashed` file) with
    kws_model.c's info definition and kws_model.h's version, generator and hash added. tables:
    the front end's (None: the network names none, as an imported one)."""
    header = files["kws_model.h"]
    if not header.endswith(HEADER_END):
        raise KwsError("kws_model.h does not end with its include guard: cannot add the model info")
    out = dict(files)
    out["kws_model.c"] = files["kws_model.c"] + info_source(tables, frames, n_classes)
    digest = model_hash(out, hashed)
    over = "weights, settings and tables" if "kws_mfcc_tables.c" in hashed else \
        "weights and settings"
    lines = (f'#include "kws_model_info.h"\n\n'
             f"/* The generated API's version (the library's KWS_API_VERSION must equal it), the\n"
             f" * generator, and sha256 over the generated {over}\n"
             f" * (kws.emit.model_info). */\n"
             f"#define KWS_MODEL_API_VERSION {API_VERSION}\n"
             f'#define KWS_MODEL_GENERATOR "{generator()}"\n'
             f'#define KWS_MODEL_HASH "{digest}"\n\n'
             f"extern const kws_model_info_t kws_model_info;\n\n")
    out["kws_model.h"] = header[:-len(HEADER_END)] + lines + HEADER_END
    return out
