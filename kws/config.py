"""Structured configs: the schema every YAML file in conf/ is merged into.

A misspelt key or a value of the wrong type fails when Hydra composes the config, naming the key
(for example ``Key 'kewords' not in 'DataConfig'``), before any stage runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

DEFAULT_KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]

# The official archive and its SHA-256 (as listed by TensorFlow Datasets' speech_commands checksums).
SPEECH_COMMANDS_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"


@dataclass
class PathsConfig:
    # Generated data (synthetic speech, downloads, feature caches) lives here, shared across runs.
    cache_dir: str = "${oc.env:KWS_CACHE_DIR,'~/.cache/kws'}"
    # Material beside the project (negatives/, rirs/, text/; see its README). Optional: where it
    # is absent, the data stage says so and uses what it synthesises. null: $KWS_SHARED_DATA,
    # else ../shared/data beside the repository.
    shared_data: Optional[str] = None


@dataclass
class AugmentConfig:
    """Training-clip augmentation, drawn from the seed (see kws.audio.augment)."""
    enabled: bool = True
    time_shift_ms: float = 100.0          # uniform shift in [-t, +t], zero-filled
    noise_prob: float = 0.8               # chance a clip gets background noise
    snr_db_min: float = 5.0
    snr_db_max: float = 25.0
    gain_db_min: float = -6.0
    gain_db_max: float = 6.0
    # Reverberation: the clip convolved with a room impulse response from the training rooms
    # (data/rirs_train.npz: real rooms from ../shared and/or synthetic pyroomacoustics rooms).
    reverb_prob: float = 0.5
    rir_sources: List[str] = field(default_factory=lambda: ["real", "synthetic"])
    # Interfering speech: a training negative (data/negatives_train.npz: real recordings of other
    # words and wake words; keyword-free TTS sentences of training voices) mixed in at an SNR.
    negatives_prob: float = 0.3
    negatives_sources: List[str] = field(default_factory=lambda: ["real", "synthetic"])
    negatives_snr_db_min: float = 0.0
    negatives_snr_db_max: float = 20.0
    # Level: the clip's speech set to an active level drawn in [min, max] dBFS (near and far
    # talkers), with a linear-in-dB ramp of up to +-level_ramp_db across the clip.
    level_prob: float = 0.5
    level_db_min: float = -50.0
    level_db_max: float = -12.0
    level_ramp_db: float = 6.0


@dataclass
class SyntheticConfig:
    """Offline TTS data set (kws.audio.synthetic, voices: kws.audio.voices, engines: kws.audio.tts)."""
    # Engines: espeak (PyPI), flite and festival (Debian main), piper (PyPI) by default; pico,
    # rhvoice and mbrola (Debian contrib/non-free) only when opted in: nonfree=true, or listed.
    engines: List[str] = field(default_factory=lambda: ["espeak", "flite", "festival", "piper"])
    nonfree: bool = False
    voices: List[str] = field(default_factory=list)    # only these voice ids (empty: all found)
    # eSpeak NG voices: accent x variant
    accents: List[str] = field(default_factory=lambda: [
        "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
        "en-gb-x-gbclan", "en-gb-x-gbcwmd"])
    # eSpeak variants whose output is reproducible (f2, f3, f5 add breath noise that is not).
    variants: List[str] = field(default_factory=lambda: [
        "m1", "m3", "m5", "m7", "f1", "f4", "Annie", "anika"])
    # Speakers made from each voice of an engine (rate/pitch styles, see kws.audio.voices).
    speakers_per_voice: Dict[str, int] = field(default_factory=lambda: {
        "espeak": 1, "flite": 6, "festival": 6, "piper": 8, "pico": 6, "rhvoice": 6,
        "mbrola": 2})
    rate_min: float = 0.8                 # a speaker's base speaking rate (factor of the voice's)
    rate_max: float = 1.25
    pitch_min: float = 0.85               # a speaker's base F0 (factor)
    pitch_max: float = 1.2
    rate_jitter: float = 0.08             # per utterance, +- this fraction around the speaker's
    pitch_jitter: float = 0.04
    # _unknown_ words: confusable near-words of the keywords, then other words.
    unknown_words: List[str] = field(default_factory=lambda: [
        "yet", "yellow", "yeah", "yell", "less", "guess", "know", "note", "snow", "nose", "new",
        "cup", "pup", "hop", "town", "gown", "brown", "dawn", "lift", "loft", "let", "laughed",
        "write", "light", "bright", "white", "one", "own", "an", "in", "of", "cough", "often",
        "top", "shop", "step", "stock", "goal", "goat", "low", "grow",
        "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
        "nine", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero", "backward",
        "forward", "follow", "learn", "visual"])
    takes_per_keyword: int = 1            # utterances of each keyword per speaker
    unknown_per_speaker: int = 4          # unknown-word utterances per speaker
    # ... and this many more per speaker, each drawn from the words of the keyword-free sentences
    # (kws.audio.sentences.vocabulary: thousands of words, not a keyword or its inflection).
    vocabulary_per_speaker: int = 0
    # Negative speech: keyword-free sentences (../shared/data/text, else built in), each spoken
    # by one speaker only; kept whole for babble and negative streams.
    sentences_per_speaker: int = 2
    sentence_words_min: int = 4
    sentence_words_max: int = 16
    noise_seconds: float = 30.0           # length of each generated background-noise file
    babble_voices: int = 6                # talkers in the babble the data stage mixes per split
    workers: int = 2                      # processes synthesising side by side (not in the key)


@dataclass
class NegativesConfig:
    """Real negative recordings (kws.audio.negatives): <paths.shared_data>/<dir>/<source>/<phrase>/.

    Held out by phrase folder: validation and test folders are never in the training pool
    (their phrases must occur in no training folder: jarvis and amelia occur nowhere else)."""
    dir: str = "negatives"
    validation: List[str] = field(default_factory=lambda: ["mycroft/amelia"])
    test: List[str] = field(default_factory=lambda: ["picovoice/jarvis"])
    max_seconds: float = 3.0              # per recording, after trimming silence


@dataclass
class RoomsConfig:
    """Room impulse responses (kws.audio.rooms): real rooms from <paths.shared_data>/<real_dir>,
    held out by name (validation_percent / testing_percent of the rooms, ranked by a salted
    hash); synthetic shoebox rooms made with pyroomacoustics, drawn separately per split."""
    real_dir: str = "rirs/voxengo"
    synthetic_rooms: int = 80             # in all splits together
    size_min: List[float] = field(default_factory=lambda: [3.0, 3.0, 2.4])    # metres
    size_max: List[float] = field(default_factory=lambda: [12.0, 10.0, 4.0])
    rt60_min: float = 0.15                # seconds; absorption from Sabine's formula
    rt60_max: float = 0.9
    max_order: int = 60                   # image-source reflections (caps the slowest rooms)
    min_distance: float = 0.5             # metres between talker, microphone and walls
    validation_percent: float = 15.0
    testing_percent: float = 15.0


@dataclass
class DataConfig:
    source: str = "synthetic"             # synthetic | speech_commands
    seed: int = 0                         # the data set's own seed (synthesis, unknown/silence picks)
    root: Optional[str] = None            # Speech Commands folder (source=speech_commands)
    keywords: List[str] = field(default_factory=lambda: list(DEFAULT_KEYWORDS))
    unknown_share: float = 0.1            # share of each split that is _unknown_ (capped by supply)
    silence_share: float = 0.1            # share of each split that is _silence_
    # Training split only: this many more _unknown_ examples, per example selected above, cut
    # as whole windows from the training negative speech (kws.audio.negatives.negative_windows).
    negative_windows_share: float = 0.0
    # Training split only: this many `_unknown_` windows of partly cut keywords (a word entering
    # or leaving the window, at most half of it inside: kws.audio.partial_words), per example.
    partial_words_share: float = 0.0
    # With data.source=speech_commands: the synthetic set (data.synthetic) joins the recordings.
    # Its training voices' keywords and _unknown_ words join the training split; its held-out
    # voices' sentences join the validation and test negative speech (streams). Validation and
    # test clips stay recorded speakers, so scores stay comparable.
    with_synthetic: bool = False
    validation_percent: float = 10.0
    testing_percent: float = 10.0
    split_salt: str = "kws"               # "" reproduces the official hash split (see speech_commands)
    sample_rate: int = 16000
    # The network's window. 1.5 s: the streamable student (no padding in time) then has context
    # on both sides of a 1 s word; 1 s clips are centred in it (kws.audio.clips.fit_length).
    clip_ms: int = 1500
    strict: bool = False                  # true: the first unreadable clip is an error, not a skip
    download: bool = False                # fetch the archive into `root` if it is not there
    url: str = SPEECH_COMMANDS_URL
    sha256: Optional[str] = None          # checked after download when set
    example_spectrograms: int = 4
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    negatives: NegativesConfig = field(default_factory=NegativesConfig)
    rooms: RoomsConfig = field(default_factory=RoomsConfig)


@dataclass
class FeaturesConfig:
    """Fixed-point MFCC front end (kws.golden.mfcc) and its float reference (kws.stages.features)."""
    kind: str = "mfcc"                    # mfcc | logmel (log-mel bands, no DCT)
    window_ms: float = 30.0               # periodic Hann window
    stride_ms: float = 20.0
    fft_len: int = 512
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 4000.0
    n_coeffs: int = 10                    # DCT-II outputs (kind=mfcc)
    log_floor: float = 1e-6               # ln(max(mel power, floor)); signal as int16/32768
    # int8 output q means (q - out_zero_point) * out_scale; these defaults are the MFCC's
    # (conf/features/mfcc.yaml explains them), logmel.yaml sets its own
    out_scale: float = 0.5
    out_zero_point: int = 47
    verify_c: bool = True                 # build the C front end and compare every frame
    sanitize: bool = False                # ... with ASan+UBSan (slower; the tests turn it on)
    cmsis_peer: bool = True               # measure CMSIS-DSP arm_mfcc_q15 when cmsisdsp is installed
    fidelity_every: int = 1               # SNR over every n-th clip (1 = all)


@dataclass
class BlockConfig:
    channels: int = 64
    stride: List[int] = field(default_factory=lambda: [1, 1])


@dataclass
class ModelConfig:
    """A DS-CNN (kws.training.models): first conv, depthwise-separable blocks, pool, classifier."""
    name: str = "student"
    first_channels: int = 64
    first_kernel: List[int] = field(default_factory=lambda: [5, 4])
    first_stride: List[int] = field(default_factory=lambda: [2, 1])
    # the default student's blocks (conf/model/student.yaml); the other presets set their own
    blocks: List[BlockConfig] = field(default_factory=lambda: [
        BlockConfig(64, [2, 2]), BlockConfig(64, [1, 1]), BlockConfig(64, [1, 1]),
        BlockConfig(64, [1, 1])])
    dropout: float = 0.2
    # along time: "same" (TF padding, window model only) or "valid" (no padding in time: the
    # network also runs streaming, one output row per step, bit-exact with the window model)
    time_padding: str = "valid"


@dataclass
class SpecAugmentConfig:
    """Time and frequency masks on each training batch (kws.training.spec_augment)."""
    enabled: bool = False
    time_masks: int = 2                   # bands of frames per clip
    time_mask_frames: int = 8             # each up to this many frames (of 49)
    freq_masks: int = 1                   # bands of coefficients per clip
    freq_mask_coeffs: int = 2             # each up to this many coefficients (of 10)


@dataclass
class TrainConfig:
    """Training of teacher and student (kws.training.loop): AdamW, linear warm-up then cosine decay."""
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    warmup_epochs: int = 1
    label_smoothing: float = 0.05
    augment: bool = True                  # new augmentation draw (seed, epoch) every epoch
    device: str = "auto"                  # auto: CUDA when present, else CPU
    threads: int = 0                      # CPU threads for torch; 0 = one per core
    resume: bool = False                  # continue from the stage's last checkpoint
    tensorboard: bool = True              # also log to TensorBoard when it is installed
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


@dataclass
class DistillConfig:
    """Student training: (1 - alpha) * CE(labels) + alpha * T^2 * KL(teacher_T || student_T)."""
    enabled: bool = True
    temperature: float = 4.0
    alpha: float = 0.7
    epochs: Optional[int] = None          # default: train.epochs
    teacher_dir: Optional[str] = None     # a run directory whose teacher/ to use; default: this run
    # best.pt by validation clip accuracy (accuracy), or by FRR at stream.target_fa_per_hour on
    # the validation streams among the epochs from checkpoint_from_epoch (stream; a streamable
    # student only: kws.training.stream_selection)
    checkpoint_on: str = "accuracy"
    checkpoint_from_epoch: int = 10


@dataclass
class MiningConfig:
    """Hard-negative mining in the student's training (kws.training.mining)."""
    enabled: bool = False
    # windows: score a pool of windows cut once; streams: the integer recogniser over a
    # negative training stream, built as the stream stage builds its held-out ones
    source: str = "windows"
    pool_windows: int = 4000              # windows of the training negative speech, cut once
    stream_hours: float = 1.0             # source=streams: its length
    threshold: Optional[int] = None       # source=streams: 0..255 (null: detector.threshold)
    start_epoch: int = 3                  # epochs before the first mining (0-based epoch index)
    per_epoch: int = 400                  # at most this many hard negatives join an epoch
    min_score: float = 0.5                # a window fires: top class a keyword at >= this
    weight: float = 2.0                   # their loss weight (the clips' is 1)


