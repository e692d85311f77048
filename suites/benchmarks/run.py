"""The measurements: dense against pruned per family, the head_dim alignment curve, LLM prefill/decode.

Every comparison is measured side by side: the variants of one family run round-robin
(:func:`timing.interleaved`), and speedups are per-round ratios against the dense model
of the same round, summarised by median and quartiles.
"""
from __future__ import annotations

import copy
import gc
from collections.abc import Callable

import torch
from torch import nn

import headprune

from . import probes
from .rows import RowWriter
from .shapes import Config, Shape
from .timing import clock_for, interleaved, memory_for, ratios

Progress = Callable[[str], None]


def _forward(model: nn.Module, inputs: dict) -> Callable[[], object]:
    def call():
        with torch.inference_mode():
            return model(**inputs)
    return call


def _layout(model: nn.Module) -> dict:
    blocks = headprune.attention_blocks(model)
    return {"heads": sum(b.num_heads for b in blocks), "kv_heads": sum(b.num_kv_heads for b in blocks),
            "head_dim": blocks[0].head_dim, "blocks": len(blocks)}


def _prune(model: nn.Module, shape: Shape, mode: str, ratio: float) -> tuple[nn.Module, headprune.PruneReport]:
    pruned = copy.deepcopy(model)
    report = headprune.prune(pruned, mode=mode, ratio=ratio, gqa=shape.gqa)  # default: widths stay multiples of 8
    return pruned, report


def _variants(shape: Shape, dense: nn.Module, ratios_by_mode: dict) -> dict[tuple, tuple[nn.Module, dict]]:
    out = {("dense", 0.0): (dense, {"multiple_of": None, "notes": []})}
    for mode, rs in ratios_by_mode.items():
        for r in rs:
            model, report = _prune(dense, shape, mode, r)
            out[(mode, r)] = (model, {"multiple_of": report.multiple_of, "notes": list(report.notes)})
    return out


