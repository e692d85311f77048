"""What a pruner must leave alone: everything outside the parts it slices and the mirrors it syncs.

Judged on the very object the pruner was given (a deep copy would drop ``.grad`` and compact
storage), prepared like a user's model: some modules in train mode, some parameters frozen.
"""
from __future__ import annotations

import torch
from torch import nn

import headprune
from headprune.blocks import resolve
from headprune.surgery import rotary_tables

from .base import CheckFailure, Trial, check, fail_unless, run_pruner

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks")
_PRIMITIVE = (bool, int, float, str, type(None))


def prepare(model: nn.Module) -> nn.Module:
    """A user's model mid-fine-tune: every third module in train mode, every fourth parameter frozen."""
    for i, module in enumerate(model.modules()):
        if i % 3 == 1:
            module.training = True  # this module only, not its children
    for i, p in enumerate(model.parameters()):
        if i % 4 == 2:
            p.requires_grad_(False)
    return model


def _primitive(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(isinstance(v, _PRIMITIVE) for v in value)
    return isinstance(value, _PRIMITIVE)


def hooks(model: nn.Module) -> dict[str, int]:
    """How many hooks of each kind sit on each module and parameter, and globally."""
    out = {}
    for name, module in model.named_modules():
        for kind in _HOOK_DICTS:
            if (n := len(getattr(module, kind, None) or ())):
                out[f"{name or 'model'}.{kind}"] = n
    for name, p in model.named_parameters():
        for kind in ("_backward_hooks", "_post_accumulate_grad_hooks"):
            if (n := len(getattr(p, kind, None) or ())):
                out[f"{name}.{kind}"] = n
    for kind in _GLOBAL_HOOKS:
        if (n := len(getattr(torch.nn.modules.module, kind, None) or ())):
            out[f"torch.nn.modules.module.{kind}"] = n
    return out


def _compact(t: torch.Tensor) -> bool:
    return t.untyped_storage().nbytes() == t.numel() * t.element_size()


class State:
    """Everything a pruner has no reason to change, read from one model."""

    def __init__(self, model: nn.Module):
        self.params = dict(model.named_parameters())
        self.tensors = {**{k: v.detach().clone() for k, v in model.named_buffers()},
                        **{k: v.detach().clone() for k, v in self.params.items()}}
        self.compact = {k for k, v in [*model.named_buffers(), *self.params.items()] if _compact(v)}
        self.requires_grad = {k: p.requires_grad for k, p in self.params.items()}
        self.grads = sorted(k for k, p in self.params.items() if p.grad is not None)
        self.training = {name: m.training for name, m in model.named_modules()}
        self.hyper = {name: {k: v for k, v in vars(m).items()
                             if not k.startswith("_") and k != "training" and _primitive(v)}
                      for name, m in model.named_modules()}
        config = getattr(model, "config", None)
        self.config = _flatten(config.to_dict()) if hasattr(config, "to_dict") else {}
        self.hooks = hooks(model)


class _Any:
    def __contains__(self, item) -> bool:
        return True


ANY = _Any()  # every attribute of a sliced module may change


class MayChange:
    """What a prune may change, named from the family descriptions of the unpruned model:
    sliced tensors, per-head module lists (whole subtrees), synced attributes and config keys."""

    def __init__(self):
        self.tensors: set[str] = set()
        self.subtrees: set[str] = set()            # prefixes: everything below may go or change
        self.attrs: dict[str, set[str] | _Any] = {}  # module name -> attribute names
        self.config: set[str] = set()

    def tensor(self, name: str) -> bool:
        return name in self.tensors or any(name.startswith(p + ".") for p in self.subtrees)

    def module(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.subtrees)

    def below(self, name: str) -> bool:
        """Inside a per-head module list (renumbered), not the list itself."""
        return any(name.startswith(p + ".") for p in self.subtrees)


def _flatten(d: dict, prefix: str = "") -> dict:
    """``{"text_config.num_attention_heads": 4, ...}``: composite configs sync their towers' fields."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _synced(key: str, fields: set[str]) -> bool:
    """Whether config ``key`` (dotted, maybe inside a tower's sub-config) is one a family syncs."""
    return any(key == f or key.endswith("." + f) or key.startswith(f + ".") or f".{f}." in key for f in fields)


def _may_change(model: nn.Module, mode: str) -> MayChange:
    out = MayChange()
    tensors, attrs, config = out.tensors, out.attrs, out.config
    for block in headprune.attention_blocks(model):
        fam, base = block.family, block.name

        def add_module(path: str, base: str = base) -> None:
            full = f"{base}.{path}" if path else base
            tensors.update(f"{full}.{n}" for n in ("weight", "bias"))
            attrs[full] = ANY  # its widths, whatever a layer calls them (in_features, nf, normalized_shape)

        for path in [fam.qkv, fam.q, fam.k, fam.v, fam.o, *fam.o_aligned, *fam.qk_norms,
                     *([fam.width_norm] if fam.width_norm else [])]:
            if path:
                add_module(path)
        for extra in fam.per_head:
            path = f"{base}.{getattr(extra, 'path', extra)}"
            target = resolve(model, path)
            (out.subtrees.add if isinstance(target, nn.Module) else tensors.add)(path)
        for attr in fam.attrs:
            owner, _, leaf = attr.path.rpartition(".")
            names = attrs.setdefault(f"{base}.{owner}" if owner else base, set())
            if names is not ANY:
                names.add(leaf)
        for aligned in fam.aligned:  # tensors laid out like q/k/v rows (EVA q_bias, DeBERTa pos_key_proj)
            if isinstance(resolve(model, f"{base}.{aligned.path}"), nn.Module):
                add_module(aligned.path)
            else:
                tensors.add(f"{base}.{aligned.path}")
        for field in (*fam.config_fields, *fam.private_config):
            config.update((field.name, *field.fallbacks))
    if mode == "head_dims":
        names = {id(m): n for n, m in model.named_modules()}
        tensors.update(f"{names[id(m)]}.{b}".lstrip(".") for m, b in rotary_tables(model))
    return out


def untouched_problems(before: State, after: State, may: MayChange) -> list[str]:
    attrs, config_keys = may.attrs, may.config
    out = []
    if gone := sorted(k for k in before.tensors.keys() - after.tensors.keys() if not may.tensor(k)):
        out.append(f"tensors disappeared: {gone[:4]}")
    if new := sorted(k for k in after.tensors.keys() - before.tensors.keys() if not may.tensor(k)):
        out.append(f"new tensors appeared: {new[:4]}")
    changed = [k for k in sorted(before.tensors.keys() & after.tensors.keys()) if not may.tensor(k) and not (
        before.tensors[k].shape == after.tensors[k].shape and before.tensors[k].dtype == after.tensors[k].dtype
        and torch.equal(before.tensors[k], after.tensors[k]))]
    if changed:
        out.append(f"tensors outside the sliced parts changed: {changed[:4]}")
    views = [k for k in sorted(after.tensors) if k in before.compact and k not in after.compact]
    if views:
        out.append(f"sliced tensors are views that keep the full-size storage alive: {views[:4]}")
    # below a per-head module list names are renumbered, so flags are compared outside it only
    if flipped := [k for k in sorted(after.requires_grad)
                   if not may.tensor(k) and after.requires_grad[k] != before.requires_grad.get(k, True)]:
        out.append(f"requires_grad changed: {[(k, after.requires_grad[k]) for k in flipped[:4]]}")
    if grads := [k for k in after.grads if k not in before.grads]:
        out.append(f".grad left on {grads[:4]}")
    # a per-head list's own flag counts (a rebuilt nn.ModuleList starts in train mode)
    if modes := [k or "model" for k in sorted(after.training)
                 if k in before.training and not may.below(k) and after.training[k] != before.training[k]]:
        out.append(f"train/eval flag changed on {modes[:4]} (e.g. eval() for scoring, never restored)")
    hyper = []
    for name in sorted(before.hyper.keys() & after.hyper.keys()):
        if may.module(name):
            continue
        b, a = before.hyper[name], after.hyper[name]
        for key in sorted(b.keys() | a.keys()):
            if key not in attrs.get(name, ()) and b.get(key) != a.get(key):
                hyper.append(f"{name or 'model'}.{key}: {b.get(key)!r} -> {a.get(key)!r}")
    if hyper:
        out.append(f"module hyperparameters changed: {hyper[:4]}")
    # new keys are the pruner's own bookkeeping (headprune's per_layer_config); existing ones must stay
    if cfg := sorted(k for k in before.config.keys()
                     if not _synced(k, config_keys) and before.config.get(k) != after.config.get(k)):
        out.append(f"config fields that mirror no head count changed: {cfg[:4]}")
    if after.hooks != before.hooks:
        extra = {k: v for k, v in after.hooks.items() if before.hooks.get(k) != v}
        out.append(f"hooks left behind: {dict(list(extra.items())[:4]) or 'some removed'}")
    return out


@check()
def check_untouched(trial: Trial) -> None:
    """The pruner changes nothing it has no reason to: other parameters and buffers, module
    hyperparameters, config fields, train/eval flags, requires_grad; leaves no .grad or hooks;
    sliced tensors own compact storage; the model passed in is pruned in place; the request is not
    modified."""
    trial.pruned  # noqa: B018  (a root cause reported by check_shapes makes this skip)
    model = prepare(trial.original_copy())
    may_change = _may_change(model, trial.request.mode)
    before = State(model)
    run = run_pruner(trial.pruner, trial.case, model, trial.request)
    if run.error is not None:
        raise CheckFailure(f"the pruner raised on a model with frozen parameters and modules in train mode: "
                           f"{type(run.error).__name__}: {run.error}")
    after = State(model)
    problems = untouched_problems(before, after, may_change)
    if not any(before.tensors[k].shape != t.shape for k, t in after.tensors.items() if k in before.tensors):
        problems.append("the model passed in was not pruned: no tensor changed shape (the contract prunes in place)")
    if run.request_problem:
        problems.append(run.request_problem)
    fail_unless(not problems, "; ".join(problems))
