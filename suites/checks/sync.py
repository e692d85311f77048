"""Attribute sync: every mirror of the head layout agrees with the weights."""
from __future__ import annotations

import headprune
from headprune.blocks import config_of, resolve
from headprune.surgery import rotary_table_width, rotary_tables

from .base import Trial, check, fail_unless


def _expected(block, s) -> dict:
    h, kv, d = s.num_heads, s.num_kv_heads, s.head_dim
    out = {"heads": h, "kv_heads": kv, "head_dim": d, "groups": h // kv, "q_width": h * d}
    r0 = block.rotary_dim
    if r0 is not None:
        r = sum(1 for i in s.q[0].dims if i < r0)
        out.update(rotary_dim=r, rotary_fraction=r / d)
    return out


def _read(config, field):
    if field.name == "head_dim" and field.locate(config) is None:
        # transformers' convention when the field is absent: getattr(config, "head_dim", hidden // heads)
        return config.hidden_size // config.num_attention_heads
    return field.read(config)


@check()
def check_attribute_sync(trial: Trial) -> None:
    """Module attributes, private config copies, rotary tables and the model config agree with the weights."""
    pruned = trial.pruned
    originals = headprune.attention_blocks(trial.original)
    blocks = headprune.attention_blocks(pruned)
    fields: dict = {}
    for orig, block, s in zip(originals, blocks, trial.survivors):
        want = _expected(orig, s)
        where = f"layer {block.layer} ({block.name})"
        for attr in block.family.attrs:
            if attr.value == "scaling":
                continue  # the scale is judged by the numbers, not by the attribute
            got = resolve(block.module, attr.path)
            fail_unless(got == want[attr.value], f"{where}: {attr.path} = {got}, the weights say {want[attr.value]}")
        for field in block.family.private_config:
            got = _read(block.module.config, field)
            fail_unless(got == want[field.value], f"{where}: its config.{field.name} = {got}, the weights say "
                        f"{want[field.value]}")
        config = config_of(pruned, block)  # the config this block's tower reads
        for field in block.family.config_fields:
            if config is not None:
                key = (id(config), field, block.stage if field.per_stage else None)
                fields.setdefault(key, (config, set()))[1].add(want[field.value])
    for (_, field, stage), (config, values) in sorted(fields.items(), key=lambda kv: (kv[0][1].name, kv[0][2] or 0)):
        if len(values) != 1:
            continue  # layers differ: no single config value can describe them
        got = _read(config, field)
        if stage is not None:
            got = got[stage]
        want = values.pop()
        label = f"config.{field.name}" + (f"[{stage}]" if stage is not None else "")
        fail_unless(got == want, f"{label} = {got}, but every block has {want}")
    _check_composite_top_level(trial.original, pruned, {id(c) for _, (c, _) in fields.items()})
    rope = [(o, s) for o, s in zip(originals, trial.survivors) if o.rotary_dim is not None]
    if rope:
        kept = _expected(*rope[0])["rotary_dim"]
        for module, name in rotary_tables(pruned):
            table, want = getattr(module, name), rotary_table_width(module, name, kept)
            fail_unless(table.shape[-1] == want, f"{type(module).__name__}.{name} has {table.shape[-1]} entries on "
                        f"its last axis, the {kept} kept rotary dims need {want}")


def _check_composite_top_level(original, pruned, routed: set[int]) -> None:
    """A composite's own config (LLaVA's, CLIP's), read by no block, gains or changes no field of
    its own: each tower's counts belong in the sub-config it reads."""
    config = getattr(pruned, "config", None)
    if config is None or id(config) in routed or not hasattr(config, "to_dict"):
        return
    before, after = original.config.to_dict(), config.to_dict()
    own = sorted(k for k in set(before) | set(after)
                 if not isinstance(before.get(k, after.get(k)), dict) and before.get(k) != after.get(k))
    fail_unless(not own, f"the composite config {type(config).__name__} changed its own fields {own}; "
                "tower counts belong in the sub-config each tower reads")
