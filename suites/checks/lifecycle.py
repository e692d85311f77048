"""What a pruned model must still do, and what a pruner must not do."""
from __future__ import annotations

import copy
import tempfile

import torch

import headprune
import models

from ..scenarios import bad_requests, empty_request
from headprune.contract import Unsupported

from . import guard
from .base import CheckFailure, Trial, call_pruner, check, fail_unless, in_dtype, logits
from .untouched import hooks


def _attention_params(model):
    for block in headprune.attention_blocks(model):
        for role, lin in block.projections().items():
            yield f"{block.name}.{role}", lin.weight


def _loss(case, model, inputs):
    return models.logits(case, model, inputs).float().pow(2).mean()


@check()
def check_trainable(trial: Trial) -> None:
    """backward reaches every attention projection with grads of its shape; an optimizer step works."""
    case, model = trial.case, trial.fresh()
    model.train()
    inputs = case.make_inputs(seed=3)
    _loss(case, model, inputs).backward()
    named = list(_attention_params(model))
    params = {id(p) for p in model.parameters()}
    for name, w in named:
        fail_unless(id(w) in params, f"{name}.weight is not a parameter of the model (optimizers will miss it)")
        fail_unless(w.grad is not None, f"{name}.weight got no gradient")
        fail_unless(w.grad.shape == w.shape, f"{name}.weight grad {tuple(w.grad.shape)} != {tuple(w.shape)}")
        fail_unless(bool(torch.isfinite(w.grad).all()), f"{name}.weight grad is not finite")
    before = {name: w.detach().clone() for name, w in named}
    torch.optim.SGD(model.parameters(), lr=1e-2).step()
    moved = [name for name, w in named if not torch.equal(w.detach(), before[name])]
    fail_unless(len(moved) == len(named), f"an optimizer step left {sorted(set(before) - set(moved))} unchanged")
    _loss(case, model, inputs)  # still runs after the step


def _snapshot(model):
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    config = getattr(model, "config", None)
    attrs = {}
    for block in headprune.attention_blocks(model):
        for attr in block.family.attrs:
            attrs[(block.name, attr.path)] = headprune.blocks.resolve(block.module, attr.path)
    return (sd, (config.to_dict() if hasattr(config, "to_dict") else None), attrs, [id(p) for p in model.parameters()],
            hooks(model))


def _diff(before, after) -> str | None:
    sd0, cfg0, attrs0, ids0, hooks0 = before
    sd1, cfg1, attrs1, ids1, hooks1 = after
    if sd0.keys() != sd1.keys():
        return f"state_dict keys changed: {sorted(sd0.keys() ^ sd1.keys())[:5]}"
    changed = [k for k in sd0 if sd0[k].shape != sd1[k].shape or sd0[k].dtype != sd1[k].dtype
               or not torch.equal(sd0[k], sd1[k])]
    if changed:
        return f"tensors changed: {changed[:5]}"
    if cfg0 != cfg1:
        keys = sorted(k for k in set(cfg0) | set(cfg1) if cfg0.get(k) != cfg1.get(k))
        return f"config changed: {keys}"
    if attrs0 != attrs1:
        return f"attributes changed: {[k for k in attrs0 if attrs0[k] != attrs1.get(k)]}"
    if ids0 != ids1:
        return "parameter objects were replaced"
    if hooks0 != hooks1:
        return f"hooks left behind: {({k: v for k, v in hooks1.items() if hooks0.get(k) != v})}"
    return None


@check("explicit")
def check_noop(trial: Trial) -> None:
    """An empty request leaves weights, attributes, config and outputs bit-identical."""
    case, model = trial.case, trial.original_copy()
    before = _snapshot(model)
    want = logits(case, model, case.make_inputs(seed=4))
    trial.run_pruner(model, empty_request(trial.request.mode))
    problem = _diff(before, _snapshot(model))
    fail_unless(problem is None, f"an empty request changed the model: {problem}")
    got = logits(case, model, case.make_inputs(seed=4))
    fail_unless(torch.equal(got, want), "an empty request changed the outputs")


def dtype_problem(case, model, dtype: torch.dtype, frozen: set[str]) -> str | None:
    """Why ``model`` (pruned from a ``dtype`` model with ``frozen`` attention weights) is wrong."""
    for name, p in _attention_params(model):
        if p.dtype != dtype:
            return f"{name}.weight became {p.dtype} (model was {dtype})"
        if p.requires_grad != (name not in frozen):
            return f"{name}.weight requires_grad={p.requires_grad}, was {name not in frozen}"
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t.device.type != "cpu" or (t.is_floating_point() and t.dtype != dtype and name.endswith(("weight", "bias"))):
            return f"{name}: {t.dtype} on {t.device} (model was {dtype} on cpu)"
    if dtype == torch.float64:
        return None  # some CPU kernels (MoE grouped matmul) have no float64 path: the dtypes say enough
    out = logits(case, model, in_dtype(case.make_inputs(seed=6, pad=0), dtype))  # padded rows may be NaN
    if out.dtype != dtype or not bool(torch.isfinite(out).all()):
        return f"the pruned {dtype} model's outputs are {out.dtype}, finite: {bool(torch.isfinite(out).all())}"
    return None


