"""The integer wake-word detector: golden recogniser/loop (kws.golden.detector) == C (kws_detector.c,
kws_wakeword.c) exactly, the C built with ASan + UBSan."""
import numpy as np
import pytest

from conftest import compose_cfg
from kws.toolchain.detector_harness import (STANDIN_LABELS, build_detector_tool, run_recognizer,
                                            run_stream, standin_logits)
from kws.errors import KwsError
from kws.golden.mfcc import mfcc_clips
from kws.emit.mfcc_c import write_c_tables
from kws.golden.mfcc_tables import make_tables
from kws.golden.detector import (Detection, DetectorSettings, Recognizer, detect_stream, inference_frames,
                        make_exp_lut, make_settings, recognize, softmax_u8)

LABELS = STANDIN_LABELS      # the stand-in model's classes
SR = 16000


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    """Default feature tables and the harness built with ASan + UBSan."""
    t = make_tables(compose_cfg([]).features, SR)
    out = tmp_path_factory.mktemp("detector_c")
    write_c_tables(t, out)
    return t, build_detector_tool(out, out, sanitize=True)


def _settings(n_classes=4, keywords=(2, 3), **kw):
    kw.setdefault("exp_lut", make_exp_lut(0.1))
    for key, value in dict(average_window=50, min_count=3, threshold=200, suppression_frames=75,
                           infer_every=1).items():
        kw.setdefault(key, value)
    return DetectorSettings(is_keyword=tuple(c in keywords for c in range(n_classes)), **kw)


def _one_hot(classes, n_classes=4):
    """Logits whose softmax is exactly 255 for the given class, 0 elsewhere (scale 0.1)."""
    logits = np.full((len(classes), n_classes), -100, dtype=np.int8)
    logits[np.arange(len(classes)), classes] = 100
    return logits


# ---------------------------------------------------------------- softmax


def test_exp_lut_and_softmax_hand_computed():
    lut = make_exp_lut(0.1)
    assert lut.dtype == np.uint16 and lut.shape == (256,)
    assert (lut[0], lut[1], lut[10], lut[255]) == (32767, 29649, 12054, 0)  # 32767 e^-0.1d
    assert np.all(np.diff(lut.astype(int)) <= 0)
    assert make_exp_lut(1.0)[12] == 0                       # 32767 e^-12 < 0.5
    p = softmax_u8(np.array([[10, 0, 0], [0, 0, 0], [5, 5, -128], [127, -128, -128],
                             [-128, -128, -128]], dtype=np.int8), lut)
    assert p.dtype == np.uint8
    # [10, 0, 0]: e = 32767, 12054, 12054; sum 56875; (32767*255 + 28437) // 56875 = 147, ...
    assert p.tolist() == [[147, 54, 54], [85, 85, 85], [128, 128, 0], [255, 0, 0], [85, 85, 85]]
    assert softmax_u8(np.zeros((1, 2), np.int8), lut).tolist() == [[128, 128]]
    # Only differences matter (the zero point cancels).
    rng = np.random.default_rng(0)
    logits = rng.integers(-100, 28, size=(500, 6))
    assert np.array_equal(softmax_u8(logits, lut), softmax_u8(logits + 100, lut))
    with pytest.raises(KwsError, match="output_scale"):
        make_exp_lut(0.0)
    with pytest.raises(KwsError, match="int8"):
        softmax_u8(np.array([[200, 0]]), lut)


# ---------------------------------------------------------------- recogniser by hand


def test_threshold_is_inclusive_and_ties_go_to_the_lowest_index():
    # W = 2: A then B gives smoothed (255 + 1) // 2 = 128 for both: a tie → class 2.
    logits = _one_hot([2, 3])
    for threshold, expected in [(128, [Detection(11, 2, 128)]), (129, [])]:
        s = _settings(average_window=2, min_count=2, threshold=threshold, suppression_frames=0)
        assert recognize(s, [10, 11], logits) == expected
    # A tie between _unknown_ (1) and a keyword (2) goes to _unknown_, which never fires.
    s = _settings(average_window=2, min_count=2, threshold=0, suppression_frames=0)
    assert recognize(s, [0, 1], _one_hot([2, 1])) == []
    # Smoothing rounds: W = 3, A A B → A = (510 + 1) // 3 = 170.
    s = _settings(average_window=3, min_count=3, threshold=170, suppression_frames=0)
    assert recognize(s, [0, 1, 2], _one_hot([2, 2, 3])) == [Detection(2, 2, 170)]


def test_min_count_and_window():
    s = _settings(average_window=5, min_count=3, threshold=0, suppression_frames=0)
    events = recognize(s, range(8), _one_hot([3] * 8))
    assert [e.frame_index for e in events] == [2, 3, 4, 5, 6, 7]
    assert {e.score for e in events} == {255}
    # Old inferences leave the window: after 5 of class 2, class 3 has 255 again.
    s = _settings(average_window=5, min_count=1, threshold=255, suppression_frames=0)
    events = recognize(s, range(12), _one_hot([3] * 3 + [2] * 9))
    assert [(e.frame_index, e.label) for e in events] == [(0, 3), (1, 3), (2, 3), (7, 2),
                                                          (8, 2), (9, 2), (10, 2), (11, 2)]


