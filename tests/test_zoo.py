"""Tests for the tiny random model zoo (models/).

Metadata on each Case is checked against the weights of the built model, read
independently of the registry (attention module paths from
docs/attention-map.md section 1).
"""

from __future__ import annotations


import sys

import pytest
import torch

import models
from models import registry

ALL_NAMES = models.case_names()
OTHER = sorted(c.name for c in registry._OTHER_CASES)  # encoders, vision, multimodal, seq2seq: generic tests below
NAMES = [n for n in ALL_NAMES if n not in OTHER]   # the hand-read core layouts
GENERATIVE = [n for n in NAMES if models.get_case(n).generative]
TEXT = [n for n in NAMES if models.get_case(n).modality == "text"]
VISION = [n for n in NAMES if models.get_case(n).modality == "vision"]
SWIN = [c.name for c in models.cases() if c.family in ("swin", "timm-swin")]

EXPECTED_NAMES = sorted([
    "vit", "deit", "swin", "bert", "llama", "llama-gqa", "llama-mqa", "phi", "phi3",
    "phi3-gqa", "qwen2", "qwen3", "timm-vit", "timm-deit", "timm-swin",
    # decoders beyond the core
    "gpt2", "gpt-neox", "opt", "falcon", "falcon-mqa", "falcon-mha", "mistral", "mixtral", "gemma",
    "gemma2", "gemma3", "qwen2-moe", "qwen3-moe", "cohere", "cohere-qknorm", "stablelm", "stablelm-qknorm",
    # encoders, vision, multimodal, seq2seq, more timm
    "roberta", "electra", "distilbert", "albert", "deberta-v2", "modernbert", "dinov2", "beit", "clip",
    "siglip", "whisper", "t5", "timm-eva", "timm-beit", "timm-cait", "timm-convit",
])
if int(registry.hf.tf.__version__.split(".")[0]) < 5:
    EXPECTED_NAMES = [n for n in EXPECTED_NAMES if n not in registry._TRANSFORMERS_5_ONLY]
CAUSAL_FAMILIES = {"llama", "phi", "phi3", "qwen2", "qwen3", "gpt2", "gpt-neox", "opt", "falcon", "mistral",
                   "mixtral", "gemma", "gemma2", "gemma3", "qwen2-moe", "qwen3-moe", "cohere", "stablelm"}
LLAMA_LIKE = {"llama", "qwen2", "qwen3", "phi", "mistral", "mixtral", "gemma", "gemma2", "gemma3", "qwen2-moe",
              "qwen3-moe", "cohere", "stablelm"}


# ----------------------------------------------------------------- helpers


def _rows(linear):
    return linear.out_features


