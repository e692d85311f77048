"""A per-module view of a shared model config with a few fields overridden.

Phi-3's attention reads ``self.config.num_attention_heads`` to split its fused rows, and
``self.config`` is the config shared by every layer. A plain copy would let layers differ
but would go stale when the model later changes the shared config (for example
``set_attn_implementation``); an overlay reads everything it does not override from the
live shared config.
"""
from __future__ import annotations


class ConfigOverlay:
    def __init__(self, base, **overrides):
        self.__dict__["_base"] = base
        self.__dict__["_overrides"] = dict(overrides)

    def __getattr__(self, name):
        # Dunder lookups (pickle, copy) must not fall through to a base that may not exist yet.
        if name.startswith("__") or "_base" not in self.__dict__:
            raise AttributeError(name)
        overrides = self.__dict__["_overrides"]
        if name in overrides:
            return overrides[name]
        return getattr(self.__dict__["_base"], name)

    def __setattr__(self, name, value):
        self.__dict__["_overrides"][name] = value

    @property
    def base(self):
        return self.__dict__["_base"]

    @property
    def overrides(self) -> dict:
        return dict(self.__dict__["_overrides"])

    def __repr__(self) -> str:
        return f"ConfigOverlay({type(self.base).__name__}, overrides={self.overrides})"
