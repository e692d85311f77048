"""Hugging Face decoder layouts beyond the core ones in :mod:`.hf` (see attention-map §10)."""
from __future__ import annotations

FAMILIES: tuple = ()
