"""Finding a pruner by name: an entry point in ``headprune.pruners``, or ``module:attribute``."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "headprune.pruners"
BUILTIN = {"headprune": "headprune.contract:reference", "reference": "headprune.contract:reference",
           # adapters of third-party pruners (optional extras; each needs its library to load)
           "torch-pruning": "headprune.adapters.torch_pruning:PRUNER",
           "hf-prune-heads": "headprune.adapters.hf_prune_heads:PRUNER"}


class PrunerNotFound(LookupError):
    pass


def available() -> dict[str, str]:
    """Names that ``find`` accepts, with what they point at."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.value
    return dict(sorted(found.items()))


def _load_target(target: str):
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def find(name: str):
    """The pruner called ``name``; a class or factory is called once with no arguments."""
    if ":" in name:
        target = name
    else:
        target = available().get(name)
        if target is None:
            raise PrunerNotFound(f"no pruner named {name!r}; available: {sorted(available())} "
                                 f"(or pass module:attribute)")
    try:
        obj = _load_target(target)
    except (ImportError, AttributeError) as exc:
        raise PrunerNotFound(f"cannot load pruner {target!r}: {exc}") from exc
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "prune")):
        obj = obj()  # a class or a factory
    missing = [a for a in ("name", "version", "capabilities", "prune") if not hasattr(obj, a)]
    if missing:
        raise PrunerNotFound(f"{target!r} is not a pruner: it lacks {missing} (see headprune.contract)")
    return obj
