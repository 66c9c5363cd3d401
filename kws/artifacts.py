"""The run directory: where every artifact lives, and the one reader of each (numpy + json only).

Stages write their part of a run directory and read what earlier stages wrote only through
`RunDir`, never by importing another stage. Nothing here imports torch, eSpeak or a compiler, so
the integer stages (stream, export, verify, firmware) load in a fraction of a second.

    run/data/{split}.npz            audio int16 [N, S], label int16 [N], speaker str [N]
    run/data/noise_{split}.npz      background recordings (int16, one array each)
    run/data/labels.json            labels, sample_rate, clip_samples
    run/data/{speech,negatives,rirs}_{split}.npz
                                    material pools (AudioPool): keyword-free TTS sentences of the
                                    split's voices; real negative recordings; room impulse
                                    responses (each split's material disjoint from the others')
    run/features/{split}.npz        features int8 [N, frames, n_out], label
    run/features/quant.json         int8 scale and zero point, frames, n_out, kind, sample_rate,
                                    settings (the features config that made them)
    run/features/kws_mfcc_tables.{c,h}
    run/{teacher,student}/          best.pt, last.pt, model.json, metrics.csv
    run/quantize/model_int8.npz     every layer's integers; layers.json: kinds, scales, SQNR
    run/stream/operating_point.json the threshold chosen for a false-accept target
    run/firmware/                   the generated C, and detector.json (the recogniser's settings)
    run/verify/, run/target/, run/eval/
    run/report.json, run/.stage_stamps.json
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kws.errors import KwsError
from kws.golden.detector import DetectorSettings
from kws.golden.mfcc_tables import MfccTables, make_tables
from kws.golden.network import AvgPool, Conv, Dense, QuantParams
from kws.io import read_json, save_npz, write_json


REPORT = "report.json"
STAMPS = ".stage_stamps.json"
EXPORT_DIR = "firmware"                 # the export stage's folder of generated C
DETECTOR_JSON = "detector.json"         # beside kws_model_settings.h, same values
POOL_KINDS = ("speech", "negatives", "rirs")


@dataclass(frozen=True)
class AudioPool:
    """Recordings of any length stored end to end: item i is audio[offsets[i]:offsets[i + 1]].

    name: where each came from (a file, a speaker, a room); group: what the held-out rule splits
    by (phrase folder, voice, room source); text: what is said ("" when unknown). int16 speech,
    float32 impulse responses. Saved as one npz of plain arrays (no pickles)."""
    audio: np.ndarray
    offsets: np.ndarray
    name: np.ndarray
    group: np.ndarray
    text: np.ndarray

    @classmethod
    def from_items(cls, items: list[np.ndarray], name, group, text=None,
                   dtype=np.int16) -> "AudioPool":
        lengths = [len(x) for x in items]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        audio = np.concatenate(items).astype(dtype) if items else np.zeros(0, dtype)
        text = list(text) if text is not None else [""] * len(items)
        return cls(audio, offsets, np.array(list(name), dtype=str),
                   np.array(list(group), dtype=str), np.array(text, dtype=str))

    @classmethod
    def empty(cls, dtype=np.int16) -> "AudioPool":
        return cls.from_items([], [], [], dtype=dtype)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.audio[self.offsets[i]:self.offsets[i + 1]]

    def items(self) -> list[np.ndarray]:
        return [self[i] for i in range(len(self))]

    def select(self, keep) -> "AudioPool":
        """The pool of the items where keep (a bool per item) is true."""
        idx = np.flatnonzero(np.asarray(keep, dtype=bool))
        return AudioPool.from_items([self[i] for i in idx], self.name[idx], self.group[idx],
                                    self.text[idx], dtype=self.audio.dtype)

    def seconds(self, sample_rate: int) -> float:
        return len(self.audio) / sample_rate

    def save(self, path: str | Path) -> None:
        save_npz(path, audio=self.audio, offsets=self.offsets, name=self.name,
                 group=self.group, text=self.text)

    @classmethod
    def load(cls, path: str | Path) -> "AudioPool":
        with np.load(path) as f:
            return cls(f["audio"], f["offsets"], f["name"], f["group"], f["text"])


class RunDir:
    """Paths and readers of one run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    # ------------------------------------------------------------ paths

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def stamps(self) -> Path:
        return self.root / STAMPS

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def quantize(self) -> Path:
        return self.root / "quantize"

    @property
    def stream(self) -> Path:
        return self.root / "stream"

    @property
    def export(self) -> Path:
        return self.root / EXPORT_DIR

    @property
    def verify(self) -> Path:
        return self.root / "verify"

    @property
    def target(self) -> Path:
        return self.root / "target"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    def trained(self, stage: str) -> Path:
        """The folder of a training stage: teacher/ or student/."""
        return self.root / stage

    def split_path(self, split: str) -> Path:
        return self.data / f"{split}.npz"

    def noise_path(self, split: str) -> Path:
        return self.data / f"noise_{split}.npz"

    def pool_path(self, kind: str, split: str) -> Path:
        if kind not in POOL_KINDS:
            raise KwsError(f"unknown material pool {kind!r}; known: {POOL_KINDS}")
        return self.data / f"{kind}_{split}.npz"

    @property
    def labels_path(self) -> Path:
        return self.data / "labels.json"

    def features_path(self, split: str) -> Path:
        return self.features_dir / f"{split}.npz"

    @property
    def quant_path(self) -> Path:
        return self.features_dir / "quant.json"

    @property
    def model_int8_path(self) -> Path:
        return self.quantize / "model_int8.npz"

    @property
    def layers_path(self) -> Path:
        return self.quantize / "layers.json"

    @property
    def operating_point_path(self) -> Path:
        return self.stream / "operating_point.json"

    @property
    def detector_json_path(self) -> Path:
        return self.export / DETECTOR_JSON

    def require_completed(self, stages, setting: str) -> None:
        """For a stage that reads another run (named by `setting`): those stages must have
        completed there."""
        stamps = read_json(self.stamps, default={})
        missing = [s for s in stages if s not in stamps]
        if missing:
            raise KwsError(f"{setting}={self.root}: stage(s) {', '.join(missing)} have not "
                           f"completed there (no stamp in {STAMPS}): run them first, e.g. "
                           f"kws hydra.run.dir={self.root} stages=[{','.join(missing)}]")

    # ------------------------------------------------------------ data stage

    def split(self, split: str) -> dict[str, np.ndarray]:
        """The clips the data stage wrote for `split`: audio, label, speaker."""
        return _load_npz(self.split_path(split), "data")

    def noise(self, split: str) -> list[np.ndarray]:
        """The split's share of the background recordings, in name order."""
        arrays = _load_npz(self.noise_path(split), "data")
        return [arrays[k] for k in sorted(arrays)]

    def pool(self, kind: str, split: str) -> AudioPool:
        """A material pool the data stage wrote: speech (keyword-free TTS sentences of the
        split's voices), negatives (real recordings of other words) or rirs (impulse
        responses); the train pool and the held-out pools share no voice, file or room."""
        path = self.pool_path(kind, split)
        if not path.exists():
            raise KwsError(f"{path} is missing: run the data stage first (stages=[data,...])")
        return AudioPool.load(path)

    def save_pool(self, kind: str, split: str, pool: AudioPool, folder: Path | None = None) -> None:
        """Write a pool; folder: where the data stage builds data/ aside (default data/)."""
        path = self.pool_path(kind, split)
        pool.save(Path(folder) / path.name if folder else path)

    def labels_meta(self) -> dict:
        """data/labels.json: labels, sample_rate, clip_samples."""
        return _read_json(self.labels_path, "data")

    def labels(self) -> list[str]:
        return self.labels_meta()["labels"]

    # ------------------------------------------------------------ features stage

    def features(self, split: str) -> dict[str, np.ndarray]:
        """The golden int8 features of `split`: features [N, frames, n_out], label [N]."""
        return _load_npz(self.features_path(split), "features")

    def quant(self) -> dict:
        """features/quant.json: the network's input quantisation and the front-end settings."""
        return _read_json(self.quant_path, "features")

    def mfcc_tables(self) -> MfccTables:
        """The front end's tables, made from the settings the features stage recorded."""
        quant = self.quant()
        return make_tables(quant["settings"], int(quant["sample_rate"]),
                           quant.get("clip_samples"))

    # ------------------------------------------------------------ training stages

    def model_config(self, stage: str) -> dict:
        """The model config a training stage recorded (model.json)."""
        return _read_json(self.trained(stage) / "model.json", stage)

    def checkpoint(self, stage: str) -> Path:
        """best.pt of a training stage (torch loads it: kws.training.loop.load_trained)."""
        path = self.trained(stage) / "best.pt"
        if not path.exists():
            raise KwsError(f"{path} is missing: run the {stage} stage first")
        return path

    # ------------------------------------------------------------ quantize stage

    def golden_network(self) -> list:
        """The golden int8 layers the quantize stage wrote (model_int8.npz + layers.json)."""
        rows = read_json(self.layers_path)
        if rows is None or not self.model_int8_path.exists():
            raise KwsError(f"{self.quantize}: no int8 model: run the quantize stage first")
        with np.load(self.model_int8_path) as f:
            return [_layer(row, f) for row in rows]

    def save_golden_network(self, layers: list, rows: list[dict], folder: Path) -> None:
        """Write `folder`/model_int8.npz (every layer's integers) and layers.json (`rows`, one
        per layer: name, kind, shape, scale, zero_point, ...); `folder` is the quantize stage's
        folder being built (it becomes self.quantize)."""
        save_npz(Path(folder) / self.model_int8_path.name, **_flatten(layers))
        write_json(Path(folder) / self.layers_path.name, rows)

    def model_hash(self) -> str:
        """sha256 of model_int8.npz: what an operating point or a cache was made for."""
        return hashlib.sha256(self.model_int8_path.read_bytes()).hexdigest()

    # ------------------------------------------------------------ stream and export stages

    def operating_point(self) -> dict | None:
        """The stream stage's chosen threshold, if it was made for this run's int8 network."""
        point = read_json(self.operating_point_path)
        if point is None or point.get("model_sha256") != self.model_hash():
            return None
        return point

    def detector_settings(self) -> DetectorSettings:
        """The recogniser settings the export stage built into the C (firmware/detector.json)."""
        return DetectorSettings.from_json(_read_json(self.detector_json_path, "export"))