def _measure_set(writer: RowWriter, config: Config, device: str, *, suite: str, shape: Shape, scenario: str,
                 variants: dict, calls: dict, items: int, progress: Progress, extra: dict | None = None) -> None:
    """Time ``calls`` (same keys as ``variants``, ``("dense", 0.0)`` first) side by side and write rows."""
    clock, memory = clock_for(device), memory_for(device)
    names = {key: f"{key[0]}@{key[1]}" for key in calls}
    times = interleaved(clock, {names[k]: fn for k, fn in calls.items()}, config.repeats,
                        target_s=config.target_block_s)
    dense_key = ("dense", 0.0)
    probed = {key: probes.flops_and_backend(fn) for key, fn in calls.items()}
    dense_flops = probed[dense_key][0]
    for key, fn in calls.items():
        mode, ratio = key
        model, meta = variants[key]
        common = dict(suite=suite, family=shape.family, case=shape.name, mode=mode,
                      ratio=None if mode == "dense" else ratio, scenario=scenario)
        flops, backend = probed[key]
        params = headprune.report.count_parameters(model)
        info = {"shape": shape.describe(), "layout": _layout(model), "sdpa_backend": backend,
                "timer": clock.method, "memory_method": memory.method, **meta, **(extra or {})}
        seconds = times[names[key]]
        writer.add(**common, metric="latency_ms", unit="ms", values=[s * 1e3 for s in seconds], **info)
        writer.add(**common, metric="throughput", unit="items/s", values=[items / s for s in seconds], **info)
        writer.add(**common, metric="speedup", unit="x", values=ratios(times[names[dense_key]], seconds), **info)
        writer.add(**common, metric="flops", unit="GFLOP", values=[flops / 1e9], **info)
        writer.add(**common, metric="ideal_speedup", unit="x", values=[dense_flops / flops], **info)
        writer.add(**common, metric="params", unit="M", values=[params / 1e6], **info)
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        writer.add(**common, metric="peak_memory_mb", unit="MB",
                   values=[(weights + memory.peak_extra_bytes(fn)) / 2**20], **info)
    lat = {k: sorted(times[names[k]])[len(times[names[k]]) // 2] * 1e3 for k in calls}
    progress(f"  {shape.name} {scenario}: dense {lat[dense_key]:.2f} ms; "
             + ", ".join(f"{names[k]} {lat[dense_key] / lat[k]:.2f}x" for k in calls if k != dense_key))


def run_families(writer: RowWriter, config: Config, device: str, progress: Progress, only=None) -> None:
    """Dense against every (mode, ratio) at each family's base shape (LLMs: one prefill)."""
    for shape in config.shapes:
        if only and shape.name not in only:
            continue
        dense = shape.build(device, config.dtype)
        variants = _variants(shape, dense, config.ratios)
        x = shape.inputs(dense)
        calls = {k: _forward(m, x) for k, (m, _) in variants.items()}
        scenario = "prefill" if shape.kind == "decoder" else "forward"
        _measure_set(writer, config, device, suite="families", shape=shape, scenario=scenario, variants=variants,
                     calls=calls, items=shape.batch, progress=progress, extra={"batch": shape.batch, "seq": shape.seq})
        del variants, calls, dense
        _free(device)


def run_alignment(writer: RowWriter, config: Config, device: str, progress: Progress) -> None:
    """Latency against kept head_dim (explicit dims: exactly as asked, no rounding)."""
    shape = config.shape(config.alignment_shape)
    dense = shape.build(device, config.dtype)
    d = headprune.attention_blocks(dense)[0].head_dim
    variants = {("dense", 0.0): (dense, {"kept_dims": d})}
    for kept in config.alignment_dims:
        if kept == d:
            continue
        model = copy.deepcopy(dense)
        headprune.prune(model, mode="head_dims", dims=list(range(kept, d)))
        variants[("head_dims", round(1 - kept / d, 4))] = (model, {"kept_dims": kept})
    x = shape.inputs(dense)
    calls = {k: _forward(m, x) for k, (m, _) in variants.items()}
    _measure_set(writer, config, device, suite="alignment", shape=shape, scenario="forward", variants=variants,
                 calls=calls, items=shape.batch, progress=progress, extra={"batch": shape.batch, "seq": shape.seq})
    del variants, calls, dense
    _free(device)


def _decode_step(model: nn.Module, batch: int, context: int) -> Callable[[], object]:
    """One new token after ``context`` cached ones; a static cache, so every call writes the same slot."""
    from transformers import StaticCache

    device = next(model.parameters()).device
    cache = StaticCache(config=model.config, max_cache_len=context + 1)
    gen = torch.Generator().manual_seed(2)
    prompt = torch.randint(0, model.config.vocab_size, (batch, context), generator=gen).to(device)
    with torch.inference_mode():
        model(input_ids=prompt, past_key_values=cache, use_cache=True,
              cache_position=torch.arange(context, device=device))
    token = torch.randint(0, model.config.vocab_size, (batch, 1), generator=gen).to(device)
    position = torch.tensor([context], device=device)

    lengths = [layer.cumulative_length for layer in getattr(cache, "layers", ())
               if isinstance(getattr(layer, "cumulative_length", None), torch.Tensor)]

    def call():
        with torch.inference_mode():
            for length in lengths:  # transformers 5 writes at its own running length: rewind it to the context
                length.fill_(context)
            return model(input_ids=token, past_key_values=cache, use_cache=True, cache_position=position)
    return call


def run_llm(writer: RowWriter, config: Config, device: str, progress: Progress, only=None) -> None:
    """Prefill and decode separately, over batch sizes and lengths, dense against both modes at one ratio."""
    ratio = config.llm_ratio
    for shape in config.shapes:
        if shape.kind != "decoder" or (only and shape.name not in only):
            continue
        dense = shape.build(device, config.dtype)
        variants = _variants(shape, dense, {"heads": (ratio,), "head_dims": (ratio,)})
        for batch, seq in config.llm_prefill:
            x = shape.inputs(dense, batch, seq)
            calls = {k: _forward(m, {**x, "use_cache": False}) for k, (m, _) in variants.items()}
            _measure_set(writer, config, device, suite="llm", shape=shape, scenario="prefill", variants=variants,
                         calls=calls, items=batch * seq, progress=progress, extra={"batch": batch, "seq": seq})
        for batch, context in config.llm_decode:
            calls = {k: _decode_step(m, batch, context) for k, (m, _) in variants.items()}
            _measure_set(writer, config, device, suite="llm", shape=shape, scenario="decode", variants=variants,
                         calls=calls, items=batch, progress=progress, extra={"batch": batch, "seq": context})
            del calls
            _free(device)
        del variants, dense
        _free(device)


def _free(device: str) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
