"""Shared helpers for the tests of headprune's own API.

Everything here locates attention parts from the zoo's *known* module paths
(shared/docs/attention-map.md §1), not through ``headprune.attention_blocks``,
so the oracles and expectations do not reuse the code under test.

Oracles (built on a deep copy of the *unpruned* model, shapes unchanged):
- heads: the removed heads' input columns of the output projection are zeroed;
- dims: the removed dims of every head are zeroed in the q, k and v rows (and biases),
  with the softmax scale left as it was.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

import models
from headprune.api import RECORD_ATTR
from headprune.families import family_of

TOL = 1e-5

# -- requests --------------------------------------------------------------------------
# Explicit, non-uniform, legal requests (original numbering). GQA cases remove a whole
# kv group in one layer and the same number of q heads from every group in the other.
_MHA2 = {0: [1], 1: [0, 3]}
_SWIN = {0: [1], 2: [0, 2], 3: [3]}
HEADS: dict[str, dict[int, list[int]]] = {
    "bert": _MHA2, "deit": _MHA2, "vit": _MHA2, "timm-deit": _MHA2, "timm-vit": _MHA2,
    "llama": _MHA2, "phi": _MHA2, "phi3": _MHA2,
    "swin": _SWIN, "timm-swin": _SWIN,
    "llama-mqa": {0: [2], 1: [0, 5, 7]},
    "llama-gqa": {0: [0, 1, 2, 3], 1: [1, 6]},
    "qwen2": {0: [0, 1, 2, 3], 1: [1, 6]},
    "phi3-gqa": {0: [4, 5, 6, 7], 1: [0, 1, 5, 6]},
    "qwen3": {0: [4, 5, 6, 7], 1: [0, 1, 5, 6]},
}
# A second request, in the numbering left by HEADS (legal on top of it).
HEADS2: dict[str, dict[int, list[int]]] = {
    "bert": {0: [1], 1: [1]}, "deit": {0: [1], 1: [1]}, "vit": {0: [1], 1: [1]},
    "timm-deit": {0: [1], 1: [1]}, "timm-vit": {0: [1], 1: [1]},
    "llama": {0: [1], 1: [1]}, "phi": {0: [1], 1: [1]}, "phi3": {0: [1], 1: [1]},
    "swin": {1: [0], 3: [2]}, "timm-swin": {1: [0], 3: [2]},
    "llama-mqa": {0: [2], 1: [0]},
    "llama-gqa": {0: [0], 1: [0, 3]},      # layer 1: one q head from each of its 2 groups
    "qwen2": {0: [0], 1: [0, 3]},
    "phi3-gqa": {0: [3], 1: [0, 1]},       # layer 1: now a whole group
    "qwen3": {0: [3], 1: [0, 1]},
}
# Head dims: non-uniform where the family allows it; RoPE: the same whole pairs
# (i, i + rotary/2) in every layer; Phi (rotary 8 of 16): pairs + per-layer pass-through dims.
_D2 = {0: [1], 1: [0, 5]}
_DSWIN = {0: [1], 1: [2, 3], 3: [7]}
DIMS: dict[str, dict[int, list[int]]] = {
    "bert": _D2, "deit": _D2, "vit": _D2, "timm-deit": _D2, "timm-vit": _D2,
    "swin": _DSWIN, "timm-swin": _DSWIN,
    "llama": {0: [1, 5], 1: [1, 5]},
    "llama-gqa": {0: [2, 6], 1: [2, 6]},
    "llama-mqa": {0: [0, 3, 4, 7], 1: [0, 3, 4, 7]},
    "phi3": {0: [1, 5], 1: [1, 5]},
    "phi3-gqa": {0: [0, 4], 1: [0, 4]},
    "qwen2": {0: [1, 5], 1: [1, 5]},
    "qwen3": {0: [1, 5], 1: [1, 5]},  # inexact by design (q_norm/k_norm)
    "phi": {0: [1, 5, 9], 1: [1, 5, 12, 14]},
}
INEXACT_DIMS = {"qwen3"}

# These API tests use the hand-written requests above and the module paths below, written for
# the core zoo; every other zoo case is run by the conformance suite and the properties.
_CORE = [c for c in models.cases() if c.name in HEADS]
CASES = [c.name for c in _CORE]  # sorted
CAUSAL = [c.name for c in _CORE if c.generative]
ROPE = [c.name for c in _CORE if "rope" in c.tags]
GQA = [c.name for c in _CORE if "gqa" in c.tags and "mqa" not in c.tags]
TIMM = [c.name for c in _CORE if c.source == "timm"]
HF = [c.name for c in _CORE if c.source == "hf"]


def case(name):
    return models.get_case(name)


def build(name, backend="eager"):
    """A fresh copy of the cached zoo prototype (models.build deep-copies a per-process prototype)."""
    return models.build(name, backend)


def compose(first: dict, second: dict, num_heads_or_dims) -> dict[int, list[int]]:
    """Removed ids in the original numbering after removing ``first`` then ``second``
    (``second`` numbered as left by ``first``)."""
    out = {}
    for layer, n in enumerate(num_heads_or_dims):
        gone = set(first.get(layer, ()))
        kept = [i for i in range(n) if i not in gone]
        gone |= {kept[j] for j in second.get(layer, ())}
        if gone:
            out[layer] = sorted(gone)
    return out


# -- locating attention parts (independently of headprune) ------------------------------

@dataclass
class Parts:
    module: nn.Module
    q: tuple[nn.Linear, int, int]
    k: tuple[nn.Linear, int, int]
    v: tuple[nn.Linear, int, int]
    o: nn.Linear
    table: torch.Tensor | None = None


def attention_modules(c, model) -> list[nn.Module]:
    fam = c.family
    if fam in ("vit", "deit"):
        return [layer.attention for layer in getattr(model, fam).layers]
    if fam == "swin":
        return [b.attention for s in model.swin.encoder.layers for b in s.blocks]
    if fam == "bert":
        return [layer.attention for layer in model.bert.encoder.layer]
    if fam in ("llama", "qwen2", "qwen3", "phi", "phi3"):
        return [layer.self_attn for layer in model.model.layers]
    if fam in ("timm-vit", "timm-deit"):
        return [b.attn for b in model.blocks]
    if fam == "timm-swin":
        return [b.attn for s in model.layers for b in s.blocks]
    raise AssertionError(fam)


def parts(c, model, heads=None, kv_heads=None, head_dim=None) -> list[Parts]:
    """q/k/v row ranges and o for each block; counts default to the unpruned case's."""
    out = []
    for i, m in enumerate(attention_modules(c, model)):
        h = c.num_heads[i] if heads is None else heads[i]
        kv = c.num_kv_heads[i] if kv_heads is None else kv_heads[i]
        d = c.head_dim if head_dim is None else head_dim[i]
        fam = c.family
        table = None
        if fam in ("phi3", "timm-vit", "timm-deit", "timm-swin"):
            lin = m.qkv_proj if fam == "phi3" else m.qkv
            q, k, v = (lin, 0, h * d), (lin, h * d, (h + kv) * d), (lin, (h + kv) * d, (h + 2 * kv) * d)
            o = m.o_proj if fam == "phi3" else m.proj
            if fam == "timm-swin":
                table = m.relative_position_bias_table
        elif fam == "bert":
            q, k, v = (m.self.query, 0, h * d), (m.self.key, 0, kv * d), (m.self.value, 0, kv * d)
            o = m.output.dense
        else:
            q, k, v = (m.q_proj, 0, h * d), (m.k_proj, 0, kv * d), (m.v_proj, 0, kv * d)
            o = m.dense if fam == "phi" else m.o_proj
            if fam == "swin":
                table = m.relative_position_bias.relative_position_bias_table
        out.append(Parts(m, q, k, v, o, table))
    return out


