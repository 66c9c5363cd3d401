"""Hard-negative mining for the student: windows of the training split's own negative speech that
the network in training takes for a keyword join the next epoch as `_unknown_`, with more weight.

The pool: `mining.pool_windows` windows cut once from the training negatives and TTS sentences
(kws.audio.negatives.negative_windows, its own seed), as the golden front end's int8 features
(kws.golden.mfcc) — training material only, never a validation or test stream. At the start of
every epoch from `mining.start_epoch`, the network as it stands scores the pool; a window
"fires" when its top class is a keyword with probability >= `mining.min_score` (what the
detector's threshold compares, in float); the `mining.per_epoch` surest of them train in that
epoch, labelled `_unknown_`, with loss weight `mining.weight` (their features as cut, not
augmented). Mining repeats each epoch, so the set follows the network: windows it has learnt
drop out, new confusions come in. It is mined from the weights at the epoch's start, so a run
resumed at an epoch boundary mines what the uninterrupted run did.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kws.artifacts import RunDir
from kws.audio.negatives import negative_windows
from kws.audio.speech_commands import SILENCE, UNKNOWN
from kws.golden.mfcc import mfcc_clips

POOL_STREAM = 11                  # spawn key of the pool's generator (beside data.seed)


@dataclass
class MiningPool:
    x: torch.Tensor               # float [N, 1, frames, coeffs], as the network sees them
    keyword_classes: torch.Tensor  # indices of the labels that are keywords


def load_pool(run_dir, n_windows: int, seed: int, n_samples: int, dequantize
              ) -> MiningPool | None:
    """n_windows of the run's training negative speech (their generator from seed), or None
    when there is none. dequantize: int8 features → the network's float input."""
    run = RunDir(run_dir)
    labels = run.labels()
    rng = np.random.default_rng([seed, POOL_STREAM])
    audio, _ = negative_windows([run.pool("negatives", "train"), run.pool("speech", "train")],
                                n_windows, n_samples, rng)
    if not len(audio):
        return None
    keywords = [i for i, lab in enumerate(labels) if lab not in (UNKNOWN, SILENCE)]
    return MiningPool(dequantize(mfcc_clips(audio, run.mfcc_tables())), torch.tensor(keywords))


@torch.no_grad()
def mine(net: nn.Module, pool: MiningPool, mining, device, batch: int = 512) -> np.ndarray:
    """Indices into the pool of this epoch's hard negatives: windows whose top class is a
    keyword at probability >= min_score, the surest first, at most per_epoch."""
    net.eval()
    probs = torch.cat([torch.softmax(net(pool.x[i:i + batch].to(device)), dim=1).cpu()
                       for i in range(0, len(pool.x), batch)])
    score, top = probs.max(dim=1)
    fired = torch.isin(top, pool.keyword_classes) & (score >= mining.min_score)
    index = fired.nonzero(as_tuple=True)[0]
    order = torch.argsort(score[index], descending=True, stable=True)
    return index[order][:mining.per_epoch].numpy()
