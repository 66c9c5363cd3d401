"""Stage evaluate: a finished run scored on a folder in the Speech Commands layout."""
import json

import numpy as np
import pytest
import soundfile as sf

from conftest import compose_cfg
from kws.pipeline import run_pipeline


def _folder(root, audio, labels, names, subtype):
    """The clips as a Speech Commands folder, one speaker per clip."""
    for i, (clip, label) in enumerate(zip(audio, labels)):
        word = names[label]
        name = f"{i:08x}_nohash_0.wav" if not word.startswith("_") else \
            f"{'noise' if word == '_silence_' else 'other'}_{i:08x}_nohash_0.wav"
        (root / word).mkdir(parents=True, exist_ok=True)
        data = clip / 32768.0 if subtype != "PCM_16" else clip
        sf.write(root / word / name, data, 16000, subtype=subtype)
    return root


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_float_wavs_score_as_their_pcm16_twins(quantized_run, tmp_path, subtype):
    run_dir, overrides = quantized_run
    with np.load(run_dir / "data" / "test.npz") as f:
        audio, labels = f["audio"], f["label"]
    names = json.loads((run_dir / "data" / "labels.json").read_text())["labels"]
    scores = {}
    for kind in ("PCM_16", subtype):
        folder = _folder(tmp_path / kind, audio, labels, names, kind)
        cfg = compose_cfg(overrides + ["stages=[evaluate]", f"eval.root={folder}",
                                       f"eval.run={run_dir}", f"eval.name=eval_{kind}"])
        entry = run_pipeline(cfg, tmp_path / f"run_{kind}")["evaluate"]
        scores[kind] = {k: entry[k] for k in ("clips", "skipped_clips", "float_acc", "int8_acc",
                                              "per_class_recall_int8")}
    assert scores[subtype] == scores["PCM_16"] and scores["PCM_16"]["clips"] == len(audio)
