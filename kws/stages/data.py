"""Stage `data`: a labelled, speaker-split set of int16 clips (data.clip_ms) in the run directory.

Reads:  a Speech Commands folder (data.source=speech_commands, data.root) or the synthetic set,
        or both (data.with_synthetic: the synthetic training voices join the training split)
Writes: data/{train,validation,test}.npz  (audio int16 [N, S], label int16 [N], speaker str [N])
        data/noise_{split}.npz            (background recordings, cut 80/10/10 by time per split,
                                           plus babble of the split's own TTS voices)
        data/{speech,negatives,rirs}_{split}.npz  (material pools, kws.audio.material)
        data/labels.json, data/manifest.csv, data/class_counts.png, data/spectrograms.png
Reports keyword clips that are all zeros or clipped (CLIPPED_SHARE), and clips whose names hold
no speaker id (each is then its own speaker: the split cannot keep a person in one split).
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kws.artifacts import RunDir
from kws.audio import material, negatives, partial_words, synthetic
from kws.audio.clips import UnreadableClip, read_clip_counted, read_long
from kws.audio.download import download_and_extract
from kws.config import shared_data_dir
from kws.errors import KwsError
from kws.io import save_figure, save_npz, write_json, write_text
from kws.audio.speech_commands import (SILENCE, SPLITS, UNKNOWN, ClipRef, labels_for,
                                       listing_fingerprint, scan)

log = logging.getLogger(__name__)
CONFIG_KEYS = ("data",)
OUTPUT = "data"
REQUIRES = ()
NOISE_SPLIT_FRACTIONS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}
# A keyword clip is reported as clipped when a float file held samples beyond full scale
# (|x| > 1.0, clipped to int16 on reading) or when at least this share of its non-zero samples
# sit at full scale (-32768 or 32767) after reading (non-zero: the zeros that pad a short clip to
# the window do not dilute it).
CLIPPED_SHARE = 0.01
EXAMPLES = 10                             # file names listed per kind of problem in the report
NEGATIVE_WINDOWS_STREAM = 7               # spawn key of the negative windows' generator
PARTIAL_WORDS_STREAM = 9                  # ... of the partly cut keywords


@dataclass
class Example:
    """One clip to load: a file, or (for silence) a slice of a background recording."""
    label: str
    speaker: str | None
    path: Path | None = None
    noise_name: str | None = None
    noise_start: int = 0
    noise_gain: float = 1.0


# ---------------------------------------------------------------- stage interface

def resolve_root(cfg) -> Path:
    data = cfg.data
    cache_dir = Path(cfg.paths.cache_dir).expanduser()
    if data.source == "synthetic":
        return synthetic.ensure_dataset(data, data.seed, cache_dir, shared_data_dir(cfg))
    if data.source != "speech_commands":
        raise KwsError(f"data.source={data.source!r}: expected 'synthetic' or 'speech_commands'")
    if not data.root:
        raise KwsError("data.root is not set: data=speech_commands needs data.root=PATH")
    root = Path(data.root).expanduser()
    if data.download and not root.is_dir():
        download_and_extract(data.url, root, data.sha256, cache_dir)
    return root


def synthetic_root(cfg) -> Path | None:
    """The synthetic set that joins recorded speech (data.with_synthetic), generated if needed;
    None when it does not."""
    data = cfg.data
    if data.source != "speech_commands" or not data.with_synthetic:
        return None
    return synthetic.ensure_dataset(data, data.seed, Path(cfg.paths.cache_dir).expanduser(),
                                    shared_data_dir(cfg))


def input_fingerprint(cfg) -> str:
    """What the stage reads besides its config: name, size and mtime of exactly the files the
    scan reads (symlinked folders followed, as it does) and of the split lists, or the synthetic
    set's fingerprint (the voices installed here); and ../shared's material."""
    if cfg.data.source == "synthetic":
        root = synthetic.Plan(cfg.data, cfg.data.seed, shared_data_dir(cfg), quiet=True).fingerprint
    elif cfg.data.source == "speech_commands" and cfg.data.root:
        root = listing_fingerprint(Path(cfg.data.root).expanduser())
    else:
        root = ""
    if cfg.data.source == "speech_commands" and cfg.data.with_synthetic:
        root += "|" + synthetic.Plan(cfg.data, cfg.data.seed, shared_data_dir(cfg),
                                     quiet=True).fingerprint
    return f"{root}|{material.input_fingerprint(cfg)}"


def run(cfg, run_dir: Path, out: Path | None = None) -> dict:
    data = cfg.data
    out = Path(out) if out else Path(run_dir) / OUTPUT
    root = resolve_root(cfg)
    skipped_folders: list[str] = []
    refs, noise_paths = scan(root, list(data.keywords), data.validation_percent,
                             data.testing_percent, data.split_salt, skipped=skipped_folders)
    tts_root = synthetic_root(cfg)
    nameless = {r.path for r in refs if not r.speaker_from_name}
    if data.strict and (skipped_folders or nameless):
        first = skipped_folders[0] if skipped_folders else (
            f"{min(nameless)}: no speaker id in the name (<speaker>_nohash_<n>.wav), so "
            "its speaker cannot be kept in one split")
        raise KwsError(f"{first} (data.strict=true)")
    labels = labels_for(list(data.keywords))
    n_samples = data.sample_rate * data.clip_ms // 1000
    skipped: list[str] = []
    quality: dict[str, list[str]] = {"all_zero": [], "clipped": []}

    noise = _load_noise(noise_paths, data, skipped)
    noise_by_split = {split: _noise_part(noise, split) for split in SPLITS}
    pools = material.prepare(cfg, tts_root or root, Path(cfg.paths.cache_dir).expanduser())
    for split, (lo, hi) in NOISE_SPLIT_FRACTIONS.items():
        noise_by_split[split].update(material.babble_noise(
            pools, data, split, int((hi - lo) * data.synthetic.noise_seconds * data.sample_rate)))
        for kind, by_split in pools.by_kind().items():
            RunDir(run_dir).save_pool(kind, split, by_split[split], out)
    rng = np.random.default_rng(data.seed)
    report_counts, report_speakers, speakers_by_split, speaker_lists = {}, {}, {}, {}
    without_id: list[str] = []
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["split", "label", "speaker", "source"])
    for split in SPLITS:
        examples = _select(refs, split, labels, noise_by_split[split], data, n_samples, rng)
        audio, kept = _load(examples, noise_by_split[split], data, n_samples, skipped, split,
                            quality)
        if split == "train" and tts_root is not None:
            audio, kept = _with_training_voices(audio, kept, tts_root, data, n_samples,
                                                skipped, quality)
        if split == "train":
            selected = len(kept)
            audio, kept = _with_negative_windows(audio, kept, pools, data, n_samples)
            audio, kept = _with_partial_words(audio, kept, selected, data)
        label_ids = np.array([labels.index(e.label) for e in kept], dtype=np.int16)
        speakers = np.array([e.speaker or "" for e in kept])
        save_npz(out / f"{split}.npz", audio=audio, label=label_ids, speaker=speakers)
        save_npz(out / f"noise_{split}.npz", **noise_by_split[split])
        for e in kept:
            writer.writerow([split, e.label, e.speaker or "",
                             e.path or f"{e.noise_name}@{e.noise_start}"])
        without_id += [str(e.path) for e in kept if e.path in nameless]
        report_counts[split] = {lab: int(np.sum(label_ids == i)) for i, lab in enumerate(labels)}
        speakers_by_split[split] = {e.speaker for e in kept if e.speaker}
        report_speakers[split] = len(speakers_by_split[split])
        speaker_lists[split] = [e.speaker for e in kept if e.speaker]
        _check_every_class(report_counts[split], split, root)

    overlap = _speaker_overlap(speakers_by_split)
    write_text(out / "manifest.csv", manifest.getvalue())
    write_json(out / "labels.json", {"labels": labels, "sample_rate": data.sample_rate,
                                     "clip_samples": n_samples})
    _plot(out, report_counts, labels, data.example_spectrograms, data.sample_rate)
    _log_problems(skipped, skipped_folders, quality, without_id)
    return {"source": data.source, "root": str(root), "labels": labels,
            "counts": report_counts, "speakers": report_speakers,
            "speaker_overlap": overlap, "skipped_clips": len(skipped),
            "skipped_examples": skipped[:EXAMPLES],
            "skipped_folders": skipped_folders,
            "all_zero_keyword_clips": len(quality["all_zero"]),
            "all_zero_examples": quality["all_zero"][:EXAMPLES],
            "clipped_keyword_clips": len(quality["clipped"]),
            "clipped_examples": quality["clipped"][:EXAMPLES],
            "clips_without_speaker_id": len(without_id),
            "clips_without_speaker_id_examples": without_id[:EXAMPLES],
            "noise_seconds": round(sum(len(x) for x in noise.values()) / data.sample_rate, 1),
            **material.voices_report(speaker_lists), "tts": material.tts_report(tts_root or root),
            **pools.report}


def _log_problems(skipped: list[str], skipped_folders: list[str], quality: dict,
                  without_id: list[str]) -> None:
    if skipped or skipped_folders:
        first = (skipped_folders or skipped)[0]
        log.warning("data: skipped %d unreadable clip(s) and %d unreadable folder(s); first: %s",
                    len(skipped), len(skipped_folders), first)
    if quality["all_zero"] or quality["clipped"]:
        log.warning("data: %d keyword clip(s) are all zeros%s; %d are clipped (float samples "
                    "beyond full scale, or >= %g%% of non-zero samples at full scale)%s",
                    len(quality["all_zero"]), _first(quality["all_zero"]),
                    len(quality["clipped"]), 100 * CLIPPED_SHARE, _first(quality["clipped"]))
    if without_id:
        log.warning("data: %d clip(s) have no speaker id in their names (<speaker>_nohash_<n>.wav;"
                    " first: %s): each is treated as its own speaker, so speaker separation "
                    "between the splits cannot be guaranteed (data.strict=true makes this an "
                    "error)", len(without_id), without_id[0])


def _first(paths: list[str]) -> str:
    return f" (first: {paths[0]})" if paths else ""


def summarize(entry: dict) -> str:
    counts = entry.get("counts", {})
    sizes = "/".join(str(sum(counts.get(s, {}).values())) for s in SPLITS)
    voices = "/".join(str(entry.get("voices", {}).get(s, 0)) for s in SPLITS)
    engines = ", ".join(entry.get("engines", {})) or "recorded speech"
    return (f"{entry.get('source')}: {len(entry.get('labels', []))} classes, "
            f"train/val/test {sizes} clips, {voices} voices ({engines}), speaker overlap "
            f"{entry.get('speaker_overlap')}, voice overlap {entry.get('voice_overlap')}, "
            f"skipped {entry.get('skipped_clips')}")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


# ---------------------------------------------------------------- selection and loading

def _with_training_voices(audio: np.ndarray, kept: list[Example], tts_root: Path, data,
                          n_samples: int, skipped: list[str], quality: dict[str, list[str]]
                          ) -> tuple[np.ndarray, list[Example]]:
    """The training split plus the synthetic set's training voices (split by the voice hash, as
    in a synthetic run): every keyword clip and every _unknown_ word they spoke (training only,
    so data.unknown_share, which keeps the held-out splits comparable, does not cap them);
    _silence_ is left to the recordings. The recorded selection is unchanged."""
    refs, _ = scan(tts_root, list(data.keywords), data.validation_percent, data.testing_percent,
                   data.split_salt)
    examples = [Example(r.label, r.speaker, r.path) for r in refs
                if r.split == "train" and r.label != SILENCE]
    voices, more = _load(examples, {}, data, n_samples, skipped, "train", quality)
    return np.concatenate([audio, voices]), kept + more


def _select(refs: list[ClipRef], split: str, labels: list[str], noise: dict[str, np.ndarray],
            data, n_samples: int, rng: np.random.Generator) -> list[Example]:
    """Every keyword clip of the split, plus unknown and silence clips at their shares."""
    in_split = [r for r in refs if r.split == split]
    keyword = [Example(r.label, r.speaker, r.path) for r in in_split
               if r.label not in (UNKNOWN, SILENCE)]
    per_share = len(keyword) / (1.0 - data.unknown_share - data.silence_share)
    unknown = [Example(UNKNOWN, r.speaker, r.path) for r in in_split if r.label == UNKNOWN]
    unknown = _sample(unknown, round(data.unknown_share * per_share), rng)
    silence = [Example(SILENCE, None, r.path) for r in in_split if r.label == SILENCE]
    n_silence = round(data.silence_share * per_share)
    silence = _sample(silence, n_silence, rng)
    silence += _noise_slices(noise, n_silence - len(silence), n_samples, rng)
    return keyword + unknown + silence


def _with_negative_windows(audio: np.ndarray, kept: list[Example], pools: material.Pools,
                           data, n_samples: int) -> tuple[np.ndarray, list[Example]]:
    """The training split plus data.negative_windows_share × its size `_unknown_` windows of the
    training negative speech (real recordings, TTS sentences); their own generator, so the
    selection above is the same with and without them."""
    n = round(data.negative_windows_share * len(kept))
    rng = np.random.default_rng([data.seed, NEGATIVE_WINDOWS_STREAM])
    windows, names = negatives.negative_windows(
        [pools.negatives["train"], pools.speech["train"]], n, n_samples, rng)
    if n and not len(windows):
        log.info("data: data.negative_windows_share=%g but the training split has no negative "
                 "speech (no ../shared negatives, no TTS sentences): no windows added",
                 data.negative_windows_share)
    extra = [Example(UNKNOWN, None, noise_name=name, noise_start=start) for name, start in names]
    return np.concatenate([audio, windows]), kept + extra


def _with_partial_words(audio: np.ndarray, kept: list[Example], selected: int,
                        data) -> tuple[np.ndarray, list[Example]]:
    """The training split plus data.partial_words_share × `selected` (the clips selected before
    any extra windows) `_unknown_` windows of partly cut keywords
    (kws.audio.partial_words); their own generator."""
    n = round(data.partial_words_share * selected)
    rows = [i for i, e in enumerate(kept[:selected]) if e.label not in (UNKNOWN, SILENCE)]
    rng = np.random.default_rng([data.seed, PARTIAL_WORDS_STREAM])
    windows, made = partial_words.partial_word_windows(audio, np.array(rows, dtype=np.int64), n,
                                                       data.sample_rate, rng)
    extra = [Example(UNKNOWN, kept[r].speaker, noise_name=f"partial {kept[r].path}",
                     noise_start=shift) for r, shift in made]
    return np.concatenate([audio, windows]), kept + extra


def _sample(items: list, n: int, rng: np.random.Generator) -> list:
    if n >= len(items):
        return items
    return [items[i] for i in sorted(rng.choice(len(items), size=n, replace=False))]


def _noise_slices(noise: dict[str, np.ndarray], n: int, n_samples: int,
                  rng: np.random.Generator) -> list[Example]:
    """Silence clips cut from the split's share of the background recordings, at random gains."""
    names = [k for k, rec in sorted(noise.items()) if len(rec) >= n_samples]
    if n <= 0 or not names:
        return []
    out = []
    for _ in range(n):
        name = names[rng.integers(len(names))]
        start = int(rng.integers(0, len(noise[name]) - n_samples + 1))
        out.append(Example(SILENCE, None, noise_name=name, noise_start=start,
                           noise_gain=float(10 ** (rng.uniform(-40, 0) / 20))))
    return out


