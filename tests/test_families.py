"""Every family description is exercised by a zoo case; refusals by design; composite models."""
from __future__ import annotations

import pytest
import torch

import headprune
import models
from headprune.blocks import discover
from headprune.families import FAMILIES, other_release_env

# Layout variants of other releases: their classes exist here with the 5.x layout, so no zoo
# case of this release can instantiate them; `tox -e tf457` runs the suite where they apply.
OTHER_RELEASE = {f.name for f in FAMILIES if other_release_env(f)}


def _families_in_zoo() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for case in models.cases():
        blocks, refused = discover(models.build(case))
        for fam in {b.family.name for b in blocks} | {r.family.name for r in refused}:
            used.setdefault(fam, []).append(case.name)
    return used


def test_every_description_has_a_zoo_case():
    """A description no zoo case exercises is never checked by the suite: adding a class name
    that way is how Cohere's interleaved RoPE went silently wrong (issue 9)."""
    used = _families_in_zoo()
    missing = sorted(f.name for f in FAMILIES if f.name not in used and f.name not in OTHER_RELEASE)
    assert not missing, f"descriptions without a zoo case: {missing}"


def test_modes_refused_by_design_are_refused_untouched():
    for case in models.cases():
        for mode, _reason in case.refused:
            model = models.build(case)
            before = {k: v.clone() for k, v in model.state_dict().items()}
            with pytest.raises(headprune.PruningError) as err:
                headprune.prune(model, mode=mode, ratio=0.5, multiple_of=1)
            assert "layer" in str(err.value)
            assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_bare_multihead_attention_is_refused_with_the_reason():
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with pytest.raises(headprune.RefusedLayoutError, match="embed_dim // num_heads"):
        headprune.prune(mha, ratio=0.5)


def test_refused_modules_are_reported_not_pruned():
    report = headprune.prune(models.build("siglip"), ratio=0.5)
    assert dict(report.not_pruned)["head.attention"].startswith("torch.nn.MultiheadAttention")
    report = headprune.prune(models.build("timm-cait"), ratio=0.5)
    assert {n for n, _ in report.not_pruned} == {"blocks.0.attn", "blocks.1.attn"}
    assert "not pruned: blocks.0.attn: talking heads" in str(report)


def test_composite_towers_selected_and_sub_configs_synced():
    model = models.build("clip")
    top = {k: v for k, v in model.config.to_dict().items() if not isinstance(v, dict)}
    report = headprune.prune(model, ratio=0.5, modules=["vision_model"])
    assert [lr.heads_after for lr in report.layers] == [4, 4, 2, 2]  # text tower first, untouched
    assert {n for n, why in report.not_pruned if why.startswith("not selected")} == {
        "text_model.encoder.layers.0.self_attn", "text_model.encoder.layers.1.self_attn"}
    assert model.config.vision_config.num_attention_heads == 2
    assert model.config.text_config.num_attention_heads == 4
    assert {k: v for k, v in model.config.to_dict().items() if not isinstance(v, dict)} == top
    headprune.prune(model, ratio=0.5)  # every tower when not restricted
    assert model.config.text_config.num_attention_heads == 2
    assert model.config.vision_config.num_attention_heads == 1


def test_selection_errors_name_the_rule_and_touch_nothing():
    model = models.build("clip")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(headprune.RequestError, match="matches no attention block"):
        headprune.prune(model, ratio=0.5, modules=["no_such_tower"])
    with pytest.raises(headprune.RequestError, match="layer 0.*not among the blocks selected"):
        headprune.prune(model, {0: [1]}, modules="vision_model")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_t5_tied_blocks_keep_one_head_set():
    model = models.build("t5")
    with pytest.raises(headprune.TiedHeadsError, match="layer 1"):
        headprune.prune(model, {0: [0], 1: [1]})
    report = headprune.prune(model, ratio=0.5)
    kept = report.kept_heads
    assert kept[0] == kept[1] and kept[2] == kept[4] and kept[3] == kept[5]
    assert model.config.num_heads == 2


def _encoder_decoder():
    import transformers as tf

    bert = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0)
    config = tf.EncoderDecoderConfig.from_encoder_decoder_configs(
        tf.BertConfig(**bert), tf.BertConfig(**bert, is_decoder=True, add_cross_attention=True))
    return tf.EncoderDecoderModel(config=config).eval()


def _llava():
    import transformers as tf

    vision = tf.CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=4, intermediate_size=37)
    text = tf.LlamaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, intermediate_size=37, head_dim=8, pad_token_id=0)
    return tf.LlavaForConditionalGeneration(tf.LlavaConfig(vision_config=vision, text_config=text,
                                                           image_token_index=98)).eval()


def _own_fields(config) -> dict:
    return {k: v for k, v in config.to_dict().items() if not isinstance(v, dict)}


def test_encoder_decoder_syncs_the_encoder_and_decoder_configs():
    torch.manual_seed(0)
    model = _encoder_decoder()
    top = _own_fields(model.config)
    report = headprune.prune(model, ratio=0.5, modules=["encoder"], multiple_of=1)
    assert [lr.heads_after for lr in report.layers] == [2, 2, 4, 4, 4, 4]
    assert model.config.encoder.num_attention_heads == 2 and model.config.decoder.num_attention_heads == 4
    assert "num_attention_heads" not in _own_fields(model.config)
    headprune.prune(model, ratio=0.5, multiple_of=1)  # every tower: decoder self- and cross-attention too
    assert model.config.decoder.num_attention_heads == 2
    assert {k: v for k, v in _own_fields(model.config).items() if k in top} == top
    ids = torch.randint(1, 99, (2, 5))
    assert model(input_ids=ids, decoder_input_ids=ids).logits.shape == (2, 5, 99)


def test_llava_prunes_both_towers_into_their_sub_configs():
    torch.manual_seed(0)
    model = _llava()
    report = headprune.prune(model, ratio=0.5, multiple_of=1)
    assert [lr.name.split(".")[1] for lr in report.layers] == ["vision_tower"] * 2 + ["language_model"] * 2
    assert all(lr.heads_after == 2 for lr in report.layers)
    cfg = model.config
    assert (cfg.vision_config.num_attention_heads, cfg.text_config.num_attention_heads,
            cfg.text_config.num_key_value_heads) == (2, 2, 2)
    assert not {"num_attention_heads", "num_key_value_heads", "head_dim"} & set(_own_fields(cfg))