@dataclass
class PruneBudgetConfig:
    """A cost the pruned network must not exceed (instead of prune.ratio)."""
    kind: Optional[str] = None            # null (use prune.ratio) | m4_instructions (per
                                          # inference) | arena_bytes | flash_bytes (the model's
                                          # constants); as kws.measure.network_cost measures them
    value: Optional[int] = None


@dataclass
class PruneConfig:
    """Structured channel pruning of the student (kws.stages.prune, kws.training.prune)."""
    enabled: bool = False                 # off: quantize takes the student as trained
    importance: str = "l1"                # l1 | l2 (filter norms, BN folded) | wanda (|W| x ||X||)
    ratio: float = 0.375                  # share of each group's channels removed, in (0, 1)
    budget: PruneBudgetConfig = field(default_factory=PruneBudgetConfig)
    multiple: int = 4                     # channel counts kept at a multiple of this (SIMD lanes)
    rounds: int = 2                       # prune -> fine-tune rounds, equal steps of the ratio
    finetune_epochs: int = 4              # per round, distilled from the teacher (distill.*)
    lr: float = 1.0e-3                    # fine-tuning peak learning rate (no warm-up)
    calibration_clips: int = 512          # training clips for the wanda score and cost checks
    # true: the same pruned shape trained from random weights for distill.epochs (or
    # train.epochs): the baseline pruning must beat (experiment=prune_sweep)
    from_scratch: bool = False
    student_dir: Optional[str] = None     # a run directory whose student/ to prune; default: this run


