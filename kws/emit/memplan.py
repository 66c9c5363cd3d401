"""Static memory plan for the int8 network's activations: one arena, every tensor an offset.

The network is a chain: tensor i is layer i's input and layer i-1's output, and only a layer's
input and output are alive while it runs. The plan puts consecutive tensors at opposite ends of
the arena (input at the start, output at the end, the next output at the start again ...). Two
tensors that are alive together then never overlap as long as the arena holds both, so the arena
is exactly the layer-wise lower bound: the largest input + output pair of any layer (each tensor
rounded up to `align` bytes so word loads stay aligned). `check_plan` proves the no-overlap
property for any plan, independently of how it was made.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    name: str
    offset: int
    size: int          # bytes the tensor occupies (unaligned)


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    lower_bound_bytes: int
    tensors: tuple[Placement, ...]     # tensor 0 is the network input, tensor i layer i-1's output


def _aligned(n: int, align: int) -> int:
    return -(-n // align) * align


def lower_bound(sizes: list[int]) -> int:
    """The largest input + output pair of any layer, in bytes (unaligned)."""
    return max(a + b for a, b in zip(sizes, sizes[1:]))


def plan_chain(names: list[str], sizes: list[int], align: int = 4) -> MemoryPlan:
    """Place tensors [input, out_0, out_1, ...] of a layer chain at alternating arena ends."""
    if len(names) != len(sizes) or len(sizes) < 2:
        raise ValueError("a chain needs an input and at least one layer output, one size each")
    padded = [_aligned(s, align) for s in sizes]
    arena = max(a + b for a, b in zip(padded, padded[1:]))
    tensors = tuple(Placement(name, 0 if i % 2 == 0 else arena - padded[i], size)
                    for i, (name, size) in enumerate(zip(names, sizes)))
    plan = MemoryPlan(arena, lower_bound(sizes), tensors)
    check_plan(plan)
    return plan


def check_plan(plan: MemoryPlan) -> None:
    """Raise ValueError if a tensor leaves the arena or a layer's input and output overlap."""
    for t in plan.tensors:
        if t.offset < 0 or t.offset + t.size > plan.arena_bytes:
            raise ValueError(f"tensor {t.name} [{t.offset}, {t.offset + t.size}) is outside "
                             f"the {plan.arena_bytes}-byte arena")
    for a, b in zip(plan.tensors, plan.tensors[1:]):
        if a.offset < b.offset + b.size and b.offset < a.offset + a.size:
            raise ValueError(f"tensors {a.name} and {b.name} are alive together but overlap")


@dataclass(frozen=True)
class StepMemoryPlan:
    """A streaming network's memory (kws_model_step): the state, which lives from one step to the
    next (each convolution's ring of input rows, the pool's row sums), laid end to end; and the
    per-step scratch, the rows that pass from one layer to the next within a step (planned as a
    chain like the window model's arena). The scratch holds nothing between steps."""
    state_bytes: int
    scratch_bytes: int
    state: tuple[Placement, ...]
    scratch: tuple[Placement, ...]     # the row chain: row 0 the step's input frame


def plan_step(state: list[tuple[str, int]], rows: list[tuple[str, int]],
              align: int = 4) -> StepMemoryPlan:
    """State buffers (name, bytes) one after another, each at a multiple of `align`; rows (name,
    bytes, 0 for a row that is written into a state buffer instead) as plan_chain places a chain."""
    placed, offset = [], 0
    for name, size in state:
        placed.append(Placement(name, offset, size))
        offset += _aligned(size, align)
    chain = plan_chain([n for n, _ in rows], [s for _, s in rows], align)
    plan = StepMemoryPlan(offset, chain.arena_bytes, tuple(placed), chain.tensors)
    for a, b in zip(plan.state, plan.state[1:]):
        if a.offset + a.size > b.offset:
            raise ValueError(f"state buffers {a.name} and {b.name} overlap")
    return plan