def _block_info(case, model):
    """One dict per attention block, in module order, read from the weights."""
    fam, out = case.family, []
    if fam in ("vit", "deit"):
        for layer in getattr(model, fam).layers:
            a = layer.attention
            out.append(dict(q=_rows(a.q_proj), k=_rows(a.k_proj), v=_rows(a.v_proj),
                            o=a.o_proj.in_features, bias=a.q_proj.bias is not None,
                            heads_attr=a.num_attention_heads, d_attr=a.head_dim, fused=False))
    elif fam == "swin":
        for stage in model.swin.encoder.layers:
            for blk in stage.blocks:
                a = blk.attention
                out.append(dict(q=_rows(a.q_proj), k=_rows(a.k_proj), v=_rows(a.v_proj),
                                o=a.o_proj.in_features, bias=a.q_proj.bias is not None,
                                heads_attr=a.num_attention_heads, d_attr=a.head_dim, fused=False,
                                table=a.relative_position_bias.relative_position_bias_table.shape[1]))
    elif fam == "bert":
        for layer in model.bert.encoder.layer:
            s = layer.attention.self
            out.append(dict(q=_rows(s.query), k=_rows(s.key), v=_rows(s.value),
                            o=layer.attention.output.dense.in_features, bias=s.query.bias is not None,
                            heads_attr=s.num_attention_heads, d_attr=s.attention_head_size, fused=False))
    elif fam in LLAMA_LIKE:
        for layer in model.model.layers:
            a = layer.self_attn
            o = a.dense if fam == "phi" else a.o_proj
            out.append(dict(q=_rows(a.q_proj), k=_rows(a.k_proj), v=_rows(a.v_proj),
                            o=o.in_features, bias=a.q_proj.bias is not None, d_attr=a.head_dim,
                            groups_attr=a.num_key_value_groups, fused=False))
    elif fam == "phi3":
        for layer in model.model.layers:
            a = layer.self_attn
            hq = a.o_proj.in_features  # H*d
            kv_rows = (_rows(a.qkv_proj) - hq) // 2
            assert hq + 2 * kv_rows == _rows(a.qkv_proj)
            out.append(dict(q=hq, k=kv_rows, v=kv_rows, o=a.o_proj.in_features,
                            bias=a.qkv_proj.bias is not None, d_attr=a.head_dim,
                            groups_attr=a.num_key_value_groups, kv_attr=a.num_key_value_heads,
                            heads_attr=a.config.num_attention_heads, fused=True))
    elif fam == "gpt2":  # Conv1D: weight [in, out]
        for blk in model.transformer.h:
            a = blk.attn
            assert type(a.c_attn).__name__ == "Conv1D" and a.c_attn.weight.shape[1] % 3 == 0
            third = a.c_attn.weight.shape[1] // 3
            out.append(dict(q=third, k=third, v=third, o=a.c_proj.weight.shape[0], bias=a.c_attn.bias is not None,
                            heads_attr=a.num_heads, d_attr=a.head_dim, fused=True))
    elif fam in ("gpt-neox", "falcon"):
        for layer in (model.gpt_neox.layers if fam == "gpt-neox" else model.transformer.h):
            a = layer.attention if fam == "gpt-neox" else layer.self_attention
            hq = a.dense.in_features
            kv_rows = (_rows(a.query_key_value) - hq) // 2
            out.append(dict(q=hq, k=kv_rows, v=kv_rows, o=hq, bias=a.query_key_value.bias is not None,
                            d_attr=a.head_size if fam == "gpt-neox" else a.head_dim, fused=True))
    elif fam == "opt":
        for layer in model.model.decoder.layers:
            a = layer.self_attn
            out.append(dict(q=_rows(a.q_proj), k=_rows(a.k_proj), v=_rows(a.v_proj), o=a.out_proj.in_features,
                            bias=a.q_proj.bias is not None, heads_attr=a.num_heads, d_attr=a.head_dim, fused=False))
    elif fam in ("timm-vit", "timm-deit"):
        for blk in model.blocks:
            a = blk.attn
            assert _rows(a.qkv) % 3 == 0
            third = _rows(a.qkv) // 3
            out.append(dict(q=third, k=third, v=third, o=a.proj.in_features,
                            bias=a.qkv.bias is not None, heads_attr=a.num_heads, d_attr=a.head_dim,
                            fused=True, qk_norm=not isinstance(a.q_norm, torch.nn.Identity)))
    elif fam == "timm-swin":
        for stage in model.layers:
            for blk in stage.blocks:
                a = blk.attn
                third = _rows(a.qkv) // 3
                assert 3 * third == _rows(a.qkv)
                out.append(dict(q=third, k=third, v=third, o=a.proj.in_features,
                                bias=a.qkv.bias is not None, heads_attr=a.num_heads,
                                d_attr=round(a.scale ** -2), fused=True,  # no head_dim attr
                                table=a.relative_position_bias_table.shape[1]))
    else:  # pragma: no cover
        raise AssertionError(f"no block reader for family {fam}")
    return out


def _has_sdpa(case) -> bool:
    """Whether the case runs on sdpa; the one that cannot (Gemma2, no sdpa path in 5.24) must refuse it."""
    if "sdpa" in models.available_backends(case):
        return True
    assert case.family == "gemma2", f"{case.name} lost its sdpa backend"
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        models.build(case, "sdpa")
    return False


def _forward(case, model, inputs):
    with torch.no_grad():
        return models.logits(case, model, inputs)


# ---------------------------------------------------------------- registry


