"""What the weights must be (issue 10, "Why" 4-6): ties stay tied or are refused, quantized and
adapter-wrapped projections are refused naming the cause, and surgery leaves ordinary, trainable
tensors that an optimizer built before pruning no longer holds (said, not silent)."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

import headprune
import hp_support as S
from headprune import ParametersReplacedWarning, TiedWeightsError, UnsupportedLayerError
from test_errors import refused


def _unique_params(model):
    return sum(p.numel() for p in model.parameters())  # parameters() yields each tensor once


def _shared_attention_vit():
    model = S.build("vit")
    layers = model.vit.layers
    layers[1].attention = layers[0].attention  # one attention module for both layers (ALBERT-style)
    return model


def test_a_shared_attention_module_is_one_block_and_stays_shared():
    model = _shared_attention_vit()
    original = copy.deepcopy(model)  # deepcopy keeps the sharing
    assert len(headprune.attention_blocks(model)) == 1
    before = _unique_params(model)
    headprune.prune(model, heads={0: [1, 2]})
    layers = model.vit.layers
    assert layers[1].attention is layers[0].attention and layers[0].attention.q_proj.out_features == 16
    assert _unique_params(model) < before
    with torch.no_grad():  # oracle: the removed heads' o columns zeroed (in the one shared module)
        original.vit.layers[0].attention.o_proj.weight[:, 8:24] = 0
    x = S.case("vit").make_inputs()
    assert S.max_err(S.outputs("vit", model, x), S.outputs("vit", original, x)) <= S.TOL


def test_a_projection_shared_between_two_layers_is_refused():
    model = S.build("llama")
    layers = model.model.layers
    layers[1].self_attn.q_proj = layers[0].self_attn.q_proj
    refused(model, TiedWeightsError, layer=0, match=r"q_proj.weight is tied to model.layers.1.self_attn.q_proj.weight",
            heads={0: [1]})
    # a request that leaves the shared layer alone... still changes layer 1's q rows: refused too
    refused(model, TiedWeightsError, layer=1, match=r"tied to model.layers.0", heads={1: [1]})


def test_a_weight_tied_outside_attention_is_refused():
    model = S.build("vit")
    attn = model.vit.layers[0].attention
    model.extra = nn.Linear(32, 32)
    model.extra.weight = attn.v_proj.weight
    before = _unique_params(model)
    refused(model, TiedWeightsError, layer=0, match=r"v_proj.weight is tied to extra.weight", heads={0: [1]})
    headprune.prune(model, heads={1: [1]})  # the other layer is free
    assert _unique_params(model) < before


# -- projections that are not plain float linears ------------------------------------------------

class ScaledLinear(nn.Linear):
    """Like transformers' FP8 linears: a per-output-channel scale next to the weight."""

    def __init__(self, lin: nn.Linear, as_parameter: bool):
        super().__init__(lin.in_features, lin.out_features, bias=lin.bias is not None)
        self.load_state_dict(lin.state_dict())
        scale = torch.ones(lin.out_features, 1)
        if as_parameter:
            self.weight_scale = nn.Parameter(scale)
        else:
            self.register_buffer("weight_scale", scale)

    def forward(self, x):
        return nn.functional.linear(x, self.weight * self.weight_scale, self.bias)


class LoraLike(nn.Module):
    def __init__(self, base: nn.Linear, r=2):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.ModuleDict({"default": nn.Linear(base.in_features, r, bias=False)})
        self.lora_B = nn.ModuleDict({"default": nn.Linear(r, base.out_features, bias=False)})

    def forward(self, x):
        return self.base_layer(x) + self.lora_B["default"](self.lora_A["default"](x))


@pytest.mark.parametrize("as_parameter", [False, True], ids=["buffer", "parameter"])
@pytest.mark.parametrize("kwargs", [dict(heads={0: [1]}), dict(ratio=0.5), dict(mode="head_dims", dims=[1, 5])],
                         ids=["heads", "ratio", "dims"])
def test_a_linear_with_per_channel_scales_is_refused(as_parameter, kwargs):
    model = S.build("llama")
    attn = model.model.layers[1].self_attn
    attn.k_proj = ScaledLinear(attn.k_proj, as_parameter)
    refused(model, UnsupportedLayerError, layer=1, match=r"k_proj is .*ScaledLinear with extra state \['weight_scale'\]",
            **kwargs)