@check()
def check_dtype_device(trial: Trial) -> None:
    """In float64 and bfloat16 models, pruning keeps every parameter's dtype, device and
    requires_grad (frozen stays frozen), and the pruned model still runs in that dtype
    (float16: check_exact_half_precision)."""
    trial.pruned  # noqa: B018  (a root cause reported by check_shapes makes this skip)
    for dtype in (torch.float64, torch.bfloat16):
        model = trial.original_copy().to(dtype)
        frozen = set()
        for i, (name, p) in enumerate(_attention_params(model)):
            if i % 2 == 0:
                p.requires_grad_(False)
                frozen.add(name)
        trial.run_pruner(model, copy.deepcopy(trial.request))
        problem = dtype_problem(trial.case, model, dtype, frozen)
        fail_unless(problem is None, f"{dtype}: {problem}")


RELOAD_CHECKS = ("check_shapes", "check_gqa_pairing", "check_attribute_sync", "check_param_count")


@check("save_load")
def check_save_load(trial: Trial) -> None:
    """save then load into a fresh unpruned model reproduces the pruned model bit for bit, and the
    reloaded model passes the structure and sync checks itself, with every parameter's dtype and
    requires_grad as saved."""
    from . import CHECKS

    case, model = trial.case, trial.fresh()
    inputs = case.make_inputs(seed=5)
    want = logits(case, model, inputs)
    with tempfile.TemporaryDirectory() as tmp:
        with guard.deadline(f"{trial.pruner.name}.save"):
            trial.pruner.save(model, tmp)
        fresh = models.build(case, "eager")
        with guard.deadline(f"{trial.pruner.name}.load"):
            loaded = trial.pruner.load(tmp, fresh)
    loaded.eval()
    got = logits(case, loaded, inputs)
    fail_unless(got.shape == want.shape and torch.equal(got, want),
                f"reloaded outputs differ: max {float((got - want).abs().max()) if got.shape == want.shape else 'shape'}")
    shapes = [(b.num_heads, b.num_kv_heads, b.head_dim) for b in headprune.attention_blocks(loaded)]
    want_shapes = [(b.num_heads, b.num_kv_heads, b.head_dim) for b in headprune.attention_blocks(model)]
    fail_unless(shapes == want_shapes, f"reloaded layout {shapes} != saved {want_shapes}")
    saved = {n: (p.dtype, p.requires_grad) for n, p in model.named_parameters()}
    got_params = {n: (p.dtype, p.requires_grad) for n, p in loaded.named_parameters()}
    fail_unless(got_params == saved, "reloaded parameters differ in dtype or requires_grad: "
                f"{sorted(n for n in saved.keys() | got_params.keys() if saved.get(n) != got_params.get(n))[:4]}")
    reloaded = trial.with_pruned(loaded)
    for name in RELOAD_CHECKS:
        try:
            CHECKS[name](reloaded)
        except CheckFailure as exc:
            raise CheckFailure(f"the reloaded model fails {name}: {exc}") from exc


def refused_untouched(pruner, model, request, label: str, case=None, want=None) -> None:
    """``request`` must raise a ValueError naming the layer and leave ``model`` bit-identical, and
    (given its ``case``) computing what it computed before (``want``: its outputs, if known)."""
    before = _snapshot(model)
    inputs = case.make_inputs(seed=7) if case is not None else None
    if case is not None and want is None:
        want = logits(case, model, inputs)
    try:
        if case is None:
            with guard.deadline(f"{getattr(pruner, 'name', 'the pruner')}.prune"):
                pruner.prune(model, request)
        else:
            call_pruner(pruner, case, model, request)
    except Unsupported:
        raise
    except ValueError as exc:
        fail_unless("layer" in str(exc), f"{label}: the error does not name the layer: {exc}")
    except Exception as exc:
        raise CheckFailure(f"{label}: raised {type(exc).__name__}, not a ValueError: {exc}") from exc
    else:
        raise CheckFailure(f"{label}: {request.describe()} was accepted")
    problem = _diff(before, _snapshot(model))
    fail_unless(problem is None, f"{label}: the refused request still changed the model: {problem}")
    if case is not None:
        got = logits(case, model, inputs)
        fail_unless(torch.equal(got, want), f"{label}: the refused request changed the outputs by "
                    f"{float((got - want).abs().max()):.3g} (a hook left behind?)")


@check("explicit", "validates_requests")
def check_bad_requests(trial: Trial) -> None:
    """Impossible requests raise a ValueError naming the layer, and leave the model bit-identical."""
    want = logits(trial.case, trial.original, trial.case.make_inputs(seed=7))
    for label, request in bad_requests(trial.case, trial.request.mode):
        refused_untouched(trial.pruner, trial.original_copy(), request, label, trial.case, want)
