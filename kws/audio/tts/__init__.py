"""Offline text-to-speech for the synthetic data set: seven engines behind one interface.

    from kws.audio import tts
    found = tts.probe(voices)                  # .available, .lines(): one per missing engine/voice
    pcm = tts.synthesize(voice, "stop", rate=1.1, pitch=0.9, seed=3)   # int16, 16 kHz, trimmed

Registry and licences: kws.audio.tts.registry; engines: kws.audio.tts.engines.
"""
from kws.audio.tts.dsp import TARGET_RATE, TtsError, check_speech, estimate_f0
from kws.audio.tts.engines import (Availability, Utterance, espeak_lookup, probe, synthesize,
                                   synthesize_batch)
from kws.audio.tts.registry import (CANNOT_SAY, ENGINES, FREE_ENGINES, NONFREE_ENGINES, VOICES,
                                    Voice, espeak_voice)

__all__ = ["TARGET_RATE", "TtsError", "check_speech", "estimate_f0", "Availability",
           "Utterance", "espeak_lookup", "probe", "synthesize", "synthesize_batch", "CANNOT_SAY",
           "ENGINES", "FREE_ENGINES", "NONFREE_ENGINES", "VOICES", "Voice", "espeak_voice"]