def test_a_lora_wrapped_projection_is_refused_naming_the_adapter():
    model = S.build("qwen2")
    attn = model.model.layers[0].self_attn
    attn.v_proj = LoraLike(attn.v_proj)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # (S.Snapshot needs a described layout)
    with pytest.raises(UnsupportedLayerError, match=r"^layer 0 .*v_proj is an adapter wrapper .*merge_and_unload") as info:
        headprune.prune(model, heads={1: [0, 4]})
    assert "release" not in str(info.value)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_a_torch_ao_dynamically_quantized_model_is_refused():
    model = torch.ao.quantization.quantize_dynamic(S.build("vit"), {nn.Linear}, dtype=torch.qint8)
    with pytest.raises(UnsupportedLayerError, match=r"q_proj is torch\.ao\..*dequantize") as info:
        headprune.prune(model, heads={0: [1]})
    assert "release" not in str(info.value)


def test_a_plain_linear_subclass_without_extra_state_is_accepted():
    model = S.build("vit")
    attn = model.vit.layers[0].attention
    sub = nn.modules.linear.NonDynamicallyQuantizableLinear(32, 32)
    sub.load_state_dict(attn.o_proj.state_dict())
    attn.o_proj = sub
    headprune.prune(model, heads={0: [1]})
    assert attn.o_proj.in_features == 24


# -- training after pruning ----------------------------------------------------------------------

@pytest.mark.parametrize("name,mode", [("llama-gqa", "heads"), ("phi3", "head_dims"), ("timm-swin", "heads")])
def test_a_prune_under_inference_mode_leaves_trainable_tensors(name, mode):
    model = S.build(name)
    with torch.inference_mode():
        if mode == "heads":
            headprune.prune(model, heads=S.HEADS[name])
        else:
            headprune.prune(model, mode=mode, dims=S.DIMS[name])
    assert not any(p.is_inference() for p in model.parameters())
    assert not any(b.is_inference() for b in model.buffers())
    model.train()
    x = S.case(name).make_inputs()
    out = model(x["pixel_values"]) if S.case(name).source == "timm" else model(**x).logits
    out.float().pow(2).mean().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "attn" in n and "proj" in n)


def test_replaced_parameters_are_reported_and_a_stale_optimizer_is_warned_about():
    model = S.build("llama")
    quiet = headprune.prune(model, heads={0: [1]})  # no gradients yet: nothing to warn about
    assert set(quiet.replaced_parameters) == {f"model.layers.0.self_attn.{p}.weight"
                                             for p in ("q_proj", "k_proj", "v_proj", "o_proj")}
    assert "rebuild any optimizer" in str(quiet)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(**S.case("llama").make_inputs()).logits.pow(2).mean().backward()
    with pytest.warns(ParametersReplacedWarning, match=r"optimizer .* build it again"):
        report = headprune.prune(model, heads={1: [0]})
    held = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not any(id(p) in held for n, p in model.named_parameters() if n in report.replaced_parameters)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParametersReplacedWarning)
        model.zero_grad(set_to_none=True)
        headprune.prune(model, heads={1: [0]})  # gradients cleared: no warning


@pytest.mark.parametrize("kind", ["compressed-tensors", "finegrained-block", "finegrained-tensor"])
def test_transformers_fp8_linears_are_refused_naming_their_scales(kind):
    from transformers.integrations.compressed_tensors import CompressedTensorsFP8Linear
    from transformers.integrations.finegrained_fp8 import FP8Linear

    model = S.build("llama")
    attn = model.model.layers[0].self_attn
    if kind == "compressed-tensors":
        attn.q_proj, scale = CompressedTensorsFP8Linear(32, 32), "weight_scale"
    else:
        attn.q_proj, scale = FP8Linear(32, 32, block_size=(8, 8) if kind == "finegrained-block" else None), \
            "weight_scale_inv"
    with pytest.raises(UnsupportedLayerError, match=rf"^layer 0 .*q_proj is .*FP8Linear with extra state \['{scale}'\]"):
        headprune.prune(model, heads={0: [1]})
    assert attn.q_proj.weight.shape == (32, 32) and model.model.layers[0].self_attn.o_proj.in_features == 32
