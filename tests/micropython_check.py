"""Runs kws_mp on the inputs of `kws_mp_input` and prints every result, one line each.

Run by tests/test_micropython.py and bench/micropython.py under CPython, the MicroPython Unix
port and (frozen into the firmware) the QEMU Cortex-M3 port; they compare the lines with the
golden models. kws_mp_input (generated) holds CLIPS (int16 little-endian bytes each), STREAM,
CHUNK (samples per push) and KERNELS (the variant). Lines:

    features <clip> <hex>        every frame's int8 features, frame after frame
    logits <clip> <hex>          the window network's int8 logits on the clip's features
    slogits <frame> <hex>        the loop's inferences on the stream (window end, logits)
    event <frame> <label> <score>
    time <what> <microseconds>   and  mem <what> <bytes>
"""
import gc
import time
from binascii import hexlify

import kws_mp
import kws_mp_input as inp


def ticks():
    return time.ticks_us() if hasattr(time, "ticks_us") else int(time.perf_counter() * 1e6)


def elapsed(t0):
    return time.ticks_diff(ticks(), t0) if hasattr(time, "ticks_diff") else ticks() - t0


def text(b):
    return hexlify(bytes(b)).decode()


def main():
    gc.collect()
    free0 = gc.mem_free() if hasattr(gc, "mem_free") else 0
    ww = kws_mp.WakeWord(inp.KERNELS or None)
    window_net = ww.network if not ww.streaming else kws_mp.Network(kws_mp.model, ww.kernels)
    gc.collect()
    free1 = gc.mem_free() if hasattr(gc, "mem_free") else 0
    print("mem loaded", free0 - free1)
    t_feat = t_net = 0
    for i, clip in enumerate(inp.CLIPS):
        from array import array
        pcm = array("h", clip)
        t0 = ticks()
        frames = ww.front_end.frames(pcm)
        t_feat += elapsed(t0)
        x = b"".join(frames)
        print("features", i, text(x))
        t0 = ticks()
        logits = window_net.logits(x)
        t_net += elapsed(t0)
        print("logits", i, text(logits))
    n = max(1, len(inp.CLIPS))
    print("time clip_features", t_feat // n)
    print("time window_inference", t_net // n)
    if inp.STREAM:
        recognise = ww._recognise

        def hook(frame_index, logits, events):
            print("slogits", frame_index, text(logits))
            recognise(frame_index, logits, events)

        ww._recognise = hook
        gc.collect()
        low = gc.mem_free() if hasattr(gc, "mem_free") else 0
        t0 = ticks()
        for start in range(0, len(inp.STREAM), 2 * inp.CHUNK):
            for event in ww.push(inp.STREAM[start:start + 2 * inp.CHUNK]):
                print("event", event[0], event[1], event[2])
        print("time stream", elapsed(t0))
        if hasattr(gc, "mem_free"):
            print("mem stream_peak_below", low - gc.mem_free())
    print("KWS-DONE")


main()
