"""The requests the suite sends, per zoo case: deterministic, non-uniform where legal.

A scenario is a mode plus how heads are selected: ``explicit`` (the suite names them,
different in every layer, GQA-legal) or ``ratio`` (the pruner chooses; uniform, so config
fields must be synced). Ids look like ``heads``, ``heads-ratio``, ``heads-ratio-groups``,
``head_dims``, ``head_dims-ratio``.
"""
from __future__ import annotations

from dataclasses import dataclass

from headprune.contract import PruneRequest
from models import Case


RATIO = 0.5                         # the ratio every check judges
EXTRA_RATIOS = (0.0, 0.3, 0.625, 0.9)  # judged by LEAN_CHECKS only: 0 removes nothing; 0.3 and 0.625
#                                     tell round-half-up from floor, ceil and banker's rounding at 4 and 8
#                                     units (and keep-share from remove-share); 0.9 reaches the last-unit cap
LEAN_CHECKS = frozenset({"check_shapes", "check_ratio_honoured"})


@dataclass(frozen=True)
class Scenario:
    mode: str          # "heads" | "head_dims"
    selection: str     # "explicit" | "ratio"
    gqa: str = "equal"
    ratio: float = RATIO

    @property
    def id(self) -> str:
        parts = [self.mode] + ([] if self.selection == "explicit" else
                               ["ratio" + ("" if self.ratio == RATIO else f"{self.ratio:g}")])
        if self.gqa != "equal":
            parts.append(self.gqa)
        return "-".join(parts)

    @property
    def explicit(self) -> bool:
        return self.selection == "explicit"

    @property
    def lean(self) -> bool:
        """An extra ratio: only LEAN_CHECKS run on it (the matrix stays affordable)."""
        return not self.explicit and self.ratio != RATIO


def _has_gqa(case: Case) -> bool:
    return any(h > kv > 1 for h, kv in zip(case.num_heads, case.num_kv_heads))


def scenarios_for(case: Case) -> list[Scenario]:
    """The scenarios of every mode the architecture allows (a mode refused by design has none;
    tests/ check that the reference refuses it). Extra ratios are lean (LEAN_CHECKS only)."""
    out = []
    if not case.refusal("heads"):
        out.append(Scenario("heads", "explicit"))
        for r in (RATIO, *EXTRA_RATIOS):
            out.append(Scenario("heads", "ratio", ratio=r))
            # whole groups at 0.3 too: a count taken from the query heads (8 * 0.3 -> 2 heads -> 0 groups of 4)
            # agrees with the kv-group count (2 * 0.3 -> 1 group) at 0.5 only
            if _has_gqa(case) and r in (RATIO, 0.0, 0.3):
                out.append(Scenario("heads", "ratio", "groups", r))
    if not case.refusal("head_dims"):
        out.append(Scenario("head_dims", "explicit"))
        out += [Scenario("head_dims", "ratio", ratio=r) for r in (RATIO, *EXTRA_RATIOS)]
    return out


def scenario_by_id(case: Case, scenario_id: str) -> Scenario:
    for s in scenarios_for(case):
        if s.id == scenario_id:
            return s
    raise KeyError(f"{case.name} has no scenario {scenario_id!r}; "
                   f"valid: {[s.id for s in scenarios_for(case)]}")


def inexact_by_design(case: Case, mode: str) -> str | None:
    """Why exactness cannot hold, if it cannot (attention-map §5)."""
    if mode == "head_dims" and "qk_norm" in case.tags:
        return "q_norm/k_norm normalise over each head's dims, so shrinking head_dim changes the kept dims"
    return None


def _unsorted(layer: int, ids) -> list[int] | tuple[int, ...]:
    """Ids in no particular order, as a tuple in even layers and a list in odd ones (any iterable
    of ints is a valid selection, in any order)."""
    ids = sorted(ids)
    ids = ids[1:] + ids[:1] if len(ids) > 2 else ids[::-1]
    return tuple(ids) if layer % 2 == 0 else list(ids)


def explicit_heads(case: Case) -> dict[int, list[int] | tuple[int, ...]]:
    """Different removals per layer: GQA layers alternate whole groups and an equal split."""
    return {layer: _unsorted(layer, ids) for layer, ids in _explicit_heads(case).items()}


def _explicit_heads(case: Case) -> dict[int, tuple[int, ...]]:
    out = {}
    for layer, (h, kv) in enumerate(zip(case.num_heads, case.num_kv_heads)):
        g = h // kv
        if h == 1:
            continue
        if kv > 1 and g > 1:
            if layer % 2 == 0:
                out[layer] = tuple(range(0, g))                      # kv group 0, whole
            else:
                out[layer] = tuple(grp * g + (g - 1 - grp % g) for grp in range(kv))  # one per group
        else:
            n = 1 + layer % max(1, h - 1)                            # 1, 2, ... heads, never all
            out[layer] = tuple(sorted({(layer + 2 * i + 1) % h for i in range(n)}))[: h - 1]
    return tie(case, out)


