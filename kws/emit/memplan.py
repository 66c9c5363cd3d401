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


def plan_lifetimes(names: list[str], sizes: list[int], last_use: list[int],
                   align: int = 4) -> MemoryPlan:
    """Tensors [input, out_0, out_1, ...] of layers that may also read an earlier tensor (a
    residual): tensor i is made by layer i - 1 (the input: before layer 0) and read until layer
    last_use[i]. Largest first, each at the lowest offset clear of every placed tensor alive at
    the same time (two tensors are alive together when their [made, last read] spans meet)."""
    if not len(names) == len(sizes) == len(last_use) or len(sizes) < 2:
        raise ValueError("one size and one last use per tensor, an input and a layer output")
    padded = [_aligned(s, align) for s in sizes]
    spans = [(i - 1, max(last_use[i], i - 1)) for i in range(len(sizes))]
    placed: list[tuple[int, int]] = []             # (offset, tensor)
    offsets = [0] * len(sizes)
    for t in sorted(range(len(sizes)), key=lambda i: (-padded[i], i)):
        clashes = sorted((offsets[u], offsets[u] + padded[u]) for _, u in placed
                         if spans[u][0] <= spans[t][1] and spans[t][0] <= spans[u][1])
        offset = 0
        for lo, hi in clashes:
            if offset + padded[t] <= lo:
                break
            offset = max(offset, hi)
        offsets[t] = offset
        placed.append((offset, t))
    arena = max(o + p for o, p in zip(offsets, padded))
    bound = max(sum(sizes[t] for t in range(len(sizes)) if spans[t][0] <= k <= spans[t][1])
                for k in range(-1, len(sizes) - 1))
    plan = MemoryPlan(arena, bound, tuple(Placement(n, o, s)
                                          for n, o, s in zip(names, offsets, sizes)))
    check_plan(plan, spans)
    return plan


def check_plan(plan: MemoryPlan, spans: list[tuple[int, int]] | None = None) -> None:
    """Raise ValueError if a tensor leaves the arena or two tensors alive together overlap (a
    chain: each layer's input and output; with spans: any two whose spans meet)."""
    for t in plan.tensors:
        if t.offset < 0 or t.offset + t.size > plan.arena_bytes:
            raise ValueError(f"tensor {t.name} [{t.offset}, {t.offset + t.size}) is outside "
                             f"the {plan.arena_bytes}-byte arena")
    n = len(plan.tensors)
    pairs = ([(i, i + 1) for i in range(n - 1)] if spans is None else
             [(i, j) for i in range(n) for j in range(i + 1, n)
              if spans[i][0] <= spans[j][1] and spans[j][0] <= spans[i][1]])
    for i, j in pairs:
        a, b = plan.tensors[i], plan.tensors[j]
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