def _load(examples: list[Example], noise: dict[str, np.ndarray], data, n_samples: int,
          skipped: list[str], split: str, quality: dict[str, list[str]]
          ) -> tuple[np.ndarray, list[Example]]:
    audio = np.zeros((len(examples), n_samples), dtype=np.int16)
    kept = []
    for e in tqdm(examples, desc=f"data {split}", unit="clip", leave=False, disable=None):
        if e.path is None:
            segment = noise[e.noise_name][e.noise_start:e.noise_start + n_samples]
            clip = np.round(segment.astype(np.float64) * e.noise_gain).astype(np.int16)
        else:
            try:
                clip, beyond = read_clip_counted(e.path, sample_rate=data.sample_rate,
                                                 n_samples=n_samples)
            except UnreadableClip as exc:
                if data.strict:
                    raise KwsError(f"{exc} (data.strict=true)") from None
                skipped.append(str(exc))
                continue
            if e.label not in (UNKNOWN, SILENCE):
                _note_quality(clip, beyond, str(e.path), quality)
        audio[len(kept)] = clip
        kept.append(e)
    return audio[:len(kept)], kept


def _note_quality(clip: np.ndarray, beyond_full_scale: int, name: str,
                  quality: dict[str, list[str]]) -> None:
    """Record a keyword clip that holds nothing, or that is clipped (see CLIPPED_SHARE)."""
    if not clip.any():
        quality["all_zero"].append(name)
    elif beyond_full_scale or np.count_nonzero((clip == 32767) | (clip == -32768)) \
            >= CLIPPED_SHARE * np.count_nonzero(clip):
        quality["clipped"].append(name)