@dataclass
class BudgetConfig:
    """A limit on the int8 network a run makes (the quantize stage measures it): a run over it
    ends with one error, and in a sweep scores as the worst trial (experiment=student_optuna)."""
    kind: Optional[str] = None            # null | params | arena_bytes | flash_bytes |
                                          # m4_instructions (per inference, QEMU)
    value: Optional[int] = None


@dataclass
class QuantConfig:
    """int8 quantisation of the student (kws.stages.quantize): TFLite int8 / CMSIS-NN semantics."""
    calibration: str = "minmax"           # minmax | percentile
    percentile: float = 99.99             # used by calibration=percentile
    calibration_clips: int = 1000         # training clips (un-augmented features) to calibrate on
    qat: bool = True                      # fine-tune with fake quantisation after PTQ
    qat_epochs: int = 3
    qat_lr: float = 1.0e-4


@dataclass
class DetectorConfig:
    """The streaming recogniser (kws.golden.detector, firmware/src/kws_detector.c); times in ms."""
    infer_every_frames: int = 2           # an inference every K new feature frames
    average_window_ms: float = 1200.0     # posteriors averaged over this span of inferences
    min_count: int = 3                    # inferences needed in the window before any decision
    threshold: int = 160                  # averaged keyword posterior, 0..255 (the stream
                                          # stage's operating point replaces it when present)
    suppression_ms: float = 1000.0        # no second detection sooner than this