def test_case_names_and_order():
    assert ALL_NAMES == EXPECTED_NAMES
    assert [c.name for c in models.cases()] == ALL_NAMES
    assert models.case_names() == ALL_NAMES  # deterministic
    assert all(models.get_case(n).name == n for n in ALL_NAMES)


def test_get_case_unknown_lists_names():
    with pytest.raises(KeyError) as err:
        models.get_case("no-such-model")
    assert "llama-gqa" in str(err.value) and "timm-swin" in str(err.value)


def test_bad_backend_names():
    with pytest.raises(ValueError):
        models.build("llama", attn_implementation="flash_attention_2")
    m = models.build("timm-vit")
    with pytest.raises(ValueError):
        models.set_attention_backend(m, "flex")
    with pytest.raises(ValueError):
        models.set_attention_backend(models.build("bert"), "Eager")


@pytest.mark.parametrize("name", NAMES)
def test_case_fields(name):
    c = models.get_case(name)
    assert c.source in ("hf", "timm") and c.modality in ("text", "vision")
    assert c.source == ("timm" if c.family.startswith("timm-") else "hf")
    assert c.num_layers == len(c.num_heads) == len(c.num_kv_heads)
    assert isinstance(c.num_heads, tuple) and isinstance(c.tags, frozenset)
    assert c.tags <= registry.TAGS
    assert c.generative == (c.family in CAUSAL_FAMILIES)
    if c.modality == "text":
        assert c.inputs.padding_side == ("left" if c.generative else "right")


# ------------------------------------------------------------------- build


@pytest.mark.parametrize("name", NAMES)
def test_build_eval_fp32_cpu(name):
    m = models.build(name)
    assert isinstance(m, torch.nn.Module)
    assert not m.training and all(not mod.training for mod in m.modules())
    for p in list(m.parameters()) + list(m.buffers()):
        if p.is_floating_point():
            assert p.dtype == torch.float32
        assert p.device.type == "cpu"


@pytest.mark.parametrize("name", NAMES)
def test_build_returns_independent_copies(name):
    a, b = models.build(name), models.build(name)
    assert a is not b
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    ptrs_b = {t.data_ptr() for t in sb.values() if t.numel()}
    for k, t in sa.items():
        assert torch.equal(t, sb[k]), k
        if t.numel():
            assert t.data_ptr() not in ptrs_b, f"{k} shares storage"
    before = {k: v.clone() for k, v in sb.items()}
    with torch.no_grad():
        for p in a.parameters():
            p.add_(1.0)
    c = models.build(name)
    for k, v in before.items():
        assert torch.equal(b.state_dict()[k], v), k
        assert torch.equal(c.state_dict()[k], v), k
    if models.get_case(name).source == "hf":
        assert a.config is not b.config


@pytest.mark.parametrize("name", NAMES)
def test_prototype_is_seeded_and_rng_untouched(name):
    c = models.get_case(name)
    torch.manual_seed(1234)
    expected_next = torch.rand(3)
    torch.manual_seed(1234)
    m1 = registry._build_uncached(c)
    assert torch.equal(torch.rand(3), expected_next), "building disturbed the caller's RNG"
    m2 = models.build(c)
    for (k, v), (k2, v2) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k



# ---------------------------------------------------------------- backends


@pytest.mark.parametrize("name", NAMES)
def test_backend_switch(name):
    c = models.get_case(name)
    if not _has_sdpa(c):
        assert models.build(c).config._attn_implementation == "eager"
        return
    for backend in ("sdpa", "eager", "sdpa"):
        m = models.build(c, attn_implementation=backend)
        if c.source == "hf":
            assert m.config._attn_implementation == backend
        else:
            flags = [mod.fused_attn for mod in m.modules() if hasattr(mod, "fused_attn")]
            assert len(flags) == c.num_layers
            assert all(f == (backend == "sdpa") for f in flags)
        other = "eager" if backend == "sdpa" else "sdpa"
        models.set_attention_backend(m, other)
        if c.source == "hf":
            assert m.config._attn_implementation == other
        else:
            assert all(mod.fused_attn == (other == "sdpa") for mod in m.modules() if hasattr(mod, "fused_attn"))
    # switching a copy never leaks into the prototype
    assert models.build(c) is not None
    if c.source == "hf":
        assert models.build(c).config._attn_implementation == "eager"


