"""The Speech Commands folder layout and its speaker-safe train/validation/test split.

Layout: one folder per word (`yes/`, `no/`, ...), `_unknown_/` (other words, named
`<word>_<speaker>_nohash_<n>.wav`), `_silence_/` (1 s background clips) and
`_background_noise_/` (long noise recordings). Keyword clips are `<speaker>_nohash_<n>.wav`.

Split: the data set's own method (sha1 of the speaker id → percentage), applied to the speaker id
alone, so every clip of a speaker lands in one split whatever word it says. The id is prefixed with
`data.split_salt`: unsalted, the hash reproduces the official split, which puts every speaker of a
subset drawn from the official test files (like ../shared's) into `test`. When the root holds
`validation_list.txt` / `testing_list.txt` those lists decide instead. A speaker id of the form
`<voice>+<variant>` (the synthetic set's: several speakers made from one TTS voice) is split by
its voice, so all speakers of a voice land in one split.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kws.errors import KwsError

SILENCE, UNKNOWN, BACKGROUND = "_silence_", "_unknown_", "_background_noise_"
SPLITS = ("train", "validation", "test")
VARIANT_MARK = "+"                        # <voice>+<variant>: split by the voice
_MAX_WAVS_PER_CLASS = 2**27 - 1           # the data set's constant for its split hash
_SPEAKER_RE = re.compile(r"(?:^|_)([^_]+)_nohash_\d+$")


@dataclass(frozen=True)
class ClipRef:
    path: Path
    label: str                            # keyword, _unknown_ or _silence_
    speaker: str | None                   # None for _silence_ clips (no voice in them)
    split: str


def labels_for(keywords: list[str]) -> list[str]:
    """Class order: silence, unknown, then the keywords (as TensorFlow's speech_commands does)."""
    return [SILENCE, UNKNOWN, *keywords]


def speaker_of(path: Path) -> str | None:
    match = _SPEAKER_RE.search(path.stem)
    return match.group(1) if match else None


def voice_of(speaker: str) -> str:
    """The voice a speaker id belongs to: the part before '+' (the id itself if it has none)."""
    return speaker.split(VARIANT_MARK, 1)[0]


def hash_split(key: str, validation_percent: float, testing_percent: float,
               salt: str = "") -> str:
    digest = int(hashlib.sha1((salt + key).encode("utf-8")).hexdigest(), 16)
    percent = (digest % (_MAX_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_WAVS_PER_CLASS)
    if percent < validation_percent:
        return "validation"
    if percent < validation_percent + testing_percent:
        return "test"
    return "train"


def validate_keywords(keywords: list[str]) -> None:
    if not keywords:
        raise KwsError("data.keywords is empty: name at least one keyword")
    for word in keywords:
        if not word or word.startswith("_") or "/" in word:
            raise KwsError(f"data.keywords: {word!r} is not a keyword folder name")
    duplicates = sorted({w for w in keywords if keywords.count(w) > 1})
    if duplicates:
        raise KwsError(f"data.keywords lists {duplicates} more than once")


def listing_fingerprint(root: Path) -> str:
    """sha256 of the listing (relative names, sizes, mtimes) of every file under `root`, or
    "missing": what a stage reading the folder depends on besides its config."""
    if not root.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            digest.update(f"{path.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())


def _list_file(root: Path, name: str) -> set[str] | None:
    path = root / name
    if not path.exists():
        return None
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def scan(root: Path, keywords: list[str], validation_percent: float, testing_percent: float,
         split_salt: str = "") -> tuple[list[ClipRef], list[Path]]:
    """All labelled clips under `root` with their split, and the background-noise files."""
    validate_keywords(keywords)
    if not root.is_dir():
        raise KwsError(f"data.root={root}: folder does not exist")
    folders = {p.name: p for p in root.iterdir() if p.is_dir()}
    for word in keywords:
        if word not in folders:
            known = sorted(n for n in folders if not n.startswith("_"))
            raise KwsError(f"data.keywords: keyword {word!r} has no folder {root / word} "
                           f"(words present: {', '.join(known) or 'none'})")
        if not _wavs(folders[word]):
            raise KwsError(f"data.keywords: keyword {word!r} has no clips in {folders[word]}")

    validation_list = _list_file(root, "validation_list.txt")
    testing_list = _list_file(root, "testing_list.txt")

    def split_of(path: Path, speaker: str | None) -> str:
        if validation_list is not None or testing_list is not None:
            rel = path.relative_to(root).as_posix()
            if validation_list and rel in validation_list:
                return "validation"
            if testing_list and rel in testing_list:
                return "test"
            return "train"
        return hash_split(voice_of(speaker) if speaker else path.name, validation_percent,
                          testing_percent, split_salt)

    refs: list[ClipRef] = []
    for name, folder in sorted(folders.items()):
        if name == BACKGROUND:
            continue
        label = name if name in keywords else SILENCE if name == SILENCE else UNKNOWN
        for path in _wavs(folder):
            speaker = None if label == SILENCE else (speaker_of(path) or path.stem)
            refs.append(ClipRef(path, label, speaker, split_of(path, speaker)))
    noise = _wavs(folders[BACKGROUND]) if BACKGROUND in folders else []
    return refs, noise
