"""How fast pruning itself is, and how much memory it needs, on an 853M-parameter Llama.

16 layers, hidden 2048, 32 query / 8 kv heads of 64, fp32 (3.4 GB); ``--prune-speed-model
llama-3-8b`` takes the full Llama-3-8B shape in bf16 (16 GB, the largest that fits a 24 GiB
machine with room for the pruned copy of one layer). Every method removes half
of the kv groups in every layer, on a fresh model, round-robin over the methods so they see
the same machine load:

- ``floor``: copy the kept q/k/v rows and o columns once with ``index_select``, nothing else
  (no validation, no attribute or config sync): the least any exact pruner can do;
- ``explicit``: ``headprune.prune(model, {layer: heads})``;
- ``ratio``: ``headprune.prune(model, ratio=0.5, gqa="groups")`` (importance scoring included);
- ``torch-pruning``: Torch-Pruning's documented LLM recipe (MetaPruner, ``num_heads``,
  ``prune_num_heads=True``, ``prune_head_dims=False``, hidden width untouched), construction
  (dependency-graph tracing) and the pruning step, in a child process with a time limit: on
  this model (transformers 5.24) its dependency graph takes very long to build, and a run that
  does not finish is reported as "at least the limit".

Peak memory is the process's peak resident memory during the call minus what it held before
(``/proc/self/clear_refs`` resets the peak), reported against the model's size. Big
allocations are forced to ``mmap`` so freed weights leave the process at once.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from torch import nn

import headprune

from .rows import RowWriter

LLAMA_853M = dict(hidden_size=2048, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                  intermediate_size=5632, num_hidden_layers=16, vocab_size=32000, tie_word_embeddings=False,
                  max_position_embeddings=2048)
LLAMA_3_8B = dict(hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                  intermediate_size=14336, num_hidden_layers=32, vocab_size=128256, tie_word_embeddings=False,
                  max_position_embeddings=8192, rope_theta=500000.0)
SPEED_MODELS = {"llama-853M": (LLAMA_853M, torch.float32), "llama-3-8b": (LLAMA_3_8B, torch.bfloat16)}
METHODS = ("floor", "explicit", "ratio", "torch-pruning")


def _config(shape: str = "llama-853M", layers: int | None = None, **overrides) -> tuple[object, torch.dtype]:
    sizes, dtype = SPEED_MODELS[shape]
    config = transformers.LlamaConfig(**{**sizes, **({"num_hidden_layers": layers} if layers else {}), **overrides})
    return config, dtype


def build_llama(layers: int | None = None, device: str = "cpu", shape: str = "llama-853M", **overrides) -> nn.Module:
    """Random weights in the model's dtype, filled in place (no per-layer init pass: building
    should not dominate the run)."""
    config, dtype = _config(shape, layers, **overrides)
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config).to(dtype)
    model.to_empty(device=device)
    _fill_random(model, device)
    with torch.device(device):
        model.model.rotary_emb = type(model.model.rotary_emb)(config=config)  # its buffers were left empty
    return model.eval()


_POOL = 1 << 24  # random values drawn once; every parameter copies a window of them


def _fill_random(model: nn.Module, device: str) -> None:
    """Uniform(-0.05, 0.05) weights, fast enough for billions of parameters: one pool of random
    values is drawn, and each parameter copies windows of it from its own random offset (a
    random number generator fills bf16 at a few hundred MB/s on 2 cores; a copy is memory-bound)."""
    gen = torch.Generator(device=device).manual_seed(0)
    dtype = next(model.parameters()).dtype
    pool = torch.empty(2 * _POOL, device=device).uniform_(-0.05, 0.05, generator=gen).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            flat = p.view(-1)
            for start in range(0, flat.numel(), _POOL):
                n = min(_POOL, flat.numel() - start)
                offset = int(torch.randint(0, _POOL, (1,), generator=gen, device=device))
                flat[start:start + n].copy_(pool[offset:offset + n])


def removed_heads(model: nn.Module) -> dict[int, list[int]]:
    """Query heads of the upper half of the kv groups, in every layer (what every method removes)."""
    out = {}
    for block in headprune.attention_blocks(model):
        g, kv = block.groups, block.num_kv_heads
        out[block.layer] = list(range((kv // 2) * g, kv * g))
    return out


def floor_prune(model: nn.Module) -> None:
    """The floor: one ``index_select`` per pruned weight, the result installed as the new parameter."""
    with torch.no_grad():
        for layer in model.model.layers:
            attn, d = layer.self_attn, model.config.head_dim
            kv = attn.k_proj.out_features // d
            h = attn.q_proj.out_features // d
            q_rows = torch.arange(h // 2 * d, device=attn.q_proj.weight.device)
            kv_rows = torch.arange(kv // 2 * d, device=attn.q_proj.weight.device)
            for lin, rows in ((attn.q_proj, q_rows), (attn.k_proj, kv_rows), (attn.v_proj, kv_rows)):
                lin.weight = nn.Parameter(lin.weight.index_select(0, rows))
            attn.o_proj.weight = nn.Parameter(attn.o_proj.weight.index_select(1, q_rows))


def torch_pruning_prune(model: nn.Module) -> dict:
    """Torch-Pruning 1.6's LLM example, restricted to heads (hidden and MLP widths untouched)."""
    import torch_pruning as tp

    cfg = model.config
    num_heads = {}
    for name, m in model.named_modules():
        if name.endswith("self_attn"):
            num_heads[m.q_proj] = cfg.num_attention_heads
            num_heads[m.k_proj] = cfg.num_key_value_heads
            num_heads[m.v_proj] = cfg.num_key_value_heads
    example = torch.randint(0, cfg.vocab_size, (1, 8), device=model.lm_head.weight.device)
    pruner = tp.pruner.MetaPruner(
        model, example_inputs=example, importance=tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean"),
        global_pruning=False, pruning_ratio=0.0, ignored_layers=[model.lm_head], num_heads=num_heads,
        prune_num_heads=True, prune_head_dims=False, head_pruning_ratio=0.5, round_to=4,
        output_transform=lambda out: out.logits)
    for group in pruner.step(interactive=True):
        group.prune()
    attn = model.model.layers[0].self_attn
    return {"q_rows": attn.q_proj.out_features, "kv_rows": attn.k_proj.out_features,
            "o_cols": attn.o_proj.in_features}