# ---------------------------------------------------------------- metadata


@pytest.mark.parametrize("name", NAMES)
def test_metadata_matches_weights(name):
    c = models.get_case(name)
    m = models.build(c)
    blocks = _block_info(c, m)
    d = c.head_dim
    assert len(blocks) == c.num_layers
    for i, (b, h, kv) in enumerate(zip(blocks, c.num_heads, c.num_kv_heads)):
        assert b["q"] == h * d, (i, b)
        assert b["k"] == b["v"] == kv * d, (i, b)
        assert b["o"] == h * d, (i, b)
        assert h % kv == 0
        if "d_attr" in b:
            assert b["d_attr"] == d
        if "heads_attr" in b:
            assert b["heads_attr"] == h
        if "groups_attr" in b:
            assert b["groups_attr"] == h // kv
        if "kv_attr" in b:
            assert b["kv_attr"] == kv
        if "table" in b:
            assert b["table"] == h
    if c.source == "hf" and c.modality == "text":
        if c.generative:
            assert m.config.num_attention_heads == c.num_heads[0]
            kv_field = next((f for f in ("num_key_value_heads", "num_kv_heads") if hasattr(m.config, f)), None)
            if kv_field is not None and not getattr(m.config, "multi_query", False):  # Falcon MQA: 1 kv head
                assert getattr(m.config, kv_field) == c.num_kv_heads[0]


@pytest.mark.parametrize("name", NAMES)
def test_tags_match_model(name):
    c = models.get_case(name)
    m = models.build(c)
    blocks = _block_info(c, m)
    t = c.tags
    assert ("gqa" in t) == any(kv < h for h, kv in zip(c.num_heads, c.num_kv_heads))
    assert ("mqa" in t) == any(kv == 1 < h for h, kv in zip(c.num_heads, c.num_kv_heads))
    assert ("fused_qkv" in t) == all(b["fused"] for b in blocks)
    assert ("qkv_bias" in t) == all(b["bias"] for b in blocks)
    assert ("rel_pos_bias" in t) == all("table" in b for b in blocks)
    # distillation token + second head
    if c.source == "hf":
        distilled = hasattr(m, "distillation_classifier")
    else:
        distilled = getattr(m, "dist_token", None) is not None and hasattr(m, "head_dist")
    assert ("distilled" in t) == distilled
    # rope / partial rotary / qk norm
    rotary = [mod for n, mod in m.named_modules() if n.endswith("rotary_emb")]
    has_rope = c.source == "hf" and bool(rotary)
    assert ("rope" in t) == has_rope
    if has_rope:
        rp = m.config.rope_parameters
        per_type = "rope_type" not in rp  # Gemma3: one table per layer type
        for params in (rp.values() if per_type else [rp]):
            assert params["rope_type"] == "default" and params["rope_theta"] in (10000.0, 1e6)
        factor = 1.0 if per_type else rp.get("partial_rotary_factor", 1.0)
        assert ("partial_rotary" in t) == (factor < 1.0)
        assert c.rotary == int(c.head_dim * factor)
        tables = [buf for mod in rotary for n, buf in mod.named_buffers() if n.endswith("inv_freq")]
        assert tables and all(buf.numel() * 2 == c.rotary for buf in tables)
        if c.family == "phi":
            assert m.model.layers[0].self_attn.rotary_ndims == c.head_dim // 2
        # the modeling file's rotate_half tells the pairing: (i, i + r/2) or interleaved (2i, 2i + 1)
        rotate_half = sys.modules[type(m).__module__].rotate_half
        interleaved = torch.equal(rotate_half(torch.arange(4.0)), torch.tensor([-1.0, 0.0, -3.0, 2.0]))
        assert ("rope_interleaved" in t) == interleaved
    else:
        assert "partial_rotary" not in t and "rope_interleaved" not in t
    cfg = getattr(m, "config", None)
    assert ("conv1d" in t) == any(type(mod).__name__ == "Conv1D" for mod in m.modules())
    new_arch, multi_query = getattr(cfg, "new_decoder_architecture", False), getattr(cfg, "multi_query", False)
    assert ("qkv_grouped" in t) == (c.family == "falcon" and new_arch)
    assert ("qkv_per_head" in t) == (c.family == "gpt-neox" or (c.family == "falcon" and not new_arch
                                                                 and not multi_query))
    assert ("softcap" in t) == bool(getattr(cfg, "attn_logit_softcapping", None))
    window = getattr(cfg, "sliding_window", None) if getattr(cfg, "use_sliding_window", True) else None
    assert ("sliding_window" in t) == bool(window)
    if window:
        assert window < 7, "the window must be shorter than the test inputs to matter"
    assert ("moe" in t) == any("experts" in n for n, _ in m.named_modules())
    per_head_norm = any(getattr(getattr(mod, "q_norm", None), "weight", torch.empty(0)).dim() == 2
                        or hasattr(getattr(mod, "q_layernorm", None), "norms") for mod in m.modules())
    assert ("per_head_norm" in t) == per_head_norm
    qk_norm = False
    for mod in m.modules():
        for attr in ("q_norm", "k_norm", "q_layernorm", "k_layernorm"):
            sub = getattr(mod, attr, None)
            if isinstance(sub, torch.nn.Module) and not isinstance(sub, torch.nn.Identity):
                qk_norm = True
    assert ("qk_norm" in t) == qk_norm


