"""The positive and the negative stream of one split: the stream stage scores the test and
validation streams, and the student's checkpoint choice (kws.training.stream_selection) scores
the validation streams. Built from the run directory and the `stream` settings alone, from
their own seed, so both see the same audio.

Positive: the split's clips (keywords, unknown words, silence) over its noise, every clip once
(minutes=None) or drawn for `minutes`. Negative: no keyword at all, `hours` long: the split
speakers' _unknown_ clips, its held-out real negatives and the TTS sentences of its voices,
half of them in its rooms (stream.negative_material=material), or its _unknown_/_silence_
clips alone (clips). All of it is outside training.
"""
from __future__ import annotations

import numpy as np

from kws.artifacts import RunDir
from kws.audio.streams import mix_material_stream, mix_stream
from kws.errors import KwsError

SPLIT_SEEDS = {"validation": 1}       # the validation streams draw from their own generator


def split_streams(s, run: RunDir, labels: list[str], rate: int, split: str,
                  minutes: float | None, hours: float):
    """((positive pcm, truth), (negative pcm, truth), what the negative stream is made of) of
    a split, with the `stream` settings s (minutes=None: every clip of the split once)."""
    test = run.split(split)
    noise = run.noise(split)
    keyword = np.array([label not in ("_silence_", "_unknown_") for label in labels])
    silence = labels.index("_silence_") if "_silence_" in labels else None
    everything = np.arange(len(test["label"]))
    fillers = np.flatnonzero(~keyword[test["label"]])
    if not keyword[test["label"]].any() or not len(fillers):
        raise KwsError(f"stream: the {split} split needs keyword clips and _unknown_/_silence_ "
                       "clips")
    rng = np.random.default_rng([s.seed, SPLIT_SEEDS[split]] if split != "test" else s.seed)
    common = dict(snr_db=(s.snr_db_min, s.snr_db_max), gap_s=(s.gap_s_min, s.gap_s_max))
    positive = mix_stream(test["audio"], test["label"], everything, noise,
                          None if minutes is None else minutes * 60, rate, rng,
                          silence_label=silence, **common)
    if s.negative_material == "clips":
        negative = mix_stream(test["audio"], test["label"], fillers, noise,
                              hours * 3600, rate, rng, silence_label=silence, **common)
        return positive, negative, {"clips": {"items": len(fillers),
                                              "seconds": round(len(fillers) * test["audio"].shape[1] / rate, 1)}}
    negative, material = material_stream(s, run, test, noise, labels, rate, split, hours, rng)
    return positive, negative, material


def material_stream(s, run: RunDir, clips: dict, noise: list[np.ndarray], labels: list[str],
                    rate: int, split: str, hours: float, rng: np.random.Generator):
    """((pcm, truth), what it is made of): `hours` of the split's negative material
    (negative_material; clips: the split's clips as run.split gives them), half of it in the
    split's rooms, over its noise at the `stream` settings s' SNR and gaps."""
    items, sources, material = negative_material(run, clips, labels, rate, split)
    rooms = run.pool("rirs", split).items()
    stream = mix_material_stream(items, sources, labels.index("_unknown_"), noise,
                                 hours * 3600, rate, rng, snr_db=(s.snr_db_min, s.snr_db_max),
                                 gap_s=(s.gap_s_min, s.gap_s_max), rooms=rooms,
                                 reverb_prob=s.negative_reverb_prob)
    material["rooms"] = len(rooms)
    return stream, material


def negative_material(run: RunDir, test: dict, labels: list[str], rate: int, split: str):
    """What the split's negative stream is made of, all of it outside training: the split
    speakers' _unknown_ clips, its held-out real negatives (data.negatives.test or .validation)
    and the TTS sentences of its voices (with ../shared, or synthetic data; parts may be empty)."""
    unknown = np.flatnonzero(test["label"] == labels.index("_unknown_"))
    items = [test["audio"][i] for i in unknown]
    sources = [f"{split} _unknown_ clip of {test['speaker'][i]}" for i in unknown]
    material = {"unknown_clips": {"items": len(unknown),
                                  "seconds": round(sum(map(len, items)) / rate, 1)}}
    for kind, what in (("negatives", "real negative"), ("speech", "TTS sentence")):
        pool = run.pool(kind, split)
        items += pool.items()
        sources += [f"{what} {name}" for name in pool.name]
        material[f"{kind}_{split}"] = {"items": len(pool),
                                    "seconds": round(pool.seconds(rate), 1)}
    if not items:
        raise KwsError(f"stream: no negative material: the {split} split has no _unknown_ clips "
                       f"and there are no held-out negatives or TTS sentences (data/*_{split}.npz)")
    return items, sources, material
