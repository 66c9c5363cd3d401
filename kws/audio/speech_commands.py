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
its voice, so all speakers of a voice land in one split. A clip whose name holds no
speaker id is its own speaker (ClipRef.speaker_from_name False): nothing then keeps a person's
clips in one split, and the data stage says so.

Folder names are read as they are, but a layout that would be misread is an error: two folders
that differ only in case (`YES/` beside `yes/`, one word as two classes or as a keyword and
`_unknown_`), and a `_name_` folder other than the three above (`_Silence_/` is not silence).
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
LIST_FILES = ("validation_list.txt", "testing_list.txt")


@dataclass(frozen=True)
class ClipRef:
    path: Path
    label: str                            # keyword, _unknown_ or _silence_
    speaker: str | None                   # None for _silence_ clips (no voice in them)
    split: str
    speaker_from_name: bool = True        # False: no <speaker>_nohash_<n> name; its own speaker


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
    folded = _case_collisions(keywords)
    if folded:
        raise KwsError(f"data.keywords lists {' and '.join(folded[0])}: one word in two cases "
                       "would be two classes; keep one")


def _case_collisions(names) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.casefold(), []).append(name)
    return [sorted(g) for _, g in sorted(groups.items()) if len(g) > 1]


def _wavs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())


def _list_file(root: Path, name: str) -> set[str] | None:
    path = root / name
    if not path.exists():
        return None
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def word_folders(root: Path) -> dict[str, Path]:
    """The sub-folders of `root` by name (symlinked folders included), as scan reads them."""
    try:
        return {p.name: p for p in sorted(root.iterdir()) if p.is_dir()}
    except OSError as exc:
        raise KwsError(f"data.root={root}: cannot list the folder ({exc.strerror})") from None


def files_read(root: Path) -> list[Path]:
    """Every file scan reads under `root`: the WAVs of each word folder (symlinks followed) and
    the split lists; a folder that cannot be listed stands for itself."""
    paths = [root / name for name in LIST_FILES if (root / name).exists()]
    for folder in word_folders(root).values():
        try:
            paths += _wavs(folder)
        except OSError:
            paths.append(folder)
    return paths


def listing_fingerprint(root: Path) -> str:
    """sha256 of name, size and mtime of exactly the files scan() reads under `root`
    (files_read), or "missing": what a stage reading the folder depends on besides its config."""
    if not root.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for path in sorted(files_read(root)):
        try:
            st = path.stat()
            digest.update(f"{path.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError as exc:                   # the scan will skip or name it
            digest.update(f"{path.relative_to(root)}|{exc.strerror}\n".encode())
    return digest.hexdigest()


def _check_names(root: Path, folders: dict[str, Path]) -> None:
    collisions = _case_collisions(folders)
    if collisions:
        raise KwsError(f"data.root={root}: folders {' and '.join(collisions[0])} differ only in "
                       "case: one word would become two classes (or a keyword and _unknown_); "
                       "merge them into one folder")
    special = (SILENCE, UNKNOWN, BACKGROUND)
    reserved = [n for n in folders if n.startswith("_") and n not in special]
    if reserved:
        raise KwsError(f"data.root={root}: folder {reserved[0]} is not one of {SILENCE}, "
                       f"{UNKNOWN}, {BACKGROUND} (names in underscores are reserved): rename it")


def scan(root: Path, keywords: list[str], validation_percent: float, testing_percent: float,
         split_salt: str = "", skipped: list[str] | None = None
         ) -> tuple[list[ClipRef], list[Path]]:
    """All labelled clips under `root` with their split, and the background-noise files.

    A non-keyword folder that cannot be listed (permissions) is left out, its reason appended
    to `skipped` (without that list: an error)."""
    validate_keywords(keywords)
    if not root.is_dir():
        raise KwsError(f"data.root={root}: folder does not exist")
    folders = word_folders(root)
    _check_names(root, folders)
    wavs: dict[str, list[Path]] = {}
    for name, folder in folders.items():
        try:
            wavs[name] = _wavs(folder)
        except OSError as exc:
            problem = f"{folder}: cannot list the folder ({exc.strerror})"
            if name in keywords or skipped is None:
                raise KwsError(problem) from None
            skipped.append(f"{problem}; its clips are skipped")
    for word in keywords:
        if word not in folders:
            known = sorted(n for n in folders if not n.startswith("_"))
            raise KwsError(f"data.keywords: keyword {word!r} has no folder {root / word} "
                           f"(words present: {', '.join(known) or 'none'})")
        if not wavs[word]:
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
    for name, paths in sorted(wavs.items()):
        if name == BACKGROUND:
            continue
        label = name if name in keywords else SILENCE if name == SILENCE else UNKNOWN
        for path in paths:
            named = None if label == SILENCE else speaker_of(path)
            speaker = None if label == SILENCE else (named or path.stem)
            refs.append(ClipRef(path, label, speaker, split_of(path, speaker),
                                speaker_from_name=label == SILENCE or named is not None))
    return refs, wavs.get(BACKGROUND, [])
