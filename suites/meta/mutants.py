"""Deliberately broken pruners, one real-world trap each, that the conformance checks must catch.

Every mutant implements the pruner contract (:mod:`headprune.contract`) and is built from the
reference: either ``make_plan`` + ``apply_plan`` with a doctored plan, or the reference prune
followed by one precise corruption. Each carries

``name``       its id (also a module attribute, so ``--pruner suites.meta.mutants:<name>`` works)
``trap``       the real bug it imitates, in one line
``caught_by``  the checks that must FAIL (raise CheckFailure) on it
``where``      ``(zoo case, scenario id)`` pairs on which every check in ``caught_by`` is shown to fail
``gaps``       ``{(case, scenario id, check): why}``: places inside ``where`` x ``caught_by`` where the
               check does *not* fail cleanly today. Each one is a known hole in the suite (or the zoo),
               run by the meta tests as a strict xfail so that fixing the hole is noticed.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import torch
from safetensors.torch import load_file
from torch import nn

import headprune
import headprune.importance
from headprune.api import apply_plan
from headprune.blocks import resolve, weight
from headprune.contract import Capabilities, PruneRequest
from headprune.persistence import WEIGHTS_FILE

EXACT = "check_kept_heads_exact"



# -- helpers ----------------------------------------------------------------------------

def plan_for(model: nn.Module, request: PruneRequest):
    """The reference's validated plan for ``request`` (nothing is touched)."""
    return headprune.make_plan(model, heads=request.heads, dims=request.dims, mode=request.mode,
                               ratio=request.ratio, gqa=request.gqa, allow_inexact=request.allow_inexact,
                               multiple_of=1)


def reference_prune(model: nn.Module, request: PruneRequest) -> None:
    headprune.reference.prune(model, request)


def _owner(root: nn.Module, path: str):
    parent, _, leaf = path.rpartition(".")
    return (resolve(root, parent) if parent else root), leaf


def _set(owner: nn.Module, name: str, value: torch.Tensor, like: torch.Tensor) -> None:
    """Replace a parameter, keeping requires_grad, as the reference does."""
    setattr(owner, name, nn.Parameter(value.detach().clone(), requires_grad=like.requires_grad))


def prune_leaving_stale(model: nn.Module, request: PruneRequest, attribute: str) -> None:
    """The reference prune, then ``attribute`` of every attention module put back as it was."""
    old = {b.name: getattr(b.module, attribute) for b in headprune.attention_blocks(model)
           if hasattr(b.module, attribute)}
    reference_prune(model, request)
    for name, block in _by_name(model).items():
        if name in old:
            setattr(block.module, attribute, old[name])


def _by_name(model: nn.Module) -> dict[str, headprune.AttentionBlock]:
    return {b.name: b for b in headprune.attention_blocks(model)}


def _blocks_unchecked(model):
    """Attention blocks without the layout check (a stale head_dim makes it fail)."""
    from headprune.families import family_of
    for name, module in model.named_modules():
        fam = family_of(module, name)
        if fam is not None and fam.refuse is None:
            yield headprune.AttentionBlock(0, name, module, fam)


def _projection_paths(block: headprune.AttentionBlock) -> dict[str, str]:
    return block.family.projection_paths()


def _layout(block: headprune.AttentionBlock) -> tuple[int, int, int]:
    return block.num_heads, block.num_kv_heads, block.head_dim


def pruned_blocks(model: nn.Module, request: PruneRequest) -> list[headprune.AttentionBlock]:
    """Reference prune, then the blocks whose layout it changed (the only ones a mutant corrupts,
    so that each mutant differs from the reference by its one bug and nothing else)."""
    before = {b.name: _layout(b) for b in headprune.attention_blocks(model)}
    reference_prune(model, request)
    return [b for b in headprune.attention_blocks(model) if _layout(b) != before[b.name]]


# -- the contract -----------------------------------------------------------------------

class Mutant:
    name: ClassVar[str]
    trap: ClassVar[str]
    caught_by: ClassVar[frozenset[str]]
    where: ClassVar[tuple[tuple[str, str], ...]]
    gaps: ClassVar[Mapping[tuple[str, str, str], str]] = {}

    version = "0.0-mutant"
    capabilities = Capabilities()
    expected_failures: Mapping[str, str] = {}

    def prune(self, model: nn.Module, request: PruneRequest) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<mutant {self.name}>"


# -- GQA --------------------------------------------------------------------------------

class StaleKvGroups(Mutant):
    """Forgets ``num_key_value_groups``: eager ``repeat_kv`` (and sdpa with a mask) still repeats
    each kv head by the old n_rep. Unpadded sdpa never reads it, so only padded batches show it."""

    name = "stale_kv_groups"
    trap = "updates weights and head counts but leaves attn.num_key_value_groups at H/KV of the unpruned model"
    caught_by = frozenset({"check_attribute_sync", EXACT})
    where = (("llama-gqa", "heads"), ("llama-gqa", "heads-ratio"))

    def prune(self, model, request):
        prune_leaving_stale(model, request, "num_key_value_groups")


class WrongKvPairing(Mutant):
    """When a whole kv group goes, keeps the *first* KV' kv heads instead of the group's own: shapes
    agree, nothing raises, and the surviving query heads attend with another group's k/v (§3)."""

    name = "wrong_kv_pairing"
    trap = "removes a whole GQA group's query heads but slices k/v to the first KV' kv heads (kv head 0 kept)"
    caught_by = frozenset({"check_gqa_pairing", EXACT})
    where = (("llama-gqa", "heads"), ("qwen2", "heads"), ("phi3-gqa", "heads"))

    def prune(self, model, request):
        plan, blocks = plan_for(model, request)
        layers = tuple(dataclasses.replace(lp, keep_kv_heads=tuple(range(len(lp.keep_kv_heads))))
                       for lp in plan.layers)
        apply_plan(model, dataclasses.replace(plan, layers=layers), blocks)