@pytest.mark.parametrize("name", NAMES)
def test_config_is_tiny_and_matches_inputs(name):
    c = models.get_case(name)
    m = models.build(c)
    assert sum(p.numel() for p in m.parameters()) < 200_000
    if c.source == "hf":
        cfg = m.config
        for attr in ("hidden_dropout_prob", "attention_probs_dropout_prob", "attention_dropout",
                     "resid_pdrop", "embd_pdrop", "drop_path_rate", "classifier_dropout"):
            v = getattr(cfg, attr, None)
            assert v in (None, 0, 0.0), (attr, v)
        if c.modality == "text":
            assert cfg.vocab_size == c.inputs.vocab_size
            assert cfg.pad_token_id == c.inputs.pad_token_id < cfg.vocab_size
            assert cfg.max_position_embeddings == 64
            assert cfg.num_hidden_layers == c.num_layers
            if c.generative:
                assert 0 <= cfg.bos_token_id < cfg.vocab_size and 0 <= cfg.eos_token_id < cfg.vocab_size
        else:
            assert cfg.image_size == c.inputs.image_size
    else:
        assert tuple(m.patch_embed.img_size) == (c.inputs.image_size,) * 2
        assert all(mod.p == 0 for mod in m.modules() if isinstance(mod, torch.nn.Dropout))


@pytest.mark.parametrize("name", SWIN)
def test_swin_shifted_windows_in_every_stage(name):
    c = models.get_case(name)
    m = models.build(c)
    _forward(c, m, c.make_inputs())  # HF decides shift/window at forward time
    stages = m.swin.encoder.layers if c.source == "hf" else m.layers
    assert len(stages) == 2
    n_blocks = 0
    for stage in stages:
        for j, blk in enumerate(stage.blocks):
            n_blocks += 1
            shift = blk.shift_size
            window = blk.window_size
            shift = shift[0] if isinstance(shift, tuple) else shift
            window = window[0] if isinstance(window, tuple) else window
            assert window == 4
            assert shift == (0 if j % 2 == 0 else 2), (j, shift)
    assert n_blocks == c.num_layers


# ------------------------------------------------------------------ inputs


@pytest.mark.parametrize("name", NAMES)
def test_make_inputs_deterministic(name):
    c = models.get_case(name)
    a, b, other = c.make_inputs(seed=3), c.make_inputs(seed=3), c.make_inputs(seed=4)
    assert a.keys() == b.keys() == other.keys()
    for k in a:
        assert torch.equal(a[k], b[k])
    key = "pixel_values" if c.modality == "vision" else "input_ids"
    assert not torch.equal(a[key], other[key])
    if c.modality == "vision":
        s = c.inputs.image_size
        x = c.make_inputs(batch=3, seq_len=99, pad=5)
        assert set(x) == {"pixel_values"}
        assert x["pixel_values"].shape == (3, 3, s, s) and x["pixel_values"].dtype == torch.float32


