"""Save a pruned model and load it back exactly, or refuse clearly with the model untouched.

Stock model classes cannot rebuild non-uniform (or, for several families, any) pruned
shapes from their config (attention-map §6, §8). So a save holds the weights plus the
record of every plan; a load builds the original architecture, replays the plans, then
loads the weights strictly.

A save directory is also a transformers directory: ``config.json`` (the pruned config) next
to ``model.safetensors``. Where transformers can rebuild the model from that config,
``from_pretrained`` loads it exactly; where it cannot, the config carries the marker of
:mod:`headprune.stock_format` and ``from_pretrained`` stops naming ``headprune.load``.

Integrity: ``headprune.json`` records the SHA-256 of the weights file and of its own record
(config and steps). A load checks both, then replays the steps onto a meta-device shadow of
the model (no memory, no weights) and compares the result with the weight file's header;
only when everything fits is the model itself touched.
"""
from __future__ import annotations

import copy
import hashlib
import importlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from .api import RECORD_ATTR, apply_plan
from .blocks import attention_blocks
from .errors import RequestError, SaveFormatError
from .ownership import owns_config
from .plan import Plan
from .wrappers import unwrap

RECORD_FILE = "headprune.json"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
GENERATION_CONFIG_FILE = "generation_config.json"
FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1: no hashes, steps on the root only


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record_digest(payload: dict) -> str:
    body = {k: payload.get(k) for k in ("model_class", "original_config", "steps")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _steps(root: nn.Module) -> list[dict]:
    """Every recorded step on ``root`` and its submodules (a bare attention module pruned on its
    own keeps its own record), in the order they were carried out."""
    steps = []
    for name, module in root.named_modules():
        record = module.__dict__.get(RECORD_ATTR)
        if record:
            steps += [{**step, "module": name} for step in record["steps"]]
    return sorted(steps, key=lambda s: s.get("order", 0))


def save(model: nn.Module, directory) -> Path:
    """Write ``headprune.json``, ``model.safetensors`` and (transformers models) ``config.json``
    and, for generative ones, ``generation_config.json``."""
    model = unwrap(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cls = type(model)
    own = owns_config(model)
    record = model.__dict__.get(RECORD_ATTR)
    if record is not None:
        original = record["original_config"]
    else:  # unpruned here (maybe pruned in a submodule): its own config is the original one
        original = model.config.to_dict() if own else None
    payload = {
        "format": FORMAT,
        "model_class": f"{cls.__module__}:{cls.__qualname__}",
        "attn_implementation": getattr(model.config, "_attn_implementation", None) if own else None,
        "original_config": original,
        "steps": _steps(model),
    }
    weights = directory / WEIGHTS_FILE
    save_model(model, str(weights), metadata={"format": "pt"})
    if own:
        model.config.to_json_file(str(directory / CONFIG_FILE))
        if getattr(model, "generation_config", None) is not None:  # pruning renumbers its alignment heads
            model.generation_config.to_json_file(str(directory / GENERATION_CONFIG_FILE))
    payload["weights_sha256"] = _sha256(weights)
    payload["record_sha256"] = _record_digest(payload)
    (directory / RECORD_FILE).write_text(json.dumps(payload, indent=1))
    return directory


def read_record(directory) -> dict:
    """The checked contents of ``headprune.json`` (SaveFormatError for anything amiss)."""
    directory = Path(directory)
    path = directory / RECORD_FILE
    if not path.is_file():
        hint = ""
        if (directory / CONFIG_FILE).is_file():
            hint = (f"; {directory} looks like a save_pretrained directory: load it with transformers' "
                    "from_pretrained (if the pruned model cannot be rebuilt that way, save it with "
                    "headprune.save instead)")
        raise SaveFormatError(f"{path} does not exist: not a headprune.save directory{hint}")
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SaveFormatError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise SaveFormatError(f"{path} has format {found!r}, expected one of {READABLE_FORMATS}")
    if payload["format"] >= 2 and payload.get("record_sha256") != _record_digest(payload):
        raise SaveFormatError(f"{path} was modified after saving: its config or steps no longer match the "
                              "hash recorded with them")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise SaveFormatError(f"{weights} is missing")
    if payload["format"] >= 2 and _sha256(weights) != payload.get("weights_sha256"):
        raise SaveFormatError(f"{weights} does not match the SHA-256 recorded at save time (modified or corrupted)")
    try:
        payload["plans"] = [(step.get("module", ""), Plan.from_json(step)) for step in payload["steps"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SaveFormatError(f"{path} has a malformed step ({type(exc).__name__}: {exc})") from None
    return payload


def load(directory, model: nn.Module | None = None) -> nn.Module:
    """Load a saved pruned model.

    ``model``: a freshly built, unpruned model of the same architecture (needed for models
    without a config, such as timm's). Hugging Face models are rebuilt from the saved config.
    Every check runs before ``model`` is touched: on any failure it is left as it was.
    """
    directory = Path(directory)
    payload = read_record(directory)
    given = model
    model = _rebuild(payload) if model is None else unwrap(model)
    cls = type(model)
    if f"{cls.__module__}:{cls.__qualname__}" != payload["model_class"]:
        raise SaveFormatError(f"{directory} was saved from {payload['model_class']}, not "
                              f"{cls.__module__}:{cls.__qualname__}: pass a fresh model of the saved class")
    if any(m.__dict__.get(RECORD_ATTR) for m in model.modules()):
        raise RequestError("load() needs an unpruned model to replay the saved plans onto")
    _check_against_weights(_shadow(model), payload["plans"], directory / WEIGHTS_FILE)
    for name, plan in payload["plans"]:
        apply_plan(model.get_submodule(name), plan, replaying=True)
    load_model(model, str(directory / WEIGHTS_FILE), strict=True)
    if (directory / GENERATION_CONFIG_FILE).exists() and getattr(model, "generation_config", None) is not None:
        model.generation_config = _read_generation_config(type(model.generation_config), directory)
    model.eval()
    return model if given is None else given


def _read_generation_config(cls, directory: Path):
    """The saved generation config with every field. ``from_pretrained`` drops the fields it does
    not know (Whisper's ``alignment_heads``) from a config marked ``_from_model_config``."""
    data = json.loads((directory / GENERATION_CONFIG_FILE).read_text())
    from_model = data.pop("_from_model_config", False)
    config = cls.from_dict(data)
    config._from_model_config = from_model
    return config


def _shadow(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose tensors live on the meta device (the data is not copied)."""
    memo = {}
    for t in [*model.parameters(), *model.buffers()]:
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    for m in model.modules():  # non-persistent buffers and tensors kept as plain attributes
        for value in vars(m).values():
            if isinstance(value, torch.Tensor) and id(value) not in memo:
                memo[id(value)] = torch.empty_like(value, device="meta")
    return copy.deepcopy(model, memo)


def _check_against_weights(shadow: nn.Module, plans, weights: Path) -> None:
    """Replay every step on the shadow and compare its tensors with the weight file's header."""
    for n, (name, plan) in enumerate(plans, 1):
        try:
            target = shadow.get_submodule(name)
        except AttributeError:
            raise SaveFormatError(f"saved step {n} prunes {name!r}, which this model does not have") from None
        check_fits(target, [plan], first_step=n)
        apply_plan(target, plan, replaying=True)
    with safe_open(str(weights), framework="pt") as fh:
        stored = {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}
    expected = shadow.state_dict(keep_vars=True)
    present = {id(expected[k]) for k in stored if k in expected}
    for key, tensor in expected.items():
        if key not in stored and id(tensor) not in present:  # save_model stores a tied tensor once
            raise SaveFormatError(f"{weights.name} has no {key}: it was not saved from this architecture")
        if key in stored and stored[key] != tuple(tensor.shape):
            raise SaveFormatError(f"{weights.name} holds {key} as {list(stored[key])}, but replaying the saved "
                                  f"steps gives {list(tensor.shape)} (config or steps edited, or another model)")
    unknown = sorted(stored.keys() - expected.keys())
    if unknown:
        raise SaveFormatError(f"{weights.name} holds tensors this model does not have: {unknown[:3]}")


def check_fits(model: nn.Module, plans: list[Plan], first_step: int = 1) -> None:
    """Raise unless each plan fits the layout the previous ones leave (simulated, not applied)."""
    blocks = attention_blocks(model)
    layout = [(b.num_heads, b.num_kv_heads, b.head_dim) for b in blocks]
    for n, plan in enumerate(plans, first_step):
        if len(plan.layers) != len(blocks):
            raise RequestError(f"saved step {n} covers {len(plan.layers)} attention blocks, "
                               f"the model has {len(blocks)}")
        for block, lp in zip(blocks, plan.layers):
            h, kv, d = layout[block.layer]
            for kept, bound, what in ((lp.keep_heads, h, "heads"), (lp.keep_kv_heads, kv, "kv heads"),
                                      (lp.keep_dims, d, "dims")):
                if not kept or max(kept) >= bound or min(kept) < 0 or len(set(kept)) != len(kept):
                    raise RequestError(f"saved step {n} does not fit: it keeps {what} {list(kept)}, the layer has {bound}",
                                       layer=block.layer, block=block.name)
            untouched = {"heads": (lp.keep_dims, d, "dims"), "head_dims": (lp.keep_heads, h, "heads")}[plan.mode]
            if len(untouched[0]) != untouched[1]:
                raise RequestError(f"saved step {n} is a {plan.mode} step but keeps {len(untouched[0])} of the layer's "
                                   f"{untouched[1]} {untouched[2]} (the saved config does not match the steps)",
                                   layer=block.layer, block=block.name)
            layout[block.layer] = (len(lp.keep_heads), len(lp.keep_kv_heads), len(lp.keep_dims))


def _rebuild(payload) -> nn.Module:
    if payload.get("original_config") is None:
        raise RequestError("this save has no config to rebuild from: pass model=<fresh unpruned model>")
    module_name, _, qualname = payload["model_class"].partition(":")
    try:
        cls = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError) as exc:
        raise SaveFormatError(f"the saved model class {payload['model_class']} cannot be imported ({exc}); "
                              "pass model=<fresh unpruned model>") from None
    config = cls.config_class.from_dict(payload["original_config"])
    model = cls(config)
    if payload.get("attn_implementation") and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(payload["attn_implementation"])
    return model
