"""Stage evaluate: a finished run scored on any folder in the Speech Commands layout."""
import json

import numpy as np
import pytest
import soundfile as sf

from conftest import compose_cfg, copy_run, make_layout
from kws.config import DEFAULT_KEYWORDS
from kws.errors import KwsError
from kws.pipeline import run_pipeline


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Every keyword of the tiny run's model, plus an unknown word, two speakers each."""
    return make_layout(tmp_path_factory.mktemp("eval") / "sc", keywords=DEFAULT_KEYWORDS,
                       speakers=2)


def test_evaluate_scores_every_clip_with_float_and_int8(quantized_run, folder, tmp_path):
    run_dir, overrides = quantized_run
    run_dir = copy_run(run_dir, tmp_path / "scored")     # evaluate writes into the scored run
    cfg = compose_cfg(overrides + ["stages=[evaluate]", f"eval.root={folder}",
                                   f"eval.run={run_dir}", "eval.name=tones"])
    entry = run_pipeline(cfg, tmp_path / "eval_run")["evaluate"]
    assert entry["clips"] == 2 * (len(DEFAULT_KEYWORDS) + 1) and entry["skipped_clips"] == 0
    assert 0 <= entry["float_acc"] <= 1 and 0 <= entry["int8_acc"] <= 1
    written = json.loads((run_dir / "eval" / "tones.json").read_text())
    assert written["int8_acc"] == entry["int8_acc"]
    assert set(written["per_class_recall_int8"]) <= {"_unknown_", *DEFAULT_KEYWORDS}
    assert (run_dir / "eval" / "tones_confusion.png").stat().st_size > 1000


def test_evaluate_names_what_is_missing(quantized_run, folder, tmp_path):
    run_dir, overrides = quantized_run
    with pytest.raises(KwsError, match="eval.root"):
        run_pipeline(compose_cfg(overrides + ["stages=[evaluate]", f"eval.run={run_dir}"]),
                     tmp_path / "a")
    with pytest.raises(KwsError, match="not a finished kws run"):
        run_pipeline(compose_cfg(overrides + ["stages=[evaluate]", f"eval.root={folder}",
                                              f"eval.run={tmp_path}"]), tmp_path / "b")


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