def _load_noise(paths: list[Path], data, skipped: list[str]) -> dict[str, np.ndarray]:
    noise = {}
    for path in paths:
        try:
            noise[path.stem] = read_long(path, sample_rate=data.sample_rate)
        except UnreadableClip as exc:
            if data.strict:
                raise KwsError(f"{exc} (data.strict=true)") from None
            skipped.append(str(exc))
    return noise


def _noise_part(noise: dict[str, np.ndarray], split: str) -> dict[str, np.ndarray]:
    lo, hi = NOISE_SPLIT_FRACTIONS[split]
    return {k: rec[int(lo * len(rec)):int(hi * len(rec))] for k, rec in noise.items()}


def _check_every_class(counts: dict[str, int], split: str, root: Path) -> None:
    empty = [label for label, n in counts.items() if n == 0]
    if empty:
        raise KwsError(f"{root}: split '{split}' has no clips of {empty}. Add clips, or change "
                       "data.keywords / data.validation_percent / data.testing_percent "
                       "(silence needs _silence_ clips or _background_noise_ recordings)")


def _speaker_overlap(speakers_by_split: dict[str, set[str]]) -> int:
    seen: dict[str, str] = {}
    overlap = set()
    for split, speakers in speakers_by_split.items():
        for s in speakers:
            if s in seen and seen[s] != split:
                overlap.add(s)
            seen[s] = split
    return len(overlap)


