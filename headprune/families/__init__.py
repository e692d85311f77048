"""Declarative descriptions of every attention layout headprune understands."""
from __future__ import annotations

from . import hf, timm
from .spec import Attr, ConfigField, Family, Rope

FAMILIES: tuple[Family, ...] = hf.FAMILIES + timm.FAMILIES

_BY_CLASS = {cls: fam for fam in FAMILIES for cls in fam.classes}


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def family_of(module) -> Family | None:
    """The description for this module's class (or a base class), if any."""
    for cls in type(module).__mro__:
        fam = _BY_CLASS.get(qualified_name(cls))
        if fam is not None:
            return fam
    return None


def by_name(name: str) -> Family:
    for fam in FAMILIES:
        if fam.name == name:
            return fam
    raise KeyError(f"unknown family {name!r}; known: {[f.name for f in FAMILIES]}")


__all__ = ["Attr", "ConfigField", "Family", "Rope", "FAMILIES", "family_of", "by_name", "qualified_name"]
