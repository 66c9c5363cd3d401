"""The run directory: where every artifact lives, and the one reader of each (numpy + json only).

Stages write their part of a run directory and read what earlier stages wrote only through
`RunDir`, never by importing another stage. Nothing here imports torch, eSpeak or a compiler, so
the integer stages (stream, export, verify, firmware) load in a fraction of a second.

    run/data/{split}.npz            audio int16 [N, S], label int16 [N], speaker str [N]
    run/data/noise_{split}.npz      background recordings (int16, one array each)
    run/data/labels.json            labels, sample_rate, clip_samples
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
        return make_tables(quant["settings"], int(quant["sample_rate"]))

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
