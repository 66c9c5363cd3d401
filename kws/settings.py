"""Every setting's allowed values, checked in one place before the first stage runs.

The structured configs (kws.config) already reject a misspelt key or a wrong type when Hydra
composes the config. This module checks what types cannot: ranges, choices, min <= max pairs and
the few settings that depend on each other. validate_settings raises one KwsError that lists every
bad setting as `key=value: must be ...`, so `detector.threshold=300` stops the run before any
training, not after it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from omegaconf import OmegaConf

from kws.errors import KwsError
from kws.toolchain.cortex_m import BOARDS


@dataclass(frozen=True)
class Rule:
    accepts: Callable[[Any], bool]
    allowed: str                          # completes "must be ..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def integer(lo: int | None = None, hi: int | None = None) -> Rule:
    if hi is None:
        text = "an integer" if lo is None else f"an integer >= {lo}"
    else:
        text = f"an integer in [{lo}, {hi}]"
    return Rule(lambda v: _is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi),
                text)


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
         hi_open: bool = False) -> Rule:
    """A finite number in the interval; lo_open/hi_open exclude the bound."""
    def accepts(v) -> bool:
        return (_is_real(v) and (lo is None or (v > lo if lo_open else v >= lo))
                and (hi is None or (v < hi if hi_open else v <= hi)))
    if lo is None and hi is None:
        text = "a finite number"
    elif hi is None:
        text = f"a number {'>' if lo_open else '>='} {lo:g}"
    elif lo is None:
        text = f"a number {'<' if hi_open else '<='} {hi:g}"
    else:
        text = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    return Rule(accepts, text)


def choice(*options: str) -> Rule:
    return Rule(lambda v: v in options, "one of " + ", ".join(options))


def optional(rule: Rule) -> Rule:
    return Rule(lambda v: v is None or rule.accepts(v), f"null or {rule.allowed}")


def pair(lo: int = 1) -> Rule:
    return Rule(lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(x) and x >= lo
                                                                      for x in v),
                f"two integers >= {lo}, e.g. [1, 1]")


def _blocks(v) -> bool:
    return isinstance(v, list) and all(
        isinstance(b, dict) and integer(1).accepts(b.get("channels"))
        and pair().accepts(b.get("stride")) for b in v)


BLOCKS = Rule(_blocks, "a list of {channels: integer >= 1, stride: [integer >= 1, integer >= 1]}")
def subset_of(*options: str) -> Rule:
    return Rule(lambda v: isinstance(v, list) and all(x in options for x in v),
                "a list of: " + ", ".join(options))


def positive_list() -> Rule:
    return Rule(lambda v: isinstance(v, list) and all(_is_real(x) and x > 0 for x in v),
                "a list of numbers > 0")


# The TTS engines kws.audio.tts knows (a test compares them with its registry).
TTS_ENGINES = ("espeak", "flite", "festival", "piper", "pico", "rhvoice", "mbrola")
UNIT = real(0, 1)                          # probabilities and weights
SHARE = real(0, 1, hi_open=True)
POSITIVE = real(0, lo_open=True)
NON_NEGATIVE = real(0)
SEED = integer(0)                          # numpy's generators take no negative seeds


def _model(prefix: str) -> dict[str, Rule]:
    return {f"{prefix}.first_channels": integer(1), f"{prefix}.first_kernel": pair(),
            f"{prefix}.first_stride": pair(), f"{prefix}.blocks": BLOCKS,
            f"{prefix}.dropout": SHARE, f"{prefix}.time_padding": choice("same", "valid")}


# Key → allowed values, for every numeric or choice setting of kws.config's dataclasses.
RULES: dict[str, Rule] = {
    "seed": SEED,
    "workers": integer(0),
    "objective": Rule(lambda v: v is None or bool(re.fullmatch(r"[a-z]+\.\w+", str(v))),
                      "null or a report value as <stage>.<key>, e.g. stream.frr"),
    "data.source": choice("synthetic", "speech_commands"),
    "data.seed": SEED,
    "data.unknown_share": SHARE,
    "data.silence_share": SHARE,
    "data.negative_windows_share": NON_NEGATIVE,
    "data.partial_words_share": NON_NEGATIVE,
    "mining.pool_windows": integer(1),
    "mining.start_epoch": integer(0),
    "mining.per_epoch": integer(1),
    "mining.min_score": UNIT,
    "mining.weight": POSITIVE,
    "mining.source": choice("windows", "streams"),
    "mining.stream_hours": POSITIVE,
    "mining.threshold": optional(integer(0, 255)),
    "data.validation_percent": real(0, 100, hi_open=True),
    "data.testing_percent": real(0, 100, hi_open=True),
    "data.sample_rate": integer(8000),
    "data.clip_ms": integer(1),
    "data.sha256": Rule(lambda v: v is None or bool(re.fullmatch(r"[0-9a-fA-F]{64}", str(v))),
                        "null or 64 hexadecimal digits"),
    "data.example_spectrograms": integer(0),
    "data.augment.time_shift_ms": NON_NEGATIVE,
    "data.augment.noise_prob": UNIT,
    "data.augment.snr_db_min": real(),
    "data.augment.snr_db_max": real(),
    "data.augment.gain_db_min": real(),
    "data.augment.gain_db_max": real(),
    "data.synthetic.takes_per_keyword": integer(1),
    "data.synthetic.unknown_per_speaker": integer(0),
    "data.synthetic.vocabulary_per_speaker": integer(0),
    "data.augment.reverb_prob": UNIT,
    "data.augment.rir_sources": subset_of("real", "synthetic"),
    "data.augment.negatives_sources": subset_of("real", "synthetic"),
    "data.synthetic.engines": subset_of(*TTS_ENGINES),
    **{f"data.synthetic.speakers_per_voice.{e}": integer(0) for e in TTS_ENGINES},
    "data.augment.negatives_prob": UNIT,
    "data.augment.negatives_snr_db_min": real(),
    "data.augment.negatives_snr_db_max": real(),
    "data.augment.level_prob": UNIT,
    "data.augment.level_db_min": real(None, 0),
    "data.augment.level_db_max": real(None, 0),
    "data.augment.level_ramp_db": NON_NEGATIVE,
    "data.synthetic.rate_min": real(0.5, 2.0),   # factors of each voice's own rate and pitch
    "data.synthetic.rate_max": real(0.5, 2.0),   # (the ranges kws.audio.voices accepts)
    "data.synthetic.pitch_min": real(0.6, 1.6),
    "data.synthetic.pitch_max": real(0.6, 1.6),
    "data.synthetic.rate_jitter": real(0, 0.3),
    "data.synthetic.pitch_jitter": real(0, 0.3),
    "data.synthetic.sentences_per_speaker": integer(0),
    "data.synthetic.sentence_words_min": integer(1),
    "data.synthetic.sentence_words_max": integer(1),
    "data.synthetic.noise_seconds": POSITIVE,
    "data.synthetic.babble_voices": integer(1),
    "data.synthetic.workers": integer(1),
    "data.negatives.max_seconds": POSITIVE,
    "data.rooms.synthetic_rooms": integer(0),
    "data.rooms.rt60_min": real(0.05, 3.0),      # seconds (as kws.audio.rooms accepts)
    "data.rooms.rt60_max": real(0.05, 3.0),
    "data.rooms.max_order": integer(1),
    "data.rooms.min_distance": NON_NEGATIVE,
    "data.rooms.validation_percent": real(0, 100, hi_open=True),
    "data.rooms.testing_percent": real(0, 100, hi_open=True),
    "features.kind": choice("mfcc", "logmel"),
    "features.window_ms": POSITIVE,
    "features.stride_ms": POSITIVE,
    "features.fft_len": integer(16, 4096),
    "features.n_mels": integer(1),
    "features.fmin": NON_NEGATIVE,
    "features.fmax": POSITIVE,
    "features.n_coeffs": integer(1),
    "features.log_floor": POSITIVE,
    "features.out_scale": POSITIVE,
    "features.out_zero_point": integer(-128, 127),
    "features.fidelity_every": integer(1),
    **_model("teacher_model"),
    **_model("student_model"),
    "train.epochs": integer(1),
    "train.batch_size": integer(1),
    "train.lr": POSITIVE,
    "train.weight_decay": NON_NEGATIVE,
    "train.warmup_epochs": integer(0),
    "train.label_smoothing": SHARE,
    "train.device": choice("auto", "cpu", "cuda"),
    "train.threads": integer(0),
    "train.spec_augment.time_masks": integer(0),
    "train.spec_augment.time_mask_frames": integer(0),
    "train.spec_augment.freq_masks": integer(0),
    "train.spec_augment.freq_mask_coeffs": integer(0),
    "distill.temperature": POSITIVE,
    "distill.alpha": UNIT,
    "distill.epochs": optional(integer(1)),
    "distill.checkpoint_on": choice("accuracy", "stream"),
    "distill.checkpoint_from_epoch": integer(1),
    "prune.importance": choice("l1", "l2", "wanda"),
    "prune.ratio": real(0, 1, lo_open=True, hi_open=True),
    "prune.budget.kind": optional(choice("m4_instructions", "arena_bytes", "flash_bytes")),
    "budget.kind": optional(choice("params", "arena_bytes", "flash_bytes", "m4_instructions")),
    "budget.value": optional(integer(1)),
    "prune.budget.value": optional(integer(1)),
    "prune.multiple": integer(1),
    "prune.rounds": integer(1),
    "prune.finetune_epochs": integer(1),
    "prune.lr": POSITIVE,
    "prune.calibration_clips": integer(1),
    "quant.calibration": choice("minmax", "percentile"),
    "quant.percentile": real(0, 100, lo_open=True),
    "quant.calibration_clips": integer(1),
    "quant.qat_epochs": integer(0),
    "quant.qat_lr": POSITIVE,
    "detector.infer_every_frames": integer(1),
    "detector.average_window_ms": POSITIVE,
    "detector.min_count": integer(1),
    "detector.threshold": integer(0, 255),
    "detector.suppression_ms": NON_NEGATIVE,
    "stream.positive_minutes": optional(POSITIVE),
    "stream.negative_hours": POSITIVE,
    "stream.negative_material": choice("material", "clips"),
    "stream.negative_reverb_prob": UNIT,
    "stream.select_on": choice("validation", "test"),
    "stream.average_windows_ms": positive_list(),
    "stream.validation_positive_minutes": optional(POSITIVE),
    "stream.validation_negative_hours": POSITIVE,
    "stream.snr_db_min": real(),
    "stream.snr_db_max": real(),
    "stream.gap_s_min": NON_NEGATIVE,
    "stream.gap_s_max": NON_NEGATIVE,
    "stream.hit_window_s": NON_NEGATIVE,
    "stream.target_fa_per_hour": NON_NEGATIVE,
    "stream.seed": SEED,
    "export.ram_budget_bytes": optional(integer(1)),
    "export.flash_budget_bytes": optional(integer(1)),
    "verify.stream_seconds": POSITIVE,
    "verify.stream_snr_db": real(),
    "verify.seed": SEED,
    "firmware.board": choice(*BOARDS),
    "firmware.clips": integer(1),
    "firmware.figure_boards": Rule(lambda v: isinstance(v, list) and all(b in BOARDS for b in v),
                                   "a list of boards: " + ", ".join(BOARDS)),
}

# (min key, max key): ranges drawn from uniformly.
ORDERED = [("data.augment.snr_db_min", "data.augment.snr_db_max"),
           ("data.augment.gain_db_min", "data.augment.gain_db_max"),
           ("data.augment.negatives_snr_db_min", "data.augment.negatives_snr_db_max"),
           ("data.augment.level_db_min", "data.augment.level_db_max"),
           ("data.synthetic.rate_min", "data.synthetic.rate_max"),
           ("data.synthetic.pitch_min", "data.synthetic.pitch_max"),
           ("data.synthetic.sentence_words_min", "data.synthetic.sentence_words_max"),
           ("data.rooms.rt60_min", "data.rooms.rt60_max"),
           ("stream.snr_db_min", "stream.snr_db_max"),
           ("stream.gap_s_min", "stream.gap_s_max")]


def validate_settings(cfg) -> None:
    """Raise one KwsError naming every setting outside its allowed values."""
    problems = [f"{key}={_show(_get(cfg, key))}: must be {rule.allowed}"
                for key, rule in RULES.items() if not rule.accepts(_get(cfg, key))]
    bad = {p.split("=", 1)[0] for p in problems}
    problems += [f"{lo}={_get(cfg, lo)} > {hi}={_get(cfg, hi)}: the minimum must be <= the maximum"
                 for lo, hi in ORDERED if not bad & {lo, hi} and _get(cfg, lo) > _get(cfg, hi)]
    if not problems:                      # the checks below need each value in its own range
        problems += _combinations(cfg)
    if problems:
        raise KwsError("bad setting(s):\n  " + "\n  ".join(problems) if len(problems) > 1
                       else problems[0])


def _combinations(cfg) -> list[str]:
    """Settings that are only wrong together."""
    from kws.golden.detector import MAX_AVERAGE_WINDOW, MAX_CLASSES
    from kws.golden.mfcc_tables import check_settings
    from kws.audio.speech_commands import validate_keywords

    d, problems = cfg.data, []
    try:
        validate_keywords(list(d.keywords))
    except KwsError as exc:
        problems.append(str(exc))
    if len(d.keywords) + 2 > MAX_CLASSES:
        problems.append(f"data.keywords: {len(d.keywords)} keywords; the detector takes at most "
                        f"{MAX_CLASSES - 2} (plus _silence_ and _unknown_)")
    if d.root and d.source == "synthetic":
        problems.append(f"data.root={d.root} is set, but data.source=synthetic ignores it: add "
                        "data=speech_commands to read that folder")
    if d.with_synthetic and d.source != "speech_commands":
        problems.append("data.with_synthetic=true adds the synthetic set to recorded speech: it "
                        "needs data=speech_commands (data.source=synthetic is that set alone)")
    if d.unknown_share + d.silence_share >= 1:
        problems.append(f"data.unknown_share + data.silence_share = "
                        f"{d.unknown_share + d.silence_share:g}: must be < 1")
    if d.validation_percent + d.testing_percent >= 100:
        problems.append(f"data.validation_percent + data.testing_percent = "
                        f"{d.validation_percent + d.testing_percent:g}: must be < 100")
    try:
        window_len, _ = check_settings(cfg.features, d.sample_rate)
        if window_len > d.sample_rate * d.clip_ms // 1000:
            problems.append(f"features.window_ms={cfg.features.window_ms} is longer than a clip "
                            f"(data.clip_ms={d.clip_ms})")
    except KwsError as exc:
        problems.append(str(exc))
    for key, otherwise in (("prune.budget", " (prune.ratio)"), ("budget", "")):
        budget = OmegaConf.select(cfg, key)
        if (budget.kind is None) != (budget.value is None):
            problems.append(f"{key}.kind={_show(budget.kind)} with {key}.value="
                            f"{_show(budget.value)}: set both (a budget) or neither{otherwise}")
    st, ds = cfg.stream, cfg.distill
    on_validation_streams = st.select_on == "validation" or ds.checkpoint_on == "stream"
    epochs = ds.epochs or cfg.train.epochs
    if ds.checkpoint_on == "stream" and ds.checkpoint_from_epoch > epochs:
        problems.append(f"distill.checkpoint_from_epoch={ds.checkpoint_from_epoch} with "
                        f"{'distill' if ds.epochs else 'train'}.epochs={epochs}: no epoch would "
                        "be scored on the validation streams")
    if on_validation_streams and st.validation_negative_hours * st.target_fa_per_hour < 1:
        problems.append(f"stream.validation_negative_hours={st.validation_negative_hours:g} with "
                        f"stream.target_fa_per_hour={st.target_fa_per_hour:g}: the validation "
                        "stream must be long enough for one false accept to meet the target "
                        f"(at least {1 / st.target_fa_per_hour:g} h), or the threshold is chosen "
                        "on no false accept at all")
    det = cfg.detector
    candidates = [("detector.average_window_ms", det.average_window_ms)]
    if st.select_on == "validation":
        candidates += [("stream.average_windows_ms", ms) for ms in st.average_windows_ms]
    for key, ms in candidates:
        problems += _average_window_problems(key, ms, det, cfg.features.stride_ms)
    return problems


def _average_window_problems(key: str, average_window_ms, det, stride_ms: float) -> list[str]:
    from kws.golden.detector import MAX_AVERAGE_WINDOW
    if not _is_real(average_window_ms) or average_window_ms <= 0:
        return []                                   # the rules above name it
    inference_ms = det.infer_every_frames * stride_ms
    window = max(1, round(average_window_ms / inference_ms))   # as kws.export computes it
    if window > MAX_AVERAGE_WINDOW:
        return [f"{key}={average_window_ms:g}: must be at most {MAX_AVERAGE_WINDOW} inferences "
                f"({MAX_AVERAGE_WINDOW * inference_ms:g} ms at one every "
                f"{det.infer_every_frames} frames of {stride_ms:g} ms)"]
    if det.min_count > window:
        return [f"detector.min_count={det.min_count}: must be in [1, {window}], the inferences "
                f"in {key}={average_window_ms:g}"]
    return []


def _get(cfg, key: str):
    value = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return "null" if value is None else str(value)
