"""Data-parallel training under torchrun: `torchrun --nproc_per_node=N -m kws ...`.

torchrun starts N copies of the app with RANK and WORLD_SIZE set. Rank 0 runs the pipeline as a
single process would and alone writes the run directory and the log. Ranks 1..N-1 only train:
every training on rank 0 (kws.training.loop.train_model: teacher, student, prune fine-tunes)
first sends its arguments to them (a job), all ranks then train the same model with
DistributedDataParallel, each on its share of every batch, and DDP averages the gradients. When
rank 0's pipeline ends, it sends None and the others return.

Process group: gloo on the CPU; on CUDA machines "cpu:gloo,cuda:nccl" (tensors on the GPU go
through NCCL, the jobs and the epoch features through gloo). The integer stages never need it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from kws.errors import KwsError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    size: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def ranks() -> Ranks:
    """This process's place: (0, 1) unless a process group is running."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def start() -> Ranks:
    """Join torchrun's process group (its RANK, WORLD_SIZE, MASTER_ADDR/PORT)."""
    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=timedelta(hours=2))
    return ranks()


def stop() -> None:
    """Leave the group together: a rank that tears down its connections while another still
    uses them makes gloo abort that one."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_directory_override(argv: list[str]) -> list[str]:
    """Every rank must write (rank 0) and read (the others) one run directory: without a
    hydra.run.dir override, rank 0's clock names it (Hydra's default outputs/<date>/<time>)."""
    if any(arg.startswith("hydra.run.dir=") for arg in argv):
        return []
    stamp = [datetime.now().strftime("%Y-%m-%d/%H-%M-%S") if ranks().leader else None]
    dist.broadcast_object_list(stamp, src=0)
    return [f"hydra.run.dir=outputs/{stamp[0]}"]


def quiet_follower_overrides() -> list[str]:
    """Ranks other than 0 write nothing of Hydra's (no .hydra/, no log file)."""
    return [] if ranks().leader else ["hydra.output_subdir=null", "hydra/job_logging=disabled",
                                      "hydra/hydra_logging=disabled"]


def from_rank_0(obj):
    """Rank 0's object to every rank (a training job, None for "the pipeline is over", or the
    state a training starts from); returns it."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def batch_positions(n: int, batch_size: int, r: Ranks) -> tuple[np.ndarray, int]:
    """Positions in the epoch's shuffled order that this rank trains on, and its batch size.

    torch's DistributedSampler (no shuffle: the order is already the epoch's seeded permutation)
    gives rank r the positions r, r+N, r+2N, ... (padded to equal length), so its k-th batch of
    batch_size/N lies in the k-th global batch of batch_size: the global batch, and with DDP's
    average the gradient, are the single-process run's. With N = 1 it is 0..n-1 in batch_size."""
    if batch_size % r.size:
        raise KwsError(f"train.batch_size={batch_size} must be a multiple of the number of DDP "
                       f"processes ({r.size})")
    sampler = DistributedSampler(range(n), num_replicas=r.size, rank=r.rank, shuffle=False)
    return np.fromiter(iter(sampler), dtype=np.int64), batch_size // r.size


def share_chunks(r: Ranks):
    """kws.epoch_features.ChunkSharing for the ranks: rank r computes chunks r, r+N, ...; every
    rank then has all of them (all_gather)."""
    def sharing(n_chunks: int):
        mine = list(range(r.rank, n_chunks, r.size))

        def gather(chunks: dict) -> dict:
            every = [None] * r.size
            dist.all_gather_object(every, chunks)
            return {k: v for part in every for k, v in part.items()}
        return mine, gather
    return sharing


def all_sum(*values: float) -> list[float]:
    """Sums over the ranks (the epoch's loss and correct counts)."""
    if not ranks().parallel:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()