@dataclass
class StreamConfig:
    """Stage stream: FRR against FA/h on long streams of test speakers (kws.stages.stream)."""
    # The positive stream: keywords, unknown words and silence of the split; null: every clip of
    # the split exactly once (its length follows the split), else this many minutes of them.
    positive_minutes: Optional[float] = None
    negative_hours: float = 3.0           # no keyword at all (0.5 FA/h: one false accept)
    # What the negative stream is made of: "material" (test-speaker _unknown_ clips, held-out
    # real negatives data/negatives_test.npz, TTS sentences of test voices data/speech_test.npz,
    # a share of them in held-out rooms) or "clips" (test _unknown_ and _silence_ clips only).
    negative_material: str = "material"
    negative_reverb_prob: float = 0.5     # share of negative items placed in a held-out room
    # Where the operating point is chosen: "test" (on the test streams it is scored on: an
    # optimistic figure) or "validation" (on streams of the validation speakers, negatives and
    # rooms; then scored on the test streams). validation_negative_hours x target_fa_per_hour
    # must be >= 1, or not even one false accept is allowed there.
    select_on: str = "validation"
    # With select_on=validation, the recogniser's averaging window is chosen there too: among
    # detector.average_window_ms (first: it wins ties) and these, the lowest validation FRR.
    average_windows_ms: List[float] = field(default_factory=lambda: [300.0, 600.0, 900.0])
    # A streaming network also run as a window model on the test streams (every
    # detector.infer_every_frames), its FRR reported beside (report["stream"]["window_model"]).
    compare_window_model: bool = False
    validation_positive_minutes: Optional[float] = None
    validation_negative_hours: float = 2.0
    snr_db_min: float = 5.0               # each word's SNR over the background noise
    snr_db_max: float = 20.0
    gap_s_min: float = 1.0                # silence (noise only) between clips
    gap_s_max: float = 4.0
    hit_window_s: float = 1.0             # a hit fires no later than this after the word ends
    target_fa_per_hour: float = 0.5       # the operating point: lowest FRR within this
    write_wav: bool = True                # stream/*.wav + *_truth.csv, to replay elsewhere
    seed: int = 0


