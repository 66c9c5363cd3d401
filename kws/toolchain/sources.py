"""The firmware's source list (firmware/sources.txt; its opening comment is the format): every
build names sections of it instead of files.

    from kws.toolchain import sources
    b = sources.build("mfcc", "tests-host-mfcc", tables=features_dir)
    b.sources      # [firmware/src/kws_mfcc.c, features_dir/kws_mfcc_tables.c, ...tool.c]
    b.includes     # [firmware/include, features_dir]

    sources.load().parts()            # object name → size part (kws.toolchain.cortex_m.PARTS)
    sources.load().firmware_sources("mfcc", "tests-host-mfcc")   # what a stage fingerprints

SourceList.load(path) reads another tree's list (a benchmark's baseline revision); paths resolve
against that list's folder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kws.errors import KwsError

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
SOURCES_TXT = FIRMWARE / "sources.txt"
ALWAYS = "api"                     # the section every build gets: the public headers
DEFAULT_PART = "port"              # objects of a section without part=

_SECTION = re.compile(r"^\[(?P<name>[a-z0-9][a-z0-9-]*)\](?:\s+part=(?P<part>[a-z_]+))?$")
_GENERATED = re.compile(r"^\$\{(?P<key>[a-z]+)\}/(?P<file>[^/\s]+\.c)$")
_FILE = re.compile(r"^[A-Za-z0-9_./-]+$")


@dataclass(frozen=True)
class Entry:
    path: str                      # as written: firmware-relative, or the file name if generated
    key: str | None = None         # the generated folder's key (${key}/path), None: firmware/

    @property
    def object(self) -> str:
        return Path(self.path).stem + ".o"


@dataclass
class Section:
    name: str
    part: str | None
    line: int
    sources: list[Entry] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    linker: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Build:
    """What one build compiles and links: sources, include folders (-I, in order), linker
    scripts (at most one in practice: a board's)."""
    sources: list[Path]
    includes: list[Path]
    linker: list[Path]


class SourceList:
    def __init__(self, path: Path, sections: dict[str, Section]):
        self.path, self.root, self.sections = Path(path), Path(path).parent, sections

    @classmethod
    def load(cls, path: Path = SOURCES_TXT) -> "SourceList":
        path = Path(path)
        if not path.is_file():
            raise KwsError(f"{path}: the firmware source list is missing")
        sections: dict[str, Section] = {}
        current: Section | None = None
        objects: dict[str, int] = {}
        for number, raw in enumerate(path.read_text().splitlines(), start=1):
            line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if not line:
                continue
            where = f"{path}:{number}"
            m = _SECTION.match(line)
            if m:
                if m.group("name") in sections:
                    raise KwsError(f"{where}: section [{m.group('name')}] appears twice")
                current = sections[m.group("name")] = Section(m.group("name"), m.group("part"),
                                                              number)
                continue
            if current is None:
                raise KwsError(f"{where}: {line!r} before the first [section]")
            word, _, rest = line.partition(" ")
            if word in ("include", "linker"):
                rest = rest.strip()
                if not _FILE.match(rest) or not (path.parent / rest).exists():
                    raise KwsError(f"{where}: {word} {rest!r}: no such path under {path.parent}")
                (current.includes if word == "include" else current.linker).append(rest)
                continue
            g = _GENERATED.match(line)
            if g:
                entry = Entry(g.group("file"), g.group("key"))
            elif _FILE.match(line) and line.endswith(".c"):
                if not (path.parent / line).is_file():
                    raise KwsError(f"{where}: {line}: no such file under {path.parent}")
                entry = Entry(line)
            else:
                raise KwsError(f"{where}: {line!r} is neither a source (FILE.c, ${{KEY}}/FILE.c), "
                               "an include DIR, a linker FILE nor a [section]")
            if entry.object in objects:
                raise KwsError(f"{where}: object name {entry.object} already comes from line "
                               f"{objects[entry.object]}: two sources would overwrite one object")
            objects[entry.object] = number
            current.sources.append(entry)
        if ALWAYS not in sections:
            raise KwsError(f"{path}: no [{ALWAYS}] section (the public headers)")
        return cls(path, sections)

    def section(self, name: str) -> Section:
        if name not in self.sections:
            raise KwsError(f"{self.path}: no section [{name}] (sections: "
                           f"{', '.join(self.sections)})")
        return self.sections[name]

    def build(self, *names: str, **generated: Path) -> Build:
        """The sources, include folders and linker scripts of the sections `names` (plus [api]),
        generated files taken from the folders passed by key (model=..., tables=..., data=...)."""
        chosen = [self.section(ALWAYS)] + [self.section(n) for n in names if n != ALWAYS]
        srcs: list[Path] = []
        includes: list[Path] = []
        linker: list[Path] = []
        used: set[str] = set()
        for s in chosen:
            includes += [self.root / d for d in s.includes]
            linker += [self.root / f for f in s.linker]
        for s in chosen:
            for e in s.sources:
                if e.key is None:
                    srcs.append(self.root / e.path)
                    continue
                if e.key not in generated:
                    raise KwsError(f"{self.path}: section [{s.name}] needs the folder of its "
                                   f"generated {e.path}: pass {e.key}=FOLDER")
                used.add(e.key)
                srcs.append(Path(generated[e.key]) / e.path)
        unused = sorted(set(generated) - used)
        if unused:
            raise KwsError(f"{self.path}: sections {', '.join(names)} have no generated sources "
                           f"for {', '.join(unused)}")
        includes += [Path(generated[k]) for k in dict.fromkeys(
            e.key for s in chosen for e in s.sources if e.key is not None)]
        return Build(srcs, list(dict.fromkeys(includes)), linker)

    def firmware_sources(self, *names: str) -> list[Path]:
        """The firmware/ files (not the generated ones) the sections compile."""
        return [self.root / e.path for n in names for e in self.section(n).sources
                if e.key is None]

    def objects(self, *names: str, generated: bool | None = None) -> set[str]:
        """Object names of the sections' sources; generated=True/False: only those (not)."""
        return {e.object for n in names for e in self.section(n).sources
                if generated is None or (e.key is not None) == generated}

    def parts(self) -> dict[str, str]:
        """Object name → size part, for every source of every section."""
        return {e.object: s.part or DEFAULT_PART for s in self.sections.values()
                for e in s.sources}

    def listed_files(self) -> list[Path]:
        """Every firmware file the list names: sources and linker scripts."""
        return ([self.root / e.path for s in self.sections.values() for e in s.sources
                 if e.key is None]
                + [self.root / f for s in self.sections.values() for f in s.linker])


def load() -> SourceList:
    """firmware/sources.txt of this checkout."""
    return SourceList.load(SOURCES_TXT)


def build(*names: str, **generated: Path) -> Build:
    """load().build(...): the usual entry point."""
    return load().build(*names, **generated)