# ---------------------------------------------------------------- the int8 network's file

def _layer(row: dict, f) -> Conv | AvgPool | Dense:
    name = row["name"]
    if row["kind"] == "avgpool":
        return AvgPool(name, QuantParams(row["scale"], row["zero_point"]))
    in_scale, in_zp, out_scale, out_zp = f[f"{name}/io_quant"]
    io = QuantParams(float(in_scale), int(in_zp)), QuantParams(float(out_scale), int(out_zp))
    if row["kind"] == "dense":
        return Dense(name, f[f"{name}/weights"], f[f"{name}/bias"],
                     int(f[f"{name}/multiplier"][0]), int(f[f"{name}/shift"][0]), *io)
    return Conv(name, f[f"{name}/weights"], f[f"{name}/bias"], f[f"{name}/multiplier"],
                f[f"{name}/shift"], tuple(int(v) for v in f[f"{name}/stride"]),
                row["kind"] == "dwconv", *io, act_min=io[1].zero_point,
                time_padding=row.get("time_padding", "same"))


def _flatten(layers: list) -> dict[str, np.ndarray]:
    arrays = {}
    for layer in layers:
        prefix = layer.name
        if isinstance(layer, (Conv, Dense)):
            arrays[f"{prefix}/weights"] = layer.weights
            arrays[f"{prefix}/bias"] = layer.bias
            arrays[f"{prefix}/multiplier"] = np.atleast_1d(layer.multiplier).astype(np.int32)
            arrays[f"{prefix}/shift"] = np.atleast_1d(layer.shift).astype(np.int32)
            arrays[f"{prefix}/io_quant"] = np.array([layer.input.scale, layer.input.zero_point,
                                                     layer.output.scale, layer.output.zero_point])
        if isinstance(layer, Conv):
            arrays[f"{prefix}/stride"] = np.array(layer.stride, dtype=np.int32)
    return arrays


# ---------------------------------------------------------------- helpers

def _load_npz(path: Path, stage: str) -> dict[str, np.ndarray]:
    if not path.exists():
        raise KwsError(f"{path} is missing: run the {stage} stage first (stages=[{stage},...])")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _read_json(path: Path, stage: str):
    value = read_json(path)
    if value is None:
        raise KwsError(f"{path} is missing: run the {stage} stage first")
    return value