# ---------------------------------------------------------------- plots

def _plot(out: Path, counts: dict, labels: list[str], n_examples: int, sample_rate: int) -> None:
    import librosa
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5))
    width = 0.8 / len(SPLITS)
    x = np.arange(len(labels))
    for i, split in enumerate(SPLITS):
        ax.bar(x + i * width, [counts[split][lab] for lab in labels], width, label=split)
    ax.set_xticks(x + width, labels, rotation=45, ha="right")
    ax.set_ylabel("clips")
    ax.set_title("Clips per class and split")
    ax.legend()
    save_figure(out / "class_counts.png", fig)
    plt.close(fig)

    train = _read_npz(out / "train.npz")
    picks = [int(np.flatnonzero(train["label"] == i)[0]) for i in range(len(labels))
             if np.any(train["label"] == i)][:max(n_examples, 1)]
    fig, axes = plt.subplots(1, len(picks), figsize=(3 * len(picks), 3), squeeze=False)
    for ax, idx in zip(axes[0], picks):
        mel = librosa.feature.melspectrogram(y=train["audio"][idx] / 32768.0, sr=sample_rate,
                                             n_fft=512, hop_length=160, n_mels=40)
        ax.imshow(librosa.power_to_db(mel, ref=1.0, top_db=80), origin="lower", aspect="auto")
        ax.set_title(f"{labels[train['label'][idx]]} ({train['speaker'][idx] or 'noise'})",
                     fontsize=9)
        ax.set_xlabel("10 ms frames")
    axes[0][0].set_ylabel("mel band")
    save_figure(out / "spectrograms.png", fig)
    plt.close(fig)