def test_suppression_counts_frames_since_the_last_detection():
    s = _settings(average_window=4, min_count=1, threshold=200, suppression_frames=5)
    frames = np.arange(0, 40, 2)                              # infer_every = 2
    events = recognize(s, frames, _one_hot([2] * 20))
    assert [e.frame_index for e in events] == [0, 6, 12, 18, 24, 30, 36]
    # A suppressed candidate does not restart the count, and other classes are suppressed too.
    s = _settings(average_window=1, min_count=1, threshold=200, suppression_frames=5)
    events = recognize(s, frames[:6], _one_hot([2, 3, 3, 3, 2, 3]))
    assert [(e.frame_index, e.label) for e in events] == [(0, 2), (6, 3)]


def test_non_keywords_never_fire():
    s = _settings(average_window=3, min_count=1, threshold=0, suppression_frames=0)
    rng = np.random.default_rng(1)
    assert recognize(s, range(300), _one_hot(rng.integers(0, 2, 300))) == []
    assert len(recognize(s, range(300), _one_hot(rng.integers(2, 4, 300)))) == 300


def _reference(s: DetectorSettings, frames, logits):
    """A literal, one-inference-at-a-time transcription of steps 1-3 (kws/detector.py)."""
    held, events, last = [], [], None
    for frame, row in zip(frames, logits):
        d = int(max(row)) - row.astype(int)
        e = [int(s.exp_lut[x]) for x in d]
        p = [(x * 255 + sum(e) // 2) // sum(e) for x in e]
        held = (held + [p])[-s.average_window:]
        n = len(held)
        smoothed = [(sum(h[c] for h in held) + n // 2) // n for c in range(s.n_classes)]
        top = smoothed.index(max(smoothed))
        if (n >= s.min_count and s.is_keyword[top] and smoothed[top] >= s.threshold
                and (last is None or frame - last >= s.suppression_frames)):
            events.append(Detection(int(frame), top, smoothed[top]))
            last = frame
    return events


def _random_run(rng, n, n_classes, dwell=20):
    """Inferences that dwell on one class for a while, over noise, with frame gaps 1..3."""
    frames = np.cumsum(rng.integers(1, 4, n)) + rng.integers(0, 1000)
    active = np.repeat(rng.integers(0, n_classes, n // dwell + 1), dwell)[:n]
    logits = rng.integers(-60, 30, size=(n, n_classes))
    logits[np.arange(n), active] += rng.integers(20, 98, n)
    return frames, logits.astype(np.int8)


def test_batches_equal_one_at_a_time():
    rng = np.random.default_rng(2)
    s = _settings(n_classes=5, keywords=(2, 3, 4), average_window=7, min_count=2, threshold=150,
                  suppression_frames=9, exp_lut=make_exp_lut(0.05))
    frames, logits = _random_run(rng, 1500, 5)
    expected = _reference(s, frames, logits)
    assert len(expected) > 10
    assert recognize(s, frames, logits) == expected
    rec, events, i = Recognizer(s), [], 0
    while i < len(frames):
        k = int(rng.integers(0, 40))
        events += rec.push(frames[i:i + k], logits[i:i + k])
        i += k
    assert events == expected


def test_bad_settings_and_inputs_are_named():
    with pytest.raises(KwsError, match="min_count"):
        _settings(average_window=4, min_count=5)
    with pytest.raises(KwsError, match="average_window"):
        _settings(average_window=65)
    with pytest.raises(KwsError, match="threshold"):
        _settings(threshold=256)
    with pytest.raises(KwsError, match="exp_lut"):
        _settings(exp_lut=np.zeros(256))
    with pytest.raises(KwsError, match="increasing"):
        recognize(_settings(), [3, 3], _one_hot([2, 2]))
    rec = Recognizer(_settings())
    rec.push([5], _one_hot([2]))
    with pytest.raises(KwsError, match="increasing"):
        rec.push([4], _one_hot([2]))
    with pytest.raises(KwsError, match="logits"):
        recognize(_settings(), [0], _one_hot([2], n_classes=3))
    settings = make_settings(LABELS, 0.1, average_window=5, min_count=1, threshold=200,
                             suppression_frames=0, infer_every=1)
    assert settings.is_keyword == (False, False, True, True)


# ---------------------------------------------------------------- C recogniser


@pytest.mark.parametrize("n_classes, window, min_count, threshold, suppression, scale", [
    (4, 1, 1, 200, 0, 0.1),
    (12, 50, 3, 200, 75, 0.1),
    (2, 64, 64, 128, 10, 0.02),
    (32, 17, 5, 90, 31, 0.25),
    (7, 8, 8, 0, 1, 0.003),
])
def test_c_recognizer_equals_python(tool, n_classes, window, min_count, threshold,
                                    suppression, scale):
    _, exe = tool
    rng = np.random.default_rng(n_classes * 100 + window)
    s = _settings(n_classes=n_classes, keywords=range(2, n_classes) if n_classes > 2 else (1,),
                  average_window=window, min_count=min_count, threshold=threshold,
                  suppression_frames=suppression, exp_lut=make_exp_lut(scale))
    frames, logits = _random_run(rng, 20000, n_classes, dwell=max(20, 2 * window))
    logits[:200] = rng.integers(-128, 128, size=(200, n_classes))   # the full int8 range too
    expected = recognize(s, frames, logits)
    assert len(expected) > 0
    assert run_recognizer(exe, s, frames, logits) == expected


def test_c_rejects_bad_settings(tool, tmp_path):
    from kws.toolchain.detector_harness import _run, settings_text
    t, exe = tool
    good = settings_text(_settings(average_window=4, min_count=2)).split("\n")
    for bad_head in ["4 4 5 200 0 1", "4 65 3 200 0 1", "4 4 2 256 0 1", "4 4 2 200 -1 1",
                     "4 4 2 200 0 0", "33 4 2 200 0 1"]:
        (tmp_path / "s.txt").write_text("\n".join([bad_head] + good[1:]))
        for args in (["recognizer", str(tmp_path / "s.txt"), "/dev/null", "/dev/null"],
                     ["stream", str(tmp_path / "s.txt"), "/dev/null", str(tmp_path / "e.txt"),
                      "1", "10", "16"]):
            with pytest.raises(KwsError, match="failed"):
                _run(exe, args if args[0] == "stream" else args + [str(tmp_path / "e.txt")])
    # Correct settings with nothing to do: no frames, no events.
    assert run_stream(exe, _settings(), np.zeros(0, np.int16), t) == []
    assert run_recognizer(exe, _settings(), [], np.zeros((0, 4), np.int8)) == []


# ---------------------------------------------------------------- the whole loop


def _synthetic_stream(seconds: float, seed: int) -> np.ndarray:
    """Silence, quiet and loud noise, chirps (0.5-3 s) and low and high tones (1.2-3 s), in
    random order."""
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    kinds = ["silence", "quiet", "noise", "low", "high", "chirp"]
    while total < seconds * SR:
        kind = kinds[rng.integers(len(kinds))]
        n = int(rng.uniform(1.2 if kind in ("low", "high") else 0.5, 3.0) * SR)
        t = np.arange(n) / SR
        amp = 10 ** rng.uniform(2.5, 4.2)
        if kind == "silence":
            x = np.zeros(n)
        elif kind == "quiet":
            x = rng.normal(0, 20, n)
        elif kind == "noise":
            x = rng.normal(0, amp / 2, n)
        elif kind in ("low", "high"):
            f0 = rng.uniform(150, 600) if kind == "low" else rng.uniform(2000, 3800)
            x = amp * np.sin(2 * np.pi * f0 * t) + rng.normal(0, 10, n)
        else:
            f0, f1 = rng.uniform(100, 4000, 2)
            x = amp * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1])))
        parts.append(x)
        total += n
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def _naive_detect(pcm, t, run_logits, s):
    """detect_stream without chunks: every frame at once, every window at once."""
    feats = mfcc_clips(pcm[None], t)[0]
    f = t.frames_per_clip
    ts = inference_frames(len(feats), f, s.infer_every)
    x = np.stack([feats[i - f + 1:i + 1] for i in ts])[..., None]
    return recognize(s, ts, run_logits(x))


def test_detect_stream_chunks_equal_whole(tool):
    t, _ = tool
    pcm = _synthetic_stream(20, seed=3)
    s = make_settings(LABELS, 0.08, average_window=10, min_count=3, threshold=180,
                      suppression_frames=30, infer_every=2)
    run = lambda x: standin_logits(x, t.out_zero_point)     # noqa: E731
    expected = _naive_detect(pcm, t, run, s)
    assert {e.label for e in expected} == {2, 3}
    for chunk in (7, 48, 49, 333, 4096):
        assert detect_stream(pcm, t, run, s, chunk_frames=chunk) == expected
    assert detect_stream(pcm[:t.window_len - 1], t, run, s) == []


@pytest.mark.parametrize("infer_every, window, seed, max_chunk, ring", [
    (1, 25, 11, 700, 1024),
    (3, 8, 19, 1, 1),
    (2, 64, 15, 4096, 4096),
])
def test_c_stream_equals_python_twin(tool, infer_every, window, seed, max_chunk, ring):
    t, exe = tool
    pcm = _synthetic_stream(62 if max_chunk > 1 else 12, seed=seed)
    s = make_settings(LABELS, 0.08, average_window=window, min_count=min(3, window),
                      threshold=180, suppression_frames=40, infer_every=infer_every)
    expected = detect_stream(pcm, t, lambda x: standin_logits(x, t.out_zero_point), s)
    assert len(expected) >= 3 and {e.label for e in expected} == {2, 3}
    got = run_stream(exe, s, pcm, t, seed=seed, max_chunk=max_chunk, ring_capacity=ring)
    assert got == expected