def tie(case: Case, removal: dict) -> dict:
    """Blocks tied to one per-head table (T5) get their group's first block's removal."""
    out = dict(removal)
    for group in case.tied:
        for layer in group[1:]:
            out[layer] = out.get(group[0], ())
    return out


def rope_pair(case: Case, p: int) -> tuple[int, int]:
    """The two dims RoPE frequency ``p`` rotates: (p, p + r/2) (rotate_half) or (2p, 2p + 1) (interleaved)."""
    return (2 * p, 2 * p + 1) if "rope_interleaved" in case.tags else (p, p + case.rotary // 2)


def explicit_dims(case: Case) -> dict[int, list[int] | tuple[int, ...]]:
    return {layer: _unsorted(layer, ids) for layer, ids in _explicit_dims(case).items()}


def _explicit_dims(case: Case) -> dict[int, tuple[int, ...]]:
    d = case.head_dim
    if "rope" in case.tags:
        r = case.rotary
        pair = rope_pair(case, 1)
        out = {}
        for layer in range(case.num_layers):
            free = tuple(range(r, d))
            extra = (free[layer % len(free)],) if free else ()   # pass-through dims may differ per layer
            out[layer] = tuple(sorted(pair + extra))
        return out
    return {layer: tuple(sorted({(layer + 3 * i) % d for i in range(1 + layer % 3)})) for layer in range(case.num_layers)}


def request_for(case: Case, scenario: Scenario) -> PruneRequest:
    inexact = inexact_by_design(case, scenario.mode) is not None
    if not scenario.explicit:
        return PruneRequest(mode=scenario.mode, ratio=scenario.ratio, gqa=scenario.gqa, allow_inexact=inexact)
    if scenario.mode == "heads":
        return PruneRequest(mode="heads", heads=explicit_heads(case))
    return PruneRequest(mode="head_dims", dims=explicit_dims(case), allow_inexact=inexact)


def empty_request(mode: str) -> PruneRequest:
    return PruneRequest(mode=mode, heads={} if mode == "heads" else None, dims={} if mode == "head_dims" else None)


def bad_requests(case: Case, mode: str) -> list[tuple[str, PruneRequest]]:
    """Requests that cannot be carried out; a validating pruner must refuse each untouched."""
    h, kv, d, n = case.num_heads[0], case.num_kv_heads[0], case.head_dim, case.num_layers
    out: list[tuple[str, PruneRequest]] = []
    if mode == "heads":
        out.append(("every head of a layer", PruneRequest(heads={0: tuple(range(h))})))
        out.append(("head index out of range", PruneRequest(heads={0: (h,)})))
        out.append(("layer index out of range", PruneRequest(heads={n: (0,)})))
        g = h // kv
        valid0 = tuple(range(g)) if kv > 1 and g > 1 else (0,)  # a whole kv group is legal under GQA
        out.append(("head id repeated", PruneRequest(heads={0: [*valid0[::-1], valid0[-1]]})))
        if n > 1:
            out.append(("valid layer 0, invalid layer 1",
                        PruneRequest(heads={0: valid0, 1: tuple(range(case.num_heads[1]))})))
        for a, b, *_ in case.tied[:1]:
            out.append(("tied blocks keep different heads", PruneRequest(heads={a: (0,), b: (1,)})))
        if kv > 1 and g > 1:
            out.append(("unequal GQA split", PruneRequest(heads={0: (0,)})))
    else:
        out.append(("every dim of a head", PruneRequest(mode="head_dims", dims={0: tuple(range(d))})))
        out.append(("dim index out of range", PruneRequest(mode="head_dims", dims={0: (d,)})))
        legal = rope_pair(case, 1) if "rope" in case.tags else (1, 1 + d // 2)
        out.append(("dim id repeated", PruneRequest(mode="head_dims", dims={i: [*legal, legal[0]] for i in range(n)},
                                                    allow_inexact=True)))
        if "rope" in case.tags:
            out.append(("RoPE dim without its pair", PruneRequest(mode="head_dims", dims={i: (1,) for i in range(n)})))
            out.append(("RoPE pairs differ across layers", PruneRequest(mode="head_dims", dims={0: legal})))
        if inexact_by_design(case, mode):
            out.append(("inexact without allow_inexact",
                        PruneRequest(mode="head_dims", dims={i: legal for i in range(n)})))
    return out