@pytest.mark.parametrize("name", TEXT)
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_make_inputs_padding(name, pad):
    c = models.get_case(name)
    batch, seq = 3, 7
    x = c.make_inputs(batch=batch, seq_len=seq, pad=pad)
    ids, mask = x["input_ids"], x["attention_mask"]
    assert ids.dtype == torch.int64 and ids.shape == mask.shape == (batch, seq)
    assert set(x) == ({"input_ids", "attention_mask", "token_type_ids"} if c.family == "bert"
                      else {"input_ids", "attention_mask"})
    if "token_type_ids" in x:
        assert torch.equal(x["token_type_ids"], torch.zeros(batch, seq, dtype=torch.int64))
    assert torch.all(mask[:-1] == 1)
    real = mask.bool()
    assert torch.all(ids[real] >= 1) and torch.all(ids[real] < c.inputs.vocab_size)
    assert torch.all(ids[real] != c.inputs.pad_token_id)
    assert torch.all(ids[~real] == c.inputs.pad_token_id)
    last = mask[-1]
    assert int((last == 0).sum()) == pad
    if pad:
        if c.generative:  # left padding
            assert torch.all(last[:pad] == 0) and torch.all(last[pad:] == 1)
        else:  # right padding
            assert torch.all(last[-pad:] == 0) and torch.all(last[:-pad] == 1)


def test_make_inputs_rejects_all_padding():
    with pytest.raises(ValueError):
        models.get_case("llama").make_inputs(seq_len=4, pad=4)


# ----------------------------------------------------------------- forward


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pad", [0, 2])
def test_eager_matches_sdpa(name, pad):
    c = models.get_case(name)
    x = c.make_inputs(pad=pad)
    if not _has_sdpa(c):
        return
    eager = _forward(c, models.build(c, "eager"), x)
    sdpa = _forward(c, models.build(c, "sdpa"), x)
    assert eager.shape == sdpa.shape and eager.shape[0] == 2
    assert torch.isfinite(eager).all() and torch.isfinite(sdpa).all()
    if c.generative:
        assert eager.shape == (2, 7, c.inputs.vocab_size)
        # logits at padding positions are undefined (fully masked query rows)
        keep = x["attention_mask"].bool()
        eager, sdpa = eager[keep], sdpa[keep]
    else:
        assert eager.shape == (2, 3)
    assert (eager - sdpa).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", TEXT)