# -- oracles ---------------------------------------------------------------------------

def oracle(name, original, removed_heads=None, removed_dims=None) -> nn.Module:
    c = case(name)
    model = copy.deepcopy(original)
    d = c.head_dim
    with torch.no_grad():
        for i, p in enumerate(parts(c, model)):
            for h in (removed_heads or {}).get(i, ()):
                p.o.weight[:, h * d:(h + 1) * d] = 0
            dims = sorted((removed_dims or {}).get(i, ()))
            if dims:
                for lin, start, stop in (p.q, p.k, p.v):
                    rows = [start + h * d + j for h in range((stop - start) // d) for j in dims]
                    lin.weight[rows] = 0
                    if lin.bias is not None:
                        lin.bias[rows] = 0
    return model


def outputs(name, model, inputs) -> torch.Tensor:
    """Logits; causal LMs: only the real (attention_mask == 1) positions."""
    c = case(name)
    with torch.no_grad():
        out = models.logits(c, model, inputs)
    if c.generative:
        out = out[inputs["attention_mask"].bool()]
    return out


def forward(name, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, last hidden features); causal LMs: only the real positions.

    The features are O(1) while the tiny classifiers' logits are O(1e-2), so comparing
    both keeps a 1e-5 tolerance meaningful."""
    c = case(name)
    with torch.no_grad():
        if c.source == "timm":
            feats = model.forward_features(inputs["pixel_values"])
            logits = model.forward_head(feats)
        else:
            out = model(**inputs, output_hidden_states=True)
            logits, feats = out.logits, out.hidden_states[-1]
    if c.generative:
        keep = inputs["attention_mask"].bool()
        logits, feats = logits[keep], feats[keep]
    return logits, feats


def max_err(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def generate(model, inputs, static=False):
    kw = {"cache_implementation": "static"} if static else {}
    with torch.no_grad():
        return model.generate(**inputs, max_new_tokens=4, do_sample=False, **kw)


# -- expected layouts ------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    heads: int
    kv_heads: int
    head_dim: int
    kept_heads: tuple[int, ...]   # original numbering
    kept_kv: tuple[int, ...]

    @property
    def groups(self):
        return self.heads // self.kv_heads


def expected_layouts(name, removed_heads=None, removed_dims=None) -> list[Layout]:
    c = case(name)
    out = []
    for i in range(c.num_layers):
        h, kv, d = c.num_heads[i], c.num_kv_heads[i], c.head_dim
        g = h // kv
        gone = set((removed_heads or {}).get(i, ()))
        kept = tuple(q for q in range(h) if q not in gone)
        kept_kv = tuple(sorted({q // g for q in kept}))
        out.append(Layout(len(kept), len(kept_kv), d - len(set((removed_dims or {}).get(i, ()))), kept, kept_kv))
    return out


def actual_layouts(name, model) -> list[tuple[int, int, int]]:
    """(heads, kv_heads, head_dim) per block, read from weight shapes (no headprune)."""
    c = case(name)
    out = []
    for m in attention_modules(c, model):
        fam = c.family
        if fam in ("phi3", "timm-vit", "timm-deit", "timm-swin"):
            o = m.o_proj if fam == "phi3" else m.proj
            qkv = m.qkv_proj if fam == "phi3" else m.qkv
            if fam == "timm-swin":
                h = m.relative_position_bias_table.shape[1]
                d = o.in_features // h
            else:
                d = m.head_dim
                h = o.in_features // d
            kv = (qkv.out_features - h * d) // (2 * d)
        elif fam == "bert":
            d = m.self.attention_head_size
            h = m.output.dense.in_features // d
            kv = m.self.key.out_features // d
        else:
            d = m.head_dim
            o = m.dense if fam == "phi" else m.o_proj
            h = o.in_features // d
            kv = m.k_proj.out_features // d
        out.append((h, kv, d))
    return out


# -- "the model is untouched" ------------------------------------------------------------

class Snapshot:
    """Everything a refused request must leave as it was."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.buffers = {k: v.detach().clone() for k, v in model.named_buffers()}  # incl. non-persistent
        self.params = dict(model.named_parameters())  # the objects themselves
        self.attrs = self._attrs(model)
        self.configs = {n: getattr(m, "config", None) for n, m in model.named_modules()
                        if getattr(m, "config", None) is not None}
        cfg = getattr(model, "config", None)
        self.config = copy.deepcopy(cfg.to_dict()) if hasattr(cfg, "to_dict") else None
        self.record = copy.deepcopy(getattr(model, RECORD_ATTR, None))

    @staticmethod
    def _attrs(model):
        out = {}
        for name, m in model.named_modules():
            fam = family_of(m)
            if fam is None:
                continue
            for attr in fam.attrs:
                obj = m
                for part in attr.path.split("."):
                    obj = getattr(obj, part)
                out[(name, attr.path)] = obj
        return out

    def assert_unchanged(self):
        model = self.model
        state = model.state_dict()
        assert state.keys() == self.state.keys()
        for k, v in self.state.items():
            assert state[k].shape == v.shape and torch.equal(state[k], v), f"state_dict[{k}] changed"
        buffers = dict(model.named_buffers())
        assert buffers.keys() == self.buffers.keys()
        for k, v in self.buffers.items():
            assert torch.equal(buffers[k], v), f"buffer {k} changed"
        params = dict(model.named_parameters())
        assert params.keys() == self.params.keys()
        for k, p in self.params.items():
            assert params[k] is p, f"parameter {k} was replaced"
        assert self._attrs(model) == self.attrs
        configs = {n: getattr(m, "config", None) for n, m in model.named_modules()
                   if getattr(m, "config", None) is not None}
        assert configs.keys() == self.configs.keys()
        for n, cfg in self.configs.items():
            assert configs[n] is cfg, f"{n or 'model'}.config was replaced"
        if self.config is not None:
            assert model.config.to_dict() == self.config
        assert getattr(model, RECORD_ATTR, None) == self.record, "a refused request was recorded"