@dataclass
class ExportConfig:
    """Stage export: the generated C (kws.stages.export); a network over a budget is refused."""
    # the model's RAM: the activation arena, plus the streaming state and scratch when it streams
    ram_budget_bytes: Optional[int] = None
    # the model's constants in flash: weights, biases, multipliers, shifts (kws_model_data.c)
    flash_budget_bytes: Optional[int] = None


@dataclass
class VerifyConfig:
    """Stage verify: the host C against the golden models (kws.stages.verify)."""
    sanitize: bool = False                # build with ASan+UBSan (slower; the tests turn it on)
    stream_seconds: float = 600.0         # length of the verification stream
    stream_snr_db: float = 10.0           # keywords over background noise at this SNR
    seed: int = 0


@dataclass
class FirmwareConfig:
    """Stage firmware: the exported C on a Cortex-M under QEMU (kws.toolchain.cortex_m)."""
    board: str = "mps2-an386"             # mps2-an386 (Cortex-M4F), mps2-an385 (M3), mps2-an500 (M7)
    clips: int = 8                        # test clips embedded in flash and checked on the target
    required: bool = False                # true: a missing toolchain is an error, not a skip
    # boards besides `board` the check (and the instructions per second of audio) also runs on
    figure_boards: List[str] = field(default_factory=lambda: ["mps2-an385"])


@dataclass
class EvalConfig:
    """Stage evaluate: score a finished run on any folder in the Speech Commands layout."""
    root: Optional[str] = None            # the folder; every clip in it is a test clip
    run: Optional[str] = None             # the finished run directory to score
    name: Optional[str] = None            # report name (default: the folder's name)


@dataclass
class KwsConfig:
    seed: int = 0
    # A report value the app returns, e.g. "stream.frr": what a Hydra sweeper (optuna) minimises.
    objective: Optional[str] = None
    # Processes for every epoch's augmentation draw and its golden features (kws.epoch_features;
    # the features stage runs the front end on threads). The integers do not depend on it.
    # 0 = one per core (shared among DDP ranks).
    workers: int = 0
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    # Free variables of a sweep that other settings interpolate (experiment=student_optuna:
    # search.width and search.depth make student_model.blocks through ${kws_blocks:...}).
    search: Dict[str, Any] = field(default_factory=dict)
    stages: List[str] = field(default_factory=lambda: ["data", "features", "teacher", "student",
                                                      "prune", "quantize", "stream", "export",
                                                      "verify", "firmware"])
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    teacher_model: ModelConfig = field(default_factory=ModelConfig)
    student_model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    firmware: FirmwareConfig = field(default_factory=FirmwareConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# conf/ sits beside the package in the repository (the package is installed editable).
REPO_DIR = Path(__file__).resolve().parent.parent
CONFIG_DIR = str(REPO_DIR / "conf")


def shared_data_dir(cfg) -> Path:
    """paths.shared_data, else $KWS_SHARED_DATA, else ../shared/data beside the repository.
    It may not exist: callers skip or fall back, saying so."""
    chosen = cfg.paths.shared_data or os.environ.get("KWS_SHARED_DATA")
    return Path(chosen).expanduser() if chosen else REPO_DIR.parent / "shared" / "data"


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="kws_schema", node=KwsConfig)
    if not OmegaConf.has_resolver("kws_blocks"):
        OmegaConf.register_new_resolver("kws_blocks", student_blocks)


def student_blocks(width: int, depth: int):
    """${kws_blocks:W,D}: D depthwise-separable blocks of W channels, the first halving time and
    frequency (the default student's layout, conf/model/student.yaml)."""
    if int(depth) < 1 or int(width) < 1:
        raise ValueError(f"kws_blocks:{width},{depth}: width and depth must be >= 1")
    return OmegaConf.create([{"channels": int(width), "stride": [2, 2] if i == 0 else [1, 1]}
                             for i in range(int(depth))])


def compose(overrides: list[str] | None = None):
    """The composed config as the `kws` command would see it, for scripts and tests."""
    from hydra import compose as hydra_compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides or []))