class StalePhi3KvHeads(Mutant):
    """Phi-3 splits its fused qkv rows with the module attribute ``num_key_value_heads``. Left stale
    after a whole group is removed, k takes [k | v] and v is empty: sdpa returns zeros (§7)."""

    name = "stale_phi3_kv_heads"
    trap = "leaves Phi3Attention.num_key_value_heads (used for the fused k/v split) at its old value"
    caught_by = frozenset({"check_attribute_sync", EXACT})
    where = (("phi3-gqa", "heads"), ("phi3-gqa", "heads-ratio-groups"))

    def prune(self, model, request):
        prune_leaving_stale(model, request, "num_key_value_heads")


# -- softmax scale and RoPE ---------------------------------------------------------------

class RescaledSoftmax(Mutant):
    """After shrinking head_dim, uses softmax scale d'^-0.5 (HF ``scaling``, timm's fused SDPA
    default) without folding sqrt(d'/d) into q: every score is scaled by sqrt(d/d') (§5, error ~1)."""

    name = "rescaled_softmax"
    trap = "recomputes the softmax scale as new_head_dim**-0.5 after head-dim pruning, without compensating"
    caught_by = frozenset({EXACT})
    where = (("llama", "head_dims"), ("llama", "head_dims-ratio"), ("timm-vit", "head_dims"),
             ("timm-deit", "head_dims-ratio"), ("gpt2", "head_dims"), ("falcon", "head_dims"), ("gemma2", "head_dims"))

    def prune(self, model, request):
        d = {b.name: b.head_dim for b in headprune.attention_blocks(model)}
        # the reference sets the scale to d'^-0.5 and folds sqrt(d'/d) into q; this one forgets the fold
        with torch.no_grad():
            for block in pruned_blocks(model, request):
                name = block.name
                if block.head_dim != d[name]:
                    q = block.qkv_rows()["q"]
                    factor = math.sqrt(block.head_dim / d[name])
                    weight(q.lin)[list(q.rows)] /= factor
                    if q.lin.bias is not None:
                        q.lin.bias[list(q.rows)] /= factor


