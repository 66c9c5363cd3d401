"""The optimised front end on Cortex-M under QEMU: the same integers as the golden model.

firmware/src/kws_mfcc.c takes target-specific paths that the host tests (test_features.py, gcc
on x86) never compile: Thumb-2 assembly for the FFT and the split (Cortex-M3 and M4), and the DSP
extension's SMULBB / SMULTT / SMLALD (Cortex-M4). Here the harness of bench/mfcc_target.py
(firmware/tests/target/peer/mfcc_bench_main.c, kws.toolchain.mfcc_bench) runs kws_mfcc_frame on every frame of real clips and
of kws.audio.signals.adversarial_signals on mps2-an386 (Cortex-M4, DSP) and mps2-an385 (Cortex-M3,
portable C + assembly), and every int8 output must equal kws.golden.mfcc's, and so must the power
spectrum of every frame (P' of the bins the mel filters use, read back from the scratch: an error
of one unit inside can vanish in the int8 outputs). Other feature settings
(other FFT lengths and windows, a window as long as the FFT, bins past N/4, log-mel) exercise
the generic paths next to the fast ones.
"""
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_SUBSET, compose_cfg
from kws.toolchain import cortex_m as target
from kws.toolchain import mfcc_bench as mfcc_target
from kws.golden.mfcc_tables import make_tables
from kws.audio.signals import adversarial_signals, speechlike

MISSING = target.missing_tools()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=target.toolchain_hint(MISSING)
                                if MISSING else "")



def _clips(n_real: int = 3) -> np.ndarray:
    """Adversarial signals (speech-like clips among them, also clipped hard) and n_real real
    clips (speech-like stand-ins when the shared subset is absent)."""
    speech = speechlike(3, seed=11)
    signals = adversarial_signals(16000, 16000, np.random.default_rng(5), speech=speech)
    if SHARED_SUBSET.is_dir():
        real, _ = mfcc_target.real_clips(SHARED_SUBSET, n_real)
    else:
        real = speechlike(n_real, seed=12)
    return np.concatenate([np.stack(list(signals.values())), speech, real]).astype(np.int16)


def _run(board: str, tables, clips: np.ndarray, build_dir: Path) -> dict:
    elf = mfcc_target.build_ours(board, tables, clips, build_dir, check_power=True)
    result = mfcc_target.run(board, elf)
    assert result["frames"] == len(clips) * tables.frames_per_clip
    assert result["equal"] == result["frames"], (
        f"{board}: {result['equal']}/{result['frames']} frames bit-exact; "
        f"{result['first_difference']}")
    # Inside too: every non-silent frame's power spectrum (FFT, split, power) is the golden's.
    assert 0 < result["power_checked"] == result["power_equal"], result["text"][-2000:]
    assert result["status"] == 0
    return result


@pytest.fixture(scope="module")
def clips():
    return _clips()


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385"])
def test_default_features_are_bit_exact_on_target(board, clips, tmp_path):
    result = _run(board, mfcc_target.default_tables(), clips, tmp_path)
    # The fast paths are taken: about 31 K instructions per frame on the M4 and 33 K on the M3
    # (bench/RESULTS.md, mfcc_target); the code before them took 92 K.
    assert result["mean"] < 40_000, result["mean"]


@pytest.mark.parametrize("board, overrides", [
    # M = 512 (an odd number of radix-2 stages after the first two), 32 bands
    ("mps2-an386", ["features.window_ms=40", "features.fft_len=1024", "features.n_mels=32",
                    "features.n_coeffs=13"]),
    # bins up to N/2 (partner bins M - k), 64 bands, odd DCT pairs
    ("mps2-an385", ["features.window_ms=25", "features.stride_ms=10", "features.fft_len=512",
                    "features.n_mels=64", "features.fmax=8000", "features.n_coeffs=20"]),
    # window as long as the FFT (the generic split), bin 0 used
    ("mps2-an386", ["features.window_ms=16", "features.fft_len=256", "features.n_mels=20",
                    "features.fmin=0"]),
    ("mps2-an385", ["features=logmel"]),
    # the largest FFT: twiddles of +1 and -1 in runs of more than one, window as long as the FFT
    ("mps2-an386", ["features.window_ms=256", "features.fft_len=4096", "features.n_mels=40"]),
])
def test_other_settings_are_bit_exact_on_target(board, overrides, clips, tmp_path):
    tables = make_tables(compose_cfg(overrides).features, 16000)
    result = _run(board, tables, clips[::2], tmp_path)       # asserts every frame bit-exact
    assert result["equal"] == result["frames"] == len(clips[::2]) * tables.frames_per_clip
