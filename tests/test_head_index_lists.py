"""Model-level [layer, head] lists follow the heads they name: Whisper's alignment heads (the
cross-attention heads whose weights give word timestamps) are dropped or renumbered with the
pruned cross-attention heads, never left pointing at other heads, and survive save/load."""
from __future__ import annotations

import copy

import headprune
import models

ALIGNMENT = [[0, 0], [0, 3], [1, 1], [1, 2]]


def _cross_attention_layer(model, decoder_layer: int) -> int:
    return next(b.layer for b in headprune.attention_blocks(model)
                if b.name.endswith(f"decoder.layers.{decoder_layer}.encoder_attn"))


def test_alignment_heads_follow_the_cross_attention_heads(tmp_path):
    model = models.build("whisper")
    model.generation_config.alignment_heads = ALIGNMENT
    before = copy.deepcopy(ALIGNMENT)
    headprune.prune(model, {_cross_attention_layer(model, 0): [0, 1]})
    assert model.generation_config.alignment_heads == [[0, 1], [1, 1], [1, 2]]  # head 3 of 4 is now 1 of 2
    assert ALIGNMENT == before  # the caller's list is not edited in place
    headprune.prune(model, {_cross_attention_layer(model, 1): [1]})
    assert model.generation_config.alignment_heads == [[0, 1], [1, 1]]
    headprune.save(model, tmp_path)
    assert headprune.load(tmp_path).generation_config.alignment_heads == [[0, 1], [1, 1]]


def test_self_attention_and_other_layers_leave_alignment_heads_alone():
    model = models.build("whisper")
    model.generation_config.alignment_heads = ALIGNMENT
    self_attn = next(b.layer for b in headprune.attention_blocks(model) if b.name.endswith("decoder.layers.0.self_attn"))
    headprune.prune(model, {self_attn: [0, 3]})
    assert model.generation_config.alignment_heads == ALIGNMENT