class AdjacentRopePairs(Mutant):
    """Treats RoPE pairs as adjacent (2p, 2p+1), the GPT-J / EVA interleaved layout, on a model that
    uses ``rotate_half`` (pairs i, i+d/2). It drops the right frequencies from ``inv_freq`` but the
    wrong dims, so the kept dims are not closed under i <-> i+d/2 (§5, error ~0.16)."""

    name = "adjacent_rope_pairs"
    trap = "removes frequency p as dims (2p, 2p+1) instead of (p, p+d/2) in a rotate_half model"
    caught_by = frozenset({EXACT, "check_request_honoured"})
    where = (("llama", "head_dims"), ("llama-gqa", "head_dims"), ("phi", "head_dims"), ("gpt-neox", "head_dims"))

    def prune(self, model, request):
        plan, blocks = plan_for(model, request)
        layers = []
        for block, lp in zip(blocks, plan.layers):
            r = block.rotary_dim
            removed = set(range(block.head_dim)) - set(lp.keep_dims)
            if r is not None:
                freqs = {i % (r // 2) for i in removed if i < r}
                removed = {i for i in removed if i >= r} | {2 * p + k for p in freqs for k in (0, 1)}
            keep = tuple(i for i in range(block.head_dim) if i not in removed)
            layers.append(dataclasses.replace(lp, keep_dims=keep))
        apply_plan(model, dataclasses.replace(plan, layers=tuple(layers)), blocks)


class RotaryNotSliced(Mutant):
    """Slices q/k/v by the kept pairs but leaves the model-level rotary module's ``inv_freq``
    (and ``original_inv_freq``) at d/2 frequencies (§5), or timm EVA's cached sin/cos table at d columns each."""

    name = "rotary_not_sliced"
    trap = "head_dims mode on a RoPE model without slicing the shared rotary inv_freq"
    caught_by = frozenset({"check_attribute_sync", EXACT})
    where = (("llama", "head_dims"), ("qwen2", "head_dims-ratio"), ("cohere", "head_dims"), ("timm-eva", "head_dims"))

    def prune(self, model, request):
        plan, blocks = plan_for(model, request)
        apply_plan(model, dataclasses.replace(plan, rope_pairs=None), blocks)


class StaleHeadDim(Mutant):
    """Shrinks every head but leaves ``attn.head_dim`` at d: the model then views its rows as
    fewer, wider heads, mixing channels of different heads."""

    name = "stale_head_dim"
    trap = "head_dims mode slices the weights but does not update attn.head_dim"
    caught_by = frozenset({"check_shapes", "check_attribute_sync"})
    where = (("vit", "head_dims"), ("bert", "head_dims"))

    def prune(self, model, request):
        old = {b.name: b.head_dim for b in headprune.attention_blocks(model)}
        reference_prune(model, request)
        for block in _blocks_unchecked(model):
            if block.family.head_dim_attr is None:
                continue  # timm swin derives head_dim from the weights
            owner, leaf = _owner(block.module, block.family.head_dim_attr)
            setattr(owner, leaf, old[block.name])


# -- slicing by position instead of by the kept heads ---------------------------------------

def _positional(model: nn.Module, request: PruneRequest, paths) -> None:
    """Reference prune, then re-slice each ``paths(block)`` parameter of the *original* by position:
    ``orig[..., :n]`` (dim given by the callback) instead of the kept indices."""
    originals = {b.name: {p: (dim, t.detach().clone()) for p, dim, t in paths(b)}
                 for b in headprune.attention_blocks(model)}
    reference_prune(model, request)
    with torch.no_grad():
        for name, block in _by_name(model).items():
            for path, dim, now in paths(block):
                orig_dim, orig = originals[name][path]
                if now.shape == orig.shape:
                    continue  # not sliced
                owner, leaf = _owner(block.module, path)
                _set(owner, leaf, orig.narrow(orig_dim, 0, now.shape[dim]), now)


class OColsByPosition(Mutant):
    """Slices q/k/v by the kept heads but the output projection's input columns by position
    (the first H'*d columns), so kept heads are read through removed heads' o weights."""

    name = "o_cols_by_position"
    trap = "o_proj.weight[:, :new_width] instead of o_proj.weight[:, kept head columns]"
    caught_by = frozenset({EXACT, "check_request_honoured", "check_gqa_pairing"})
    where = (("vit", "heads"), ("llama-gqa", "heads"), ("timm-vit", "heads"), ("gpt2", "heads"))

    def prune(self, model, request):
        # the o input axis: columns of an nn.Linear weight, rows of a Conv1D's [in, out] weight (GPT-2)
        _positional(model, request, lambda b: [(b.family.o + ".weight", 0 if b.family.transposed else 1,
                                                 b.o.weight)])


class SwinTableByPosition(Mutant):
    """Slices the Swin relative-position bias table by position (its first H' columns) instead
    of the kept heads: shapes agree, so nothing raises (§2 per-head extras). The same trap in
    BEiT's per-layer tables, T5's relative attention bias (block 0 of each stack) and ConViT's
    per-head positional projection rows and gates."""

    name = "swin_table_by_position"
    trap = "relative_position_bias_table[:, :H'] instead of [:, kept heads]"
    caught_by = frozenset({EXACT})
    where = (("timm-swin", "heads"), ("swin", "heads"), ("beit", "heads"), ("timm-beit", "heads"), ("t5", "heads"),
             ("timm-convit", "heads"))

    def prune(self, model, request):
        _positional(model, request, _per_head_tensors)


def _per_head_tensors(block: headprune.AttentionBlock) -> list[tuple[str, int, torch.Tensor]]:
    """Per-head extras as (path, head axis, tensor): parameters, and a per-head linear's rows and bias."""
    out = []
    for spec, t in block.per_head_params():
        if isinstance(t, torch.Tensor):
            out.append((spec.path, spec.axis % t.dim(), t))
        elif isinstance(t, nn.Linear):
            out += [(f"{spec.path}.{n}", 0, p) for n, p in (("weight", t.weight), ("bias", t.bias)) if p is not None]
    return out


class QkvBiasByPosition(Mutant):
    """Qwen2's q/k/v biases sliced by position (bias[:rows]) while the weights are sliced by the
    kept heads, as a hand-written `weight[rows]` without the matching `bias[rows]` does."""

    name = "qkv_bias_by_position"
    trap = "slices q/k/v weight rows by the kept heads but their biases by position"
    caught_by = frozenset({"check_shapes"})  # a row whose bias is not its own matches no original row
    where = (("qwen2", "heads"), ("qwen2", "head_dims"))

    def prune(self, model, request):
        def biases(b):
            paths = [p for role, p in b.family.projection_paths().items() if role != "o"]
            return [(f"{p}.bias", 0, resolve(b.module, p).bias) for p in paths
                    if resolve(b.module, p).bias is not None]
        _positional(model, request, biases)


class AlignedRowsByPosition(Mutant):
    """Slices q/k/v by the kept heads but the tensors laid out like their rows by position:
    EVA's separate q_bias/v_bias, DeBERTa's pos_key_proj/pos_query_proj (c2p/p2c projections)."""

    name = "aligned_rows_by_position"
    trap = "q_bias[:rows] / pos_key_proj.weight[:rows] instead of the kept heads' (and dims') rows"
    caught_by = frozenset({EXACT})
    where = (("timm-eva", "heads"), ("deberta-v2", "heads"), ("deberta-v2", "head_dims"))

    def prune(self, model, request):
        def aligned(b):
            out = []
            for spec, _, part in b.aligned():
                if isinstance(part, nn.Linear):
                    out.append((spec.path + ".weight", 0, part.weight))
                elif isinstance(part, nn.Parameter):
                    out.append((spec.path, 0, part))
            return out
        _positional(model, request, aligned)


class CrossAttentionSkipped(Mutant):
    """Prunes self-attention but leaves cross-attention as it was (it is found under another
    name: Whisper's ``encoder_attn``, T5's ``EncDecAttention``)."""

    name = "cross_attention_skipped"
    trap = "only self-attention modules are found; decoder cross-attention keeps every head"
    caught_by = frozenset({"check_request_honoured"})
    where = (("whisper", "heads"), ("t5", "heads"), ("whisper", "head_dims"))

    def prune(self, model, request):
        plan, blocks = plan_for(model, request)
        layers = tuple(
            dataclasses.replace(lp, keep_heads=tuple(range(b.num_heads)), keep_kv_heads=tuple(range(b.num_kv_heads)),
                                keep_dims=tuple(range(b.head_dim)))
            if ("encoder_attn" in b.name or "EncDecAttention" in b.name) else lp
            for b, lp in zip(blocks, plan.layers))
        apply_plan(model, dataclasses.replace(plan, layers=layers), blocks)


class StaleNumHeads(Mutant):
    """Leaves ``num_heads`` at its old value where the module views k/v with it (Whisper): the
    forward raises, or with some shapes re-cuts the channels."""

    name = "stale_num_heads"
    trap = "Whisper-style attention views k/v as (B, -1, num_heads, d): num_heads left at H"
    caught_by = frozenset({"check_attribute_sync", EXACT})
    where = (("whisper", "heads"),)

    def prune(self, model, request):
        prune_leaving_stale(model, request, "num_heads")


# -- attribute and config sync --------------------------------------------------------------

class ConfigNotSynced(Mutant):
    """Keeps every module attribute in sync but never touches ``model.config``: a uniform
    prune then saves a config that describes the unpruned model (§6)."""

    name = "config_not_synced"
    trap = "syncs module attributes but leaves model.config (num_attention_heads, num_heads, ...) unchanged"
    caught_by = frozenset({"check_attribute_sync"})
    where = (("llama", "heads-ratio"), ("swin", "heads-ratio"), ("vit", "heads-ratio"), ("qwen2", "head_dims-ratio"))

    def prune(self, model, request):
        config = getattr(model, "config", None)
        if config is None:  # timm: nothing to forget
            return reference_prune(model, request)
        names = {f.name.split(".")[0] for b in headprune.attention_blocks(model) for f in b.family.config_fields}
        saved = {n: copy.deepcopy(getattr(config, n)) for n in names if hasattr(config, n)}
        reference_prune(model, request)
        config = model.config  # the reference gives the model its own copy of the config
        for n in names:
            if n in saved:
                setattr(config, n, saved[n])
            elif hasattr(config, n):
                delattr(config, n)


class CompositeTopLevelConfig(Mutant):
    """Writes the new head counts as top-level fields of a composite config (CLIP, LLaVA) and leaves
    each tower's sub-config stale, as a sync that only knows ``model.config`` does (issue 9)."""

    name = "composite_top_level_config"
    trap = "config.num_attention_heads added to CLIPConfig/LlavaConfig; text_config/vision_config stale"
    caught_by = frozenset({"check_attribute_sync"})
    where = (("clip", "heads-ratio"),)

    def prune(self, model, request):
        subs = [model.config.text_config, model.config.vision_config]
        before = [sub.num_attention_heads for sub in subs]
        reference_prune(model, request)
        model.config.num_attention_heads = headprune.attention_blocks(model)[0].num_heads
        for sub, heads in zip(subs, before):
            sub.num_attention_heads = heads


class Phi3SharedConfig(Mutant):
    """Writes Phi-3's per-layer head counts into ``attn.config``, which is the config *shared*
    by every layer: the last layer's counts win, and every other layer splits its fused rows
    with them (§2: give each module its own config)."""

    name = "phi3_shared_config"
    trap = "sets attn.config.num_attention_heads per layer on Phi-3, i.e. on the one shared config"
    caught_by = frozenset({"check_attribute_sync", EXACT})
    where = (("phi3", "heads"), ("phi3-gqa", "heads"))

    def prune(self, model, request):
        reference_prune(model, request)
        for block in headprune.attention_blocks(model):
            if not block.family.private_config:
                continue  # only Phi-3 reads head counts from its config
            overlay = block.module.config
            shared = getattr(overlay, "base", overlay)
            for key, value in getattr(overlay, "overrides", {}).items():
                setattr(shared, key, value)
            block.module.config = shared


class Phi3ConfigCopy(Mutant):
    """Gives each Phi-3 module a private *copy* of the config (right head counts), which goes
    stale when the model later switches backend: ``set_attn_implementation`` updates the shared
    config only, so the attention keeps running eager while the model builds sdpa's boolean mask,
    which eager then *adds* to the scores (§7)."""

    name = "phi3_config_copy"
    trap = "copy.copy(config) per Phi-3 module instead of an overlay: stale _attn_implementation after a backend switch"
    caught_by = frozenset({EXACT, "check_generate"})
    where = (("phi3", "heads"),)

    def prune(self, model, request):
        reference_prune(model, request)
        for block in headprune.attention_blocks(model):
            if not block.family.private_config:
                continue  # only Phi-3 reads head counts from its config
            overlay = block.module.config
            if hasattr(overlay, "overrides"):
                private = copy.copy(overlay.base)
                for key, value in overlay.overrides.items():
                    setattr(private, key, value)
                block.module.config = private


# -- what pruning must not do ---------------------------------------------------------------

class MasksHeads(Mutant):
    """Zeroes the removed heads through ``torch.nn.utils.prune`` (a mask on o_proj's columns)
    instead of removing them: the outputs are right, the model is exactly as big as before."""

    name = "masks_heads"
    trap = "masks heads (torch.nn.utils.prune.custom_from_mask on o_proj) instead of slicing them out"
    # the masked o weights match no original column: check_shapes reports it, the survivor-based checks skip
    caught_by = frozenset({"check_shapes", EXACT, "check_trainable", "check_untouched"})
    where = (("bert", "heads"), ("llama-gqa", "heads"))

    def prune(self, model, request):
        from torch.nn.utils import prune as torch_prune
        plan, blocks = plan_for(model, request)
        for block, lp in zip(blocks, plan.layers):
            if lp.is_identity(block):
                continue
            d = block.head_dim
            keep = torch.zeros(block.num_heads * d, dtype=torch.bool)
            for h in lp.keep_heads:
                keep[h * d:(h + 1) * d] = True
            torch_prune.custom_from_mask(block.o, "weight", keep.expand_as(block.o.weight).clone())


class EmptyMeansDefault(Mutant):
    """``if not request.heads:`` treats an empty selection ``{}`` as "none given" and falls back
    to a default ratio, so asking to remove nothing removes half the heads."""

    name = "empty_means_default"
    trap = "an empty request ({}) is falsy and silently becomes the default ratio=0.5"
    caught_by = frozenset({"check_noop"})
    where = (("bert", "heads"), ("llama", "head_dims"), ("timm-swin", "heads"))

    def prune(self, model, request):
        if not request.heads and not request.dims and request.ratio is None:
            request = dataclasses.replace(request, heads=None, dims=None, ratio=0.5)
        reference_prune(model, request)


class NewLinearDefaultDtype(Mutant):
    """Rebuilds each sliced projection as a fresh ``nn.Linear(in, out)`` and copies the kept
    rows in: the new layer has the default dtype (float32) whatever the model's dtype was."""

    name = "new_linear_default_dtype"
    trap = "nn.Linear(in_features, out_features) for the sliced layer: default dtype, not the model's"
    caught_by = frozenset({"check_dtype_device"})
    where = (("bert", "heads"), ("llama", "head_dims"))

    def prune(self, model, request):
        for block in pruned_blocks(model, request):
            for path in _projection_paths(block).values():
                owner, leaf = _owner(block.module, path)
                lin = getattr(owner, leaf)
                new = nn.Linear(lin.in_features, lin.out_features, bias=lin.bias is not None)
                with torch.no_grad():
                    new.weight.copy_(lin.weight)
                    if lin.bias is not None:
                        new.bias.copy_(lin.bias)
                new.weight.requires_grad_(lin.weight.requires_grad)
                setattr(owner, leaf, new)


class DropsRequiresGrad(Mutant):
    """``nn.Parameter(sliced)`` without ``requires_grad=old.requires_grad``: frozen projections
    (LoRA bases, frozen towers) become trainable after pruning."""

    name = "drops_requires_grad"
    trap = "wraps sliced weights in nn.Parameter(...) with the default requires_grad=True"
    caught_by = frozenset({"check_dtype_device"})
    where = (("vit", "heads"), ("qwen2", "head_dims"))

    def prune(self, model, request):
        for block in pruned_blocks(model, request):
            for lin in block.projections().values():
                lin.weight = nn.Parameter(lin.weight.detach())


class WeightsAsBuffers(Mutant):
    """Stores the sliced weights with ``register_buffer`` (or as plain tensor attributes): the
    forward is right, but optimizers, ``parameters()`` and gradients no longer see them."""

    name = "weights_as_buffers"
    trap = "register_buffer('weight', sliced) instead of an nn.Parameter"
    caught_by = frozenset({"check_trainable", "check_param_count"})
    where = (("vit", "heads"), ("llama-gqa", "heads-ratio"))

    def prune(self, model, request):
        for block in pruned_blocks(model, request):
            for lin in block.projections().values():
                w = lin.weight.detach()
                del lin._parameters["weight"]
                lin.register_buffer("weight", w)


class LoadWithoutReplay(Mutant):
    """Saves the pruned state_dict, then loads it into a fresh *unpruned* model keeping only the
    tensors whose shapes happen to match (the ``ignore_mismatched_sizes=True`` trap, §6): the
    sliced projections stay at their unpruned values and nothing complains."""

    name = "load_without_replay"
    trap = "load() = load_state_dict of the matching-shape tensors into the unpruned model (no replay)"
    caught_by = frozenset({"check_save_load"})
    where = (("llama", "heads"), ("vit", "head_dims"))
    capabilities = Capabilities(save_load=True)

    def prune(self, model, request):
        reference_prune(model, request)

    def save(self, model, directory):
        headprune.save(model, directory)

    def load(self, directory, fresh_model):
        saved = load_file(str(Path(directory) / WEIGHTS_FILE))
        own = fresh_model.state_dict()
        fresh_model.load_state_dict({k: v for k, v in saved.items() if k in own and own[k].shape == v.shape},
                                    strict=False)
        return fresh_model.eval()


class PartialSurgery(Mutant):
    """Validates and applies the request one layer at a time, so layer 0 is already cut when
    layer 1 turns out to be impossible: the error is right, the model is half pruned."""

    name = "partial_surgery"
    trap = "applies each layer as soon as it is validated; a bad later layer leaves earlier ones pruned"
    caught_by = frozenset({"check_bad_requests"})
    where = (("bert", "heads"), ("llama", "heads"), ("llama-gqa", "heads"))
    capabilities = Capabilities(validates_requests=True)

    def prune(self, model, request):
        if request.mode != "heads" or request.heads is None:
            return reference_prune(model, request)
        for layer, ids in request.heads.items():
            reference_prune(model, dataclasses.replace(request, heads={layer: ids}))


# -- ratio semantics (the contract: per layer, round half up, never the last unit) --------------

class RatioAsKeepShare(Mutant):
    """Reads ``ratio`` as the share of heads to *keep*: identical at 0.5, so only other ratios show it."""

    name = "ratio_as_keep_share"
    trap = "keeps round(n * ratio) units (ratio read as the fraction kept) instead of removing them"
    caught_by = frozenset({"check_ratio_honoured"})
    where = (("vit", "heads-ratio0.3"), ("llama", "head_dims-ratio0.3"))

    def prune(self, model, request):
        if request.ratio:
            request = dataclasses.replace(request, ratio=1 - request.ratio)
        reference_prune(model, request)


class RatioZeroMeansDefault(Mutant):
    """``ratio = request.ratio or 0.5``: a ratio of 0 is falsy and becomes the default."""

    name = "ratio_zero_means_default"
    trap = "request.ratio or DEFAULT_RATIO: ratio=0 prunes half the heads"
    caught_by = frozenset({"check_ratio_honoured"})
    where = (("bert", "heads-ratio0"), ("llama-gqa", "head_dims-ratio0"))

    def prune(self, model, request):
        if request.ratio is not None:
            request = dataclasses.replace(request, ratio=request.ratio or 0.5)
        reference_prune(model, request)


class RatioRoundsDown(Mutant):
    """``int(n * ratio)`` heads per layer: floor, not round half up (4 heads at 0.625: 2, not 3)."""

    name = "ratio_rounds_down"
    trap = "int(num_heads * ratio) heads removed per layer (floor) instead of round half up"
    caught_by = frozenset({"check_ratio_honoured"})
    where = (("vit", "heads-ratio0.625"), ("timm-vit", "heads-ratio0.625"))

    def prune(self, model, request):
        if request.ratio is None or request.mode != "heads":
            return reference_prune(model, request)
        remove = {}
        for block in headprune.attention_blocks(model):
            scores = headprune.importance.head_scores(block)
            n = min(int(block.num_heads * request.ratio), block.num_heads - 1)
            remove[block.layer] = sorted(range(block.num_heads), key=lambda h: float(scores[h]))[:n]
        reference_prune(model, dataclasses.replace(request, ratio=None, heads=remove))


class RatioIgnoresGqaStrategy(Mutant):
    """Treats ``gqa="groups"`` like ``"equal"``: every kv group loses query heads, none goes whole."""

    name = "ratio_ignores_gqa_strategy"
    trap = "ignores request.gqa and always removes the same number of query heads per kv group"
    caught_by = frozenset({"check_ratio_honoured"})
    where = (("llama-gqa", "heads-ratio-groups"), ("qwen2", "heads-ratio-groups"))

    def prune(self, model, request):
        reference_prune(model, dataclasses.replace(request, gqa="equal"))


# -- side effects: what a pruner must leave alone --------------------------------------------

class PrunesACopy(Mutant):
    """Deep-copies the model, prunes the copy and returns it (``model = prune(model)`` style): the
    caller's model, the one the contract prunes in place, is left as it was."""

    name = "prunes_a_copy"
    trap = "returns a pruned deep copy and leaves the model passed in untouched"
    caught_by = frozenset({"check_shapes"})  # the root cause, reported once; the rest skip
    where = (("vit", "heads"), ("llama", "heads-ratio"))

    def prune(self, model, request):
        pruned = copy.deepcopy(model)
        reference_prune(pruned, request)
        return pruned


class PrunesALocalCopy(Mutant):
    """``model = copy.deepcopy(model)`` at the top of ``prune`` ("don't touch the caller's model"),
    then prunes the local copy and returns nothing: the caller's model is never pruned."""

    name = "prunes_a_local_copy"
    trap = "rebinds model to a deep copy inside prune() and returns nothing"
    caught_by = frozenset({"check_untouched", "check_request_honoured"})
    where = (("vit", "heads"), ("llama-gqa", "heads"))

    def prune(self, model, request):
        model = copy.deepcopy(model)
        reference_prune(model, request)


class SortsRequestInPlace(Mutant):
    """``ids.sort()`` on the caller's lists to normalise them: right pruning, mutated request."""

    name = "sorts_request_in_place"
    trap = "sorts (and dedups) the request's id lists in place, changing the caller's request"
    caught_by = frozenset({"check_untouched"})
    where = (("vit", "heads"), ("llama-gqa", "head_dims"))

    def prune(self, model, request):
        for ids in (request.heads or request.dims or {}).values():
            if isinstance(ids, list):
                ids.sort()
        reference_prune(model, request)


class ScoresInEvalMode(Mutant):
    """Calls ``model.eval()`` to score heads and never restores the train/eval flags: a model
    being fine-tuned silently loses its dropout."""

    name = "scores_in_eval_mode"
    trap = "model.eval() for scoring, the caller's train/eval flags never restored"
    caught_by = frozenset({"check_untouched"})
    where = (("bert", "heads"), ("llama-gqa", "heads-ratio"))

    def prune(self, model, request):
        model.eval()
        reference_prune(model, request)


class LeavesGrad(Mutant):
    """Scores heads by gradient (Taylor importance) and leaves the ``.grad`` of the scoring pass on
    every parameter: memory held, and the next optimizer step applies it."""

    name = "leaves_grad"
    trap = "backward() for gradient importance, then no zero_grad(set_to_none=True)"
    caught_by = frozenset({"check_untouched"})
    where = (("vit", "heads"), ("qwen2", "head_dims"))

    def prune(self, model, request):
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.zeros_like(p)  # what a scoring backward leaves behind
        reference_prune(model, request)


class LeavesActivationHooks(Mutant):
    """Registers forward hooks to collect activation statistics and never removes them: outputs
    unchanged, but every later forward pays for them and the model cannot be pickled cleanly."""

    name = "leaves_activation_hooks"
    trap = "register_forward_hook for activation scoring, handle.remove() forgotten"
    caught_by = frozenset({"check_untouched"})
    where = (("timm-vit", "heads"), ("llama", "heads-ratio"))

    def prune(self, model, request):
        for block in headprune.attention_blocks(model):
            block.module.register_forward_hook(lambda module, args, output: None)
        reference_prune(model, request)


class SlicesAsViews(Mutant):
    """Keeps the kept rows as a view into the old weight's storage (``w[:n]``-style narrowing, or
    ``.data =`` a view): the model reports fewer parameters but frees no memory."""

    name = "slices_as_views"
    trap = "sliced weights are views of the full-size tensors, so no memory is freed"
    caught_by = frozenset({"check_untouched"})
    where = (("vit", "heads"), ("llama", "head_dims"))

    def prune(self, model, request):
        with torch.no_grad():
            for block in pruned_blocks(model, request):
                for lin in block.projections().values():
                    w = weight(lin)
                    full = torch.empty(w.numel() * 2, dtype=w.dtype)  # the old, larger storage
                    full[:w.numel()] = w.reshape(-1)
                    lin.weight = nn.Parameter(full[:w.numel()].view(w.shape), requires_grad=w.requires_grad)


class ResetsNormEps(Mutant):
    """Rebuilds the layer norms next to the attention with the default ``eps=1e-5``: outputs move
    by far less than any logits tolerance, the model is no longer the one it was."""

    name = "resets_norm_eps"
    trap = "nn.LayerNorm(dim) rebuilt with the default eps, not the model's layer_norm_eps"
    caught_by = frozenset({"check_untouched"})
    where = (("vit", "heads"), ("timm-deit", "head_dims"))

    def prune(self, model, request):
        reference_prune(model, request)
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.eps = 1e-5


class Float32SlicesInHalf(Mutant):
    """Scores and slices in float32 (``w.float()``) and stores the float32 slices: in a bf16 or
    fp16 model the pruned projections no longer match their inputs and forward fails."""

    name = "float32_slices_in_half"
    trap = "sliced weights kept in float32 (the scoring copy) in a bfloat16/float16 model"
    caught_by = frozenset({"check_dtype_device", "check_exact_half_precision"})
    where = (("llama", "heads"), ("vit", "head_dims"))

    def prune(self, model, request):
        with torch.no_grad():
            for block in pruned_blocks(model, request):
                for lin in block.projections().values():
                    if lin.weight.dtype in (torch.bfloat16, torch.float16):
                        lin.weight = nn.Parameter(lin.weight.float(), requires_grad=lin.weight.requires_grad)


class DuplicatedHead(Mutant):
    """An off-by-one in the kept-index list repeats the first kept head in place of the last one:
    shapes and counts are right, one head is computed twice and another is gone."""

    name = "duplicated_head"
    trap = "keep list built as [keep[0]] + keep[:-1]-style: one kept head duplicated, another dropped"
    caught_by = frozenset({"check_shapes"})
    where = (("vit", "heads"), ("timm-deit", "heads"))

    def prune(self, model, request):
        plan, blocks = plan_for(model, request)
        layers = tuple(dataclasses.replace(lp, keep_heads=(lp.keep_heads[0], *lp.keep_heads[:-1]),
                                           keep_kv_heads=(lp.keep_kv_heads[0], *lp.keep_kv_heads[:-1]))
                       if len(lp.keep_heads) > 1 else lp for lp in plan.layers)
        apply_plan(model, dataclasses.replace(plan, layers=layers), blocks)


class HookLeftOnRefusal(Mutant):
    """Installs a pre-hook that masks the heads to remove (to measure the loss without them) before
    validating the request; a refused request raises but leaves the masking hook in place."""

    name = "hook_left_on_refusal"
    trap = "a head-masking forward pre-hook installed before validation and not removed when validation fails"
    caught_by = frozenset({"check_bad_requests"})
    where = (("vit", "heads"), ("llama", "heads"))
    capabilities = Capabilities(validates_requests=True)

    def prune(self, model, request):
        blocks = headprune.attention_blocks(model)
        handles = []
        for block in blocks:
            d = block.head_dim
            drop = [h for h in (request.heads or {}).get(block.layer, ()) if isinstance(h, int) and 0 <= h < block.num_heads]
            cols = torch.tensor([h * d + i for h in drop for i in range(d)], dtype=torch.long)

            def mask(module, args, cols=cols):
                x = args[0].clone()
                x[..., cols] = 0
                return (x, *args[1:])
            handles.append(block.o.register_forward_pre_hook(mask))
        reference_prune(model, request)  # raises on a bad request: the hooks stay
        for h in handles:
            h.remove()


class LoadKeepsFreshConfig(Mutant):
    """Replays the saved plan on load but then restores the fresh model's config (``config =
    fresh.config``): weights and modules are pruned, the config describes the unpruned model."""

    name = "load_keeps_fresh_config"
    trap = "load() replays the weights but keeps the unpruned model's config"
    caught_by = frozenset({"check_save_load"})
    where = (("llama", "heads-ratio"), ("vit", "head_dims-ratio"))
    capabilities = Capabilities(save_load=True)

    def prune(self, model, request):
        reference_prune(model, request)

    def save(self, model, directory):
        headprune.save(model, directory)

    def load(self, directory, fresh_model):
        config = copy.deepcopy(fresh_model.config)
        loaded = headprune.load(directory, model=fresh_model)
        loaded.config = config
        return loaded


# -- registry ---------------------------------------------------------------------------------

# -- decoder layouts (attention-map §10) -----------------------------------------------------

class HalfSplitRopePairs(Mutant):
    """The mirror of ``adjacent_rope_pairs``: on a model whose RoPE is interleaved (Cohere: dims
    (2p, 2p+1) share frequency p) it removes frequency p as dims (p, p + r/2), the rotate_half
    pairing. Registering Cohere as a Llama does exactly this, and nothing raises (issue 9)."""

    name = "half_split_rope_pairs"
    trap = "removes frequency p as dims (p, p+r/2) in an interleaved-RoPE model, whose pairs are (2p, 2p+1)"
    caught_by = frozenset({EXACT, "check_request_honoured"})
    where = (("cohere", "head_dims"), ("timm-eva", "head_dims"))

    def prune(self, model, request):
        plan, blocks = plan_for(model, request)
        layers = []
        for block, lp in zip(blocks, plan.layers):
            r = block.rotary_dim
            removed = set(range(block.head_dim)) - set(lp.keep_dims)
            freqs = {i // 2 for i in removed if i < r}
            removed = {i for i in removed if i >= r} | {p + k * (r // 2) for p in freqs for k in (0, 1)}
            layers.append(dataclasses.replace(lp, keep_dims=tuple(i for i in range(block.head_dim) if i not in removed)))
        apply_plan(model, dataclasses.replace(plan, layers=tuple(layers)), blocks)


class FusedRowsAsBlocks(Mutant):
    """Slices a fused q/k/v projection as if its rows were [q | k | v] blocks, on layouts that
    interleave them per head (GPT-NeoX, old Falcon: [q_h | k_h | v_h]) or per kv group (Falcon's new
    architecture: [q.. | k | v]). Shapes agree, so the model runs on mixed-up q, k and v rows."""

    name = "fused_rows_as_blocks"
    trap = "keeps fused q/k/v rows as if laid out [q H*d | k KV*d | v KV*d] when the model interleaves them"
    caught_by = frozenset({"check_shapes"})  # rows cut across heads match no original head: reported once
    where = (("gpt-neox", "heads"), ("falcon", "heads"), ("falcon-mha", "heads-ratio"))

    def prune(self, model, request):
        plan, blocks = plan_for(model, request)
        blocked = [dataclasses.replace(b, family=dataclasses.replace(b.family, qkv_layout="blocked"))
                   for b in blocks]
        apply_plan(model, plan, blocked)


class StaleOptNumHeads(Mutant):
    """OPT views q/k/v as (bsz, -1, num_heads, d), where -1 is the sequence axis. A stale
    ``num_heads`` re-cuts the sequence into S*H'/H tokens: unpadded sdpa runs without an error."""

    name = "stale_opt_num_heads"
    trap = "leaves OPTAttention.num_heads at its old value after removing heads"
    caught_by = frozenset({"check_attribute_sync", EXACT})
    where = (("opt", "heads"), ("opt", "heads-ratio"))

    def prune(self, model, request):
        prune_leaving_stale(model, request, "num_heads")


class PerHeadNormsByPosition(Mutant):
    """Per-head q/k norms kept by position (the first H' of them) instead of the kept heads':
    StableLM's ModuleList of LayerNorms is zipped with the heads, which silently truncates, and
    Cohere's [H, d] norm weight takes its first rows."""

    name = "per_head_norms_by_position"
    trap = "q_layernorm.norms[:H'] / q_norm.weight[:H'] instead of the kept heads' norms"
    caught_by = frozenset({EXACT})
    where = (("stablelm-qknorm", "heads"), ("cohere-qknorm", "heads"))

    def prune(self, model, request):
        originals = {b.name: {spec.path: copy.deepcopy(extra) for spec, extra in b.per_head_params()}
                     for b in headprune.attention_blocks(model)}
        for block in pruned_blocks(model, request):
            for spec, now in block.per_head_params():
                orig = originals[block.name][spec.path]
                owner, leaf = _owner(block.module, spec.path)
                if isinstance(now, nn.ModuleList):
                    setattr(owner, leaf, nn.ModuleList(list(orig)[:len(now)]))
                else:
                    _set(owner, leaf, orig.narrow(spec.axis % orig.dim(), 0, now.shape[spec.axis]), now)


class PerHeadListInTrainMode(Mutant):
    """Rebuilds a per-head module list (StableLM's per-head q/k LayerNorms) as a new
    ``nn.ModuleList`` of the kept norms: a new module starts in train mode, so an eval model comes
    back with train-mode containers (what headprune itself did until the suite compared them)."""

    name = "per_head_list_in_train_mode"
    trap = "nn.ModuleList([norms[h] for h in kept]) without restoring the old list's train/eval flag"
    caught_by = frozenset({"check_untouched"})
    where = (("stablelm-qknorm", "heads"),)

    def prune(self, model, request):
        for block in pruned_blocks(model, request):
            for _, extra in block.per_head_params():
                if isinstance(extra, nn.ModuleList):
                    extra.training = True


_CLASSES = [cls for cls in list(globals().values())
            if isinstance(cls, type) and issubclass(cls, Mutant) and cls is not Mutant]
MUTANTS: dict[str, type[Mutant]] = {cls.name: cls for cls in sorted(_CLASSES, key=lambda c: c.name)}
assert len(MUTANTS) == len(_CLASSES), "duplicate mutant names"


def by_name(name: str) -> Mutant:
    """A fresh instance of the mutant called ``name``."""
    try:
        return MUTANTS[name]()
    except KeyError:
        raise KeyError(f"unknown mutant {name!r}; known: {', '.join(MUTANTS)}") from None


# module-level instances: ``--pruner suites.meta.mutants:<name>``
globals().update({name: cls() for name, cls in MUTANTS.items()})

__all__ = ["MUTANTS", "Mutant", "by_name", *MUTANTS]