def test_padding_does_not_change_real_tokens(name):
    """The padded last row gives the same logits as the same tokens unpadded."""
    c = models.get_case(name)
    pad = 2
    x = c.make_inputs(batch=2, seq_len=7, pad=pad)
    if c.generative:  # as generate() does; GPT-2's learned absolute positions need it under left padding
        x["position_ids"] = (x["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    real = x["attention_mask"][-1].bool()
    single = {k: v[-1:, real] for k, v in x.items()}
    for backend in models.available_backends(c):
        m = models.build(c, backend)
        full = _forward(c, m, x)[-1:]
        alone = _forward(c, m, single)
        if c.generative:
            full = full[:, real]
        assert (full - alone).abs().max().item() <= 1e-5, backend


@pytest.mark.parametrize("name", GENERATIVE)
@pytest.mark.parametrize("backend", ["eager", "sdpa"])
def test_generate_left_padded(name, backend):
    c = models.get_case(name)
    if backend == "sdpa" and not _has_sdpa(c):
        return
    m = models.build(c, backend)
    x = c.make_inputs(batch=2, seq_len=7, pad=2)
    with torch.no_grad():
        out = m.generate(**x, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 2 and 8 <= out.shape[1] <= 10
    assert torch.equal(out[:, :7], x["input_ids"])
    # the padded row continues exactly as the same prompt without padding
    real = x["attention_mask"][-1].bool()
    with torch.no_grad():
        alone = m.generate(input_ids=x["input_ids"][-1:, real],
                           attention_mask=x["attention_mask"][-1:, real],
                           max_new_tokens=3, do_sample=False)
    n = min(alone.shape[1] - int(real.sum()), out.shape[1] - 7)
    assert torch.equal(out[-1, 7:7 + n], alone[0, int(real.sum()):int(real.sum()) + n])


# ------------------------------------------ encoders, vision, multimodal, seq2seq (generic)

# Attention modules by class name, read directly from the weights: (q, k, v, o) attribute paths
# ("qkv", o) for fused rows [q | k | v], or ("qk", v, o) for fused [q | k] and a separate v.
# Independent of headprune's descriptions.
_OTHER_READERS = {
    "RobertaSelfAttention": ("query", "key", "value", None),
    "ElectraSelfAttention": ("query", "key", "value", None),
    "DistilBertSelfAttention": ("q_lin", "k_lin", "v_lin", "out_lin"),
    "AlbertAttention": ("query", "key", "value", "dense"),
    "DisentangledSelfAttention": ("query_proj", "key_proj", "value_proj", None),
    "ModernBertAttention": ("Wqkv", "Wo"),
    "Dinov2Attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "BeitAttention": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "CLIPAttention": ("q_proj", "k_proj", "v_proj", "out_proj"),
    "SiglipAttention": ("q_proj", "k_proj", "v_proj", "out_proj"),
    "WhisperAttention": ("q_proj", "k_proj", "v_proj", "out_proj"),
    "T5Attention": ("q", "k", "v", "o"),
    "EvaAttention": ("qkv", "proj"),
    "Attention": ("qkv", "proj"),  # timm beit
    "ClassAttn": ("q", "k", "v", "proj"),
    "GPSA": ("qk", "v", "proj"),  # timm convit
    "MHSA": ("qkv", "proj"),
}


def _other_blocks(model):
    out = []
    for _, mod in model.named_modules():  # a shared module (ALBERT) is listed once
        paths = _OTHER_READERS.get(type(mod).__name__)
        if paths is None:
            continue
        if len(paths) == 2:
            rows = getattr(mod, paths[0]).out_features
            assert rows % 3 == 0
            out.append(dict(q=rows // 3, k=rows // 3, v=rows // 3, o=getattr(mod, paths[1]).in_features))
        elif len(paths) == 3:
            rows = getattr(mod, paths[0]).out_features
            assert rows % 2 == 0
            out.append(dict(q=rows // 2, k=rows // 2, v=getattr(mod, paths[1]).out_features,
                            o=getattr(mod, paths[2]).in_features))
        else:
            q, k, v, o = (getattr(mod, p) if p else None for p in paths)
            out.append(dict(q=q.out_features, k=k.out_features, v=v.out_features,
                            o=o.in_features if o is not None else q.out_features))
    return out


@pytest.mark.parametrize("name", OTHER)
def test_other_metadata_matches_weights(name):
    c = models.get_case(name)
    m = models.build(c)
    blocks = _other_blocks(m)
    assert len(blocks) == c.num_layers
    for b, h, kv in zip(blocks, c.num_heads, c.num_kv_heads):
        assert (b["q"], b["k"], b["v"], b["o"]) == (h * c.head_dim, kv * c.head_dim, kv * c.head_dim,
                                                    h * c.head_dim), b
    assert sum(p.numel() for p in m.parameters()) < 200_000
    for t in c.tied:
        assert all(c.num_heads[i] == c.num_heads[t[0]] for i in t)


@pytest.mark.parametrize("name", OTHER)
def test_other_build_backends_and_inputs(name):
    c = models.get_case(name)
    assert c.modality in registry.MODALITIES and c.tags <= registry.TAGS
    a, b = models.build(c), models.build(c)
    assert a is not b and not a.training
    x, y = c.make_inputs(seed=3), c.make_inputs(seed=3)
    assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    outs = [_forward(c, models.build(c, backend), x) for backend in models.available_backends(c)]
    assert outs and all(torch.isfinite(o).all() for o in outs)
    for o in outs[1:]:
        assert (o - outs[0]).abs().max().item() <= 1e-5  # eager and sdpa agree
    if c.generative:
        enc = {k: v for k, v in x.items() if not k.startswith("decoder_")}
        with torch.no_grad():
            out = models.build(c).generate(**enc, max_new_tokens=3, do_sample=False)
        assert out.shape[0] == 2