# -- memory ----------------------------------------------------------------------------------

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_peak_supported() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_call(fn: Callable[[], object], device: str = "cpu", cuda=None) -> tuple[float, int, object]:
    """Wall seconds, peak extra bytes (-1 when unsupported) and the result of ``fn``.

    CPU: resident memory (``VmHWM`` after a reset, minus ``VmRSS`` before). CUDA: the caching
    allocator's peak over what was allocated before; the clock reads after a synchronize."""
    gc.collect()
    if torch.device(device).type == "cuda":
        cuda = cuda if cuda is not None else torch.cuda
        cuda.synchronize()
        before = cuda.memory_allocated()
        cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = fn()
        cuda.synchronize()
        seconds = time.perf_counter() - start
        return seconds, cuda.max_memory_allocated() - before, result
    supported = rss_peak_supported()  # resets the peak to the current resident size
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = (_status_kb("VmHWM") - before) * 1024 if supported else -1
    return seconds, peak, result


def _mmap_big_allocations() -> None:
    """glibc otherwise raises its mmap threshold after the first big free and keeps freed weights resident."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD = 1 MiB (fixed, not adaptive)
    except (OSError, AttributeError):
        pass


@dataclass
class Outcome:
    seconds: float
    peak_extra: int
    detail: dict
    timed_out: float | None = None   # the limit it ran past (seconds), if it did


TORCH_PRUNING_LIMIT_S = 120.0


def run_isolated(method: str, layers: int | None, device: str, limit_s: float, model: str = "llama-853M") -> Outcome:
    """``run_method`` in a child process with a time limit (Torch-Pruning's graph building can take
    very long); a child that runs out of time is a result: "did not finish within limit_s"."""
    cmd = [sys.executable, "-m", "suites.benchmarks.prune_speed", method, "--device", device, "--model", model]
    if layers:
        cmd += ["--layers", str(layers)]
    root = Path(__file__).resolve().parents[2]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s, cwd=root)
    except subprocess.TimeoutExpired:
        return Outcome(float("nan"), -1, {"error": f"did not finish within {limit_s:.0f} s"}, timed_out=limit_s)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return Outcome(float("nan"), -1, {"error": (proc.stderr or proc.stdout)[-300:]})
    data = json.loads(lines[-1])
    return Outcome(data["seconds"], data["peak_extra"], data["detail"])


def run_method(method: str, layers: int | None = None, device: str = "cpu", shape: str = "llama-853M") -> Outcome:
    model = build_llama(layers, device, shape)
    heads = removed_heads(model)
    calls = {
        "floor": floor_prune,
        "explicit": lambda m: headprune.prune(m, heads),
        "ratio": lambda m: headprune.prune(m, ratio=0.5, gqa="groups"),
        "torch-pruning": torch_pruning_prune,
    }
    fn = functools.partial(calls[method], model)
    seconds, peak, result = measure_call(fn, device)
    attn = model.model.layers[0].self_attn
    detail = {"q_rows": attn.q_proj.weight.shape[0], "kv_rows": attn.k_proj.weight.shape[0],
              "o_cols": attn.o_proj.weight.shape[1]}
    if isinstance(result, headprune.PruneReport):
        detail["kv_heads_after"] = result.layers[0].kv_heads_after
    with torch.inference_mode():
        try:
            model(torch.tensor([[1, 2, 3]], device=device))
            detail["forward"] = "ok"
        except Exception as exc:  # noqa: BLE001 - a pruner that leaves a broken model is a result, not a crash
            detail["forward"] = f"{type(exc).__name__}: {str(exc)[:160]}"
    del model, fn
    gc.collect()
    return Outcome(seconds, peak, detail)


def model_bytes(layers: int | None = None, shape: str = "llama-853M") -> tuple[int, int]:
    config, dtype = _config(shape, layers)
    with torch.device("meta"):
        meta = transformers.LlamaForCausalLM(config)
    params = sum(p.numel() for p in meta.parameters())
    return params, params * dtype.itemsize


def run(writer: RowWriter, progress, *, repeats: int = 3, layers: int | None = None,
        methods=METHODS, device: str = "cpu", tp_limit_s: float = TORCH_PRUNING_LIMIT_S,
        model: str = "llama-853M") -> dict[str, list[Outcome]]:
    _mmap_big_allocations()
    params, nbytes = model_bytes(layers, model)
    dtype = SPEED_MODELS[model][1]
    case = f"llama-{params / 1e6:.0f}M" if params < 2e9 else f"llama-{params / 1e9:.1f}B"
    progress(f"pruning speed: {case} {str(dtype).removeprefix('torch.')} ({nbytes / 2**30:.2f} GiB), "
             f"removing half of the kv groups; "
             f"{repeats} rounds of {', '.join(methods)}")
    outcomes: dict[str, list[Outcome]] = {m: [] for m in methods}
    available = set(methods)
    for _ in range(repeats):
        for method in methods:
            if method not in available:
                continue
            try:
                if method == "torch-pruning":
                    outcomes[method].append(run_isolated(method, layers, device, tp_limit_s, model))
                else:
                    outcomes[method].append(run_method(method, layers, device, model))
                last = outcomes[method][-1]
                if last.seconds != last.seconds:
                    progress(f"    {method}: {last.detail.get('error')}")
                    available.discard(method)  # one timeout is enough to know
                else:
                    progress(f"    {method}: {last.seconds:.3f} s, peak +{last.peak_extra / 2**20:.0f} MiB")
            except Exception as exc:  # noqa: BLE001 - e.g. Torch-Pruning failing on this model
                progress(f"  {method}: failed ({type(exc).__name__}: {str(exc)[:200]})")
                available.discard(method)
                outcomes[method].append(Outcome(float("nan"), -1, {"error": f"{type(exc).__name__}: {exc}"[:300]}))
    floor = outcomes["floor"]
    for method in methods:
        got = [o for o in outcomes[method] if o.seconds == o.seconds]
        if not got:
            last = outcomes[method][-1] if outcomes[method] else Outcome(float("nan"), -1, {"error": "not run"})
            if last.timed_out:  # a lower bound: it took longer than the limit
                writer.add(suite="prune_speed", family="llama", case=case, mode=method, ratio=0.5, scenario="prune",
                           metric="seconds_at_least", unit="s", values=[last.timed_out], params=params, **last.detail)
            else:
                writer.add(suite="prune_speed", family="llama", case=case, mode=method, ratio=0.5, scenario="prune",
                           metric="failed", unit="", values=[0.0], params=params, **last.detail)
            continue
        common = dict(suite="prune_speed", family="llama", case=case, mode=method, ratio=0.5, scenario="prune",
                      params=params, model_mb=nbytes / 2**20, dtype=str(dtype).removeprefix("torch."), **got[-1].detail)
        writer.add(**common, metric="seconds", unit="s", values=[o.seconds for o in got])
        per_round = [o.seconds / f.seconds for o, f in zip(outcomes[method], floor)
                     if o.seconds == o.seconds and f.seconds == f.seconds]
        writer.add(**common, metric="vs_floor", unit="x", values=per_round)
        if method != "torch-pruning" and outcomes.get("torch-pruning"):
            tp = outcomes["torch-pruning"]
            tp_rounds = [t.seconds / o.seconds for o, t in zip(outcomes[method], tp)
                         if t.seconds == t.seconds and o.seconds == o.seconds]
            if tp_rounds:
                writer.add(**common, metric="torch_pruning_slower", unit="x", values=tp_rounds)
            elif tp and tp[0].timed_out:  # Torch-Pruning ran past its limit: at least limit / this
                writer.add(**common, metric="torch_pruning_slower_at_least", unit="x",
                           values=[tp[0].timed_out / o.seconds for o in got])
        if all(o.peak_extra >= 0 for o in got):
            writer.add(**common, metric="peak_memory_ratio", unit="x of model",
                       values=[1 + o.peak_extra / nbytes for o in got])
        med = sorted(o.seconds for o in got)[len(got) // 2]
        progress(f"  {method}: {med:.3f} s, {sorted(per_round)[len(per_round) // 2]:.2f}x the floor, peak +"
                 f"{max(o.peak_extra for o in got) / nbytes * 100:.1f}% of the model; {got[-1].detail}")
    return outcomes


def _child(argv=None) -> int:
    """One method on a fresh model, its outcome as a JSON line (what :func:`run_isolated` runs)."""
    import warnings

    ap = argparse.ArgumentParser()
    ap.add_argument("method", choices=METHODS)
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", choices=sorted(SPEED_MODELS), default="llama-853M")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    _mmap_big_allocations()
    out = run_method(args.method, args.layers, args.device, args.model)
    print(json.dumps({"seconds": out.seconds, "peak_extra": out.peak_extra, "detail": out.detail}))
    return 0


if __name__ == "__main__":
    sys.exit(_child())
