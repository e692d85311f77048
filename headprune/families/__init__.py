"""Declarative descriptions of every attention layout headprune understands."""
from __future__ import annotations

import re

from . import hf, hf_decoders, hf_other, timm
from .spec import Aligned, Attr, ConfigField, Family, PerHead, Requires, Rope

FAMILIES: tuple[Family, ...] = hf.FAMILIES + hf_decoders.FAMILIES + hf_other.FAMILIES + timm.FAMILIES

_BY_CLASS: dict[str, list[Family]] = {}
for _fam in FAMILIES:
    for _cls in _fam.classes:
        _BY_CLASS.setdefault(_cls, []).append(_fam)


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def candidates(module) -> list[Family]:
    """Descriptions written for this module's class (or its nearest described base class).

    A class can have several: its layout changed between releases (transformers 4.57 and 5.x
    share class names but not attribute layouts)."""
    for cls in type(module).__mro__:
        fams = _BY_CLASS.get(qualified_name(cls))
        if fams:
            return fams
    return []


def fits(family: Family, module, name: str = "") -> bool:
    """The module sits where the description applies and has every projection, head-width
    attribute, mirrored attribute and required part the description names."""
    from ..blocks import is_projection, resolve

    if family.where is not None and not re.search(family.where, name):
        return False
    if family.refuse is not None:
        return True
    if _unmet(family, module) or any(resolve(module, p) is None for p in family.parts):
        return False
    for path in (family.q, family.k, family.v, family.qkv, family.o):
        if path is not None and not is_projection(resolve(module, path), family.transposed):
            return False
    paths = [a.path for a in family.attrs] + ([family.head_dim_attr] if family.head_dim_attr else [])
    if family.rope is not None and family.rope.rotary_dim_attr:
        paths.append(family.rope.rotary_dim_attr)
    return all(resolve(module, p) is not None for p in paths) and _rewrites_apply(family, type(module))


_REWRITES_APPLY: dict[tuple, bool] = {}


def _rewrites_apply(family: Family, cls: type) -> bool:
    """The installed source of the rewritten methods contains every text the description rewrites
    (CLIP's 4.x output reshape is what tells its 4.x layout from the 5.x one). A class headprune
    already rewrote fits as it is."""
    if not family.forward_rewrites or getattr(cls, "_headprune_rewritten", False):
        return True
    key = (cls, family.forward_rewrites, family.rewritten_methods)
    if key not in _REWRITES_APPLY:
        try:
            sources = method_sources(cls, family.rewritten_methods).values()
        except (OSError, TypeError, AttributeError):
            sources = []
        _REWRITES_APPLY[key] = bool(sources) and all(any(old in s for s in sources)
                                                     for old, _ in family.forward_rewrites)
    return _REWRITES_APPLY[key]


def method_sources(cls: type, methods: tuple[str, ...]) -> dict[str, str]:
    """The installed, dedented source of each method (what forward rewrites are matched against
    and applied to); OSError/TypeError when the source is not available."""
    import inspect
    import textwrap

    return {m: textwrap.dedent(inspect.getsource(getattr(cls, m))) for m in methods}


def _unmet(family: Family, module) -> list[str]:
    """The ``requires`` conditions of ``family`` that ``module`` does not meet, described."""
    from .spec import _get

    out = []
    for req in family.requires:
        got = _get(module, req.path)
        if got != req.value:
            out.append(f"{family.name} needs {req.path} == {req.value!r}, found {got!r}"
                       + (f" ({req.why})" if req.why else ""))
    return out


def family_of(module, name: str = "") -> Family | None:
    """The description that fits this module, or None if its class is not described at all.

    Raises LookupError when the class is described but none of its layouts fits: the model
    comes from a release whose layout nobody has described yet."""
    fams = candidates(module)
    for fam in fams:
        if fits(fam, module, name):
            return fam
    if fams:
        unmet = [u for fam in fams for u in _unmet(fam, module)]
        raise LookupError(f"{qualified_name(type(module))} is described ({', '.join(f.name for f in fams)}) but "
                          "none of those layouts fits this module" + (": " + "; ".join(unmet) if unmet else ""))
    return None


# Descriptions of other releases' layouts of the same classes, by the suffix of their names, and
# the tox environment whose zoo cases exercise them (the pinned releases cannot build them).
OTHER_RELEASES = {"-4.x": ("transformers", "5", "tf457"), "-timm1.0.15": ("timm", "1.0.16", "timm1015")}


def other_release_env(family: Family) -> str | None:
    """The tox environment that exercises this description, when it describes a layout that the
    installed release of its package no longer has (None: the installed release has it)."""
    from packaging.version import Version
    from importlib.metadata import version

    for suffix, (package, newer_than, env) in OTHER_RELEASES.items():
        if family.name.endswith(suffix):
            try:
                return env if Version(version(package)) >= Version(newer_than) else None
            except Exception:  # noqa: BLE001 - the package is not installed: nothing can exercise it here
                return env
    return None


def by_name(name: str) -> Family:
    for fam in FAMILIES:
        if fam.name == name:
            return fam
    raise KeyError(f"unknown family {name!r}; known: {[f.name for f in FAMILIES]}")


__all__ = ["Aligned", "Attr", "ConfigField", "Family", "PerHead", "Requires", "Rope", "FAMILIES", "family_of", "by_name",
           "qualified_name"]
