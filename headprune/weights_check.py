"""What the weights must be for slicing to stay exact, checked before anything is touched.

- Projections are plain float linears: a quantized layer (per-channel ``weight_scale``), a
  LoRA wrapper (``base_layer`` + adapters) or a ``torch.ao`` packed layer carries state that
  slicing ``weight``/``bias`` alone would leave the wrong size.
- Tied weights stay tied: blocks that share an attention module are sliced once and must
  keep the same heads and dims; a weight shared in any other way would be untied by slicing
  (the model would grow), so it is refused.
"""
from __future__ import annotations

from collections import defaultdict

from torch import nn

from .blocks import AttentionBlock, resolve
from .errors import TiedWeightsError, UnsupportedLayerError

_PLAIN_STATE = {"weight", "bias"}


def _projection_paths(block_family) -> list[str]:
    fam = block_family
    return [p for p in (fam.q, fam.k, fam.v, fam.qkv, fam.o, *fam.o_aligned) if p is not None]


def _why_not_plain(module: nn.Module) -> str | None:
    if not isinstance(module, nn.Module):
        return None
    cls = f"{type(module).__module__}.{type(module).__qualname__}"
    state = [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]
    extra = [n for n in state if n not in _PLAIN_STATE]
    if hasattr(module, "base_layer") or any(n.startswith(("lora_", "base_layer.")) for n in state):
        return f"is an adapter wrapper ({cls}, state {extra}); merge the adapters first (e.g. PEFT merge_and_unload())"
    if extra:
        return (f"is {cls} with extra state {extra} (quantization scales, packed weights or adapters) that slicing "
                "weight and bias alone would leave the wrong size; dequantize it first")
    w = getattr(module, "weight", None)
    if w is None or not callable(getattr(w, "is_floating_point", None)):
        return f"is {cls}, which keeps no plain weight tensor (a packed quantized layer?); dequantize it first"
    if not w.is_floating_point():
        return f"is {cls} with a {w.dtype} weight (quantized); dequantize it first"
    return None


def unsupported_projection(module: nn.Module, family) -> tuple[str, str] | None:
    """(path, reason) for the first projection of ``module`` (described by ``family``) that is not a
    plain float linear; None when all are plain or absent."""
    for path in _projection_paths(family):
        part = resolve(module, path)
        if part is not None and (why := _why_not_plain(part)) is not None:
            return path, why
    return None


def check_projections(block: AttentionBlock) -> None:
    found = unsupported_projection(block.module, block.family)
    if found is not None:
        path, why = found
        raise UnsupportedLayerError(f"{path} {why}", layer=block.layer, block=block.name)


def check_ties(model: nn.Module, blocks: list[AttentionBlock], plan) -> None:
    """Refuse a plan that would untie weights: a projection weight of a block that changes is
    also reachable from outside that block (another layer, an embedding, ...).

    An attention module shared by several layers is one block (discovery lists each module
    once), so it is sliced once and stays shared."""
    names: dict[int, list[str]] = defaultdict(list)
    for name, p in model.named_parameters(remove_duplicate=False):
        names[id(p)].append(name)
    aliases: dict[int, list[str]] = defaultdict(list)
    for name, m in model.named_modules(remove_duplicate=False):
        aliases[id(m)].append(f"{name}." if name else "")
    for block, lp in zip(blocks, plan.layers):
        if lp.is_identity(block):
            continue
        inside = tuple(aliases[id(block.module)])
        for path in _projection_paths(block.family):
            part = resolve(block.module, path)
            if not isinstance(part, nn.Module):
                continue
            for pname, p in part.named_parameters():
                outside = [n for n in names[id(p)] if not n.startswith(inside)]
                if outside:
                    raise TiedWeightsError(
                        f"{path}.{pname} is tied to {outside[0]}, outside this attention block; slicing it would "
                        "untie them and grow the model (headprune keeps a tie only when the whole attention "
                        "module is shared)", layer=block.layer, block=block.name)
