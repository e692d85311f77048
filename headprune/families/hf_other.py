"""Hugging Face encoder, vision, multimodal and sequence-to-sequence layouts beyond :mod:`.hf`
(see attention-map §10)."""
from __future__ import annotations

FAMILIES: tuple = ()
