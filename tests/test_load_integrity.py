"""headprune.load checks before it touches anything (issue 10, "Why" 7-8): a corrupted or edited
headprune.json, flipped bytes in the weights, weights of another model: each is a SaveFormatError
naming the file, and a model passed in stays bit-identical."""
from __future__ import annotations

import json

import pytest

import headprune
import hp_support as S
from headprune import RequestError, SaveFormatError
from headprune.persistence import _record_digest


@pytest.fixture
def saved(tmp_path):
    model = S.build("llama-gqa", "sdpa")
    headprune.prune(model, heads=S.HEADS["llama-gqa"])
    headprune.save(model, tmp_path)
    return tmp_path


def _edit(directory, change, *, rehash=False):
    path = directory / "headprune.json"
    record = json.loads(path.read_text())
    change(record)
    if rehash:  # a crafted record, consistent with its own hash
        record["record_sha256"] = _record_digest(record)
    path.write_text(json.dumps(record))


def _refused_untouched(directory, match, name="llama-gqa"):
    target = S.build(name, "sdpa")
    snap = S.Snapshot(target)
    with pytest.raises(SaveFormatError, match=match):
        headprune.load(directory, model=target)
    snap.assert_unchanged()
    with pytest.raises(SaveFormatError, match=match):
        headprune.load(directory)


def test_a_corrupted_record_names_the_file(saved):
    (saved / "headprune.json").write_text('{"format": 2, "steps": [')
    _refused_untouched(saved, r"headprune\.json is not valid JSON \(")


def test_flipped_bytes_in_the_weights(saved):
    weights = saved / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x40
    weights.write_bytes(bytes(data))
    _refused_untouched(saved, r"model\.safetensors does not match the SHA-256 recorded at save time")


def test_a_hand_edited_config_is_caught_by_the_record_hash(saved):
    _edit(saved, lambda r: r["original_config"].update(head_dim=16))
    _refused_untouched(saved, r"modified after saving")


def test_an_edited_config_with_a_matching_hash_is_caught_by_the_steps(saved):
    _edit(saved, lambda r: r["original_config"].update(head_dim=16), rehash=True)
    with pytest.raises(RequestError, match=r"saved step 1 is a heads step but keeps 8 of the layer's 16 dims"):
        headprune.load(saved)
    _edit(saved, lambda r: r["original_config"].update(head_dim=8, num_key_value_heads=1), rehash=True)
    with pytest.raises(RequestError, match=r"saved step 1 does not fit: it keeps kv heads \[1\], the layer has 1"):
        headprune.load(saved)


def test_weights_of_another_model_leave_the_model_passed_in_untouched(saved, tmp_path):
    other = S.build("llama-gqa", "sdpa")
    headprune.prune(other, heads={0: [0, 4], 1: [0, 4]})  # same architecture, other shapes
    headprune.save(other, tmp_path / "other")
    (saved / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    _edit(saved, lambda r: r.update(weights_sha256=json.loads(
        (tmp_path / "other" / "headprune.json").read_text())["weights_sha256"]))
    _refused_untouched(saved, r"holds model\.layers\.0\.self_attn\.q_proj\.weight as \[48, 64\]")


def test_missing_weights(saved):
    (saved / "model.safetensors").unlink()
    _refused_untouched(saved, r"model\.safetensors is missing")


def test_a_step_for_a_module_the_model_lacks(saved):
    _edit(saved, lambda r: r["steps"][0].update(module="model.nowhere"), rehash=True)
    _refused_untouched(saved, r"saved step 1 prunes 'model\.nowhere'")


def test_a_timm_save_onto_the_wrong_fresh_model_is_refused_untouched(tmp_path):
    model = S.build("timm-vit")
    headprune.prune(model, heads=S.HEADS["timm-vit"])
    headprune.save(model, tmp_path)
    wrong = S.build("timm-deit")  # same block layout, other weights (a dist token)
    snap = S.Snapshot(wrong)
    with pytest.raises(SaveFormatError):
        headprune.load(tmp_path, model=wrong)
    snap.assert_unchanged()


def test_a_bare_module_prune_inside_a_model_round_trips(tmp_path):
    model = S.build("llama-gqa", "sdpa")
    headprune.prune(model.model.layers[1].self_attn, heads={0: [0, 1, 2, 3]})  # recorded on the module
    headprune.prune(model, heads={0: [4, 5, 6, 7]})                            # then on the model
    headprune.save(model, tmp_path)
    steps = json.loads((tmp_path / "headprune.json").read_text())["steps"]
    assert [s["module"] for s in steps] == ["model.layers.1.self_attn", ""]
    loaded = headprune.load(tmp_path)
    assert S.actual_layouts("llama-gqa", loaded) == S.actual_layouts("llama-gqa", model) == [(4, 1, 8), (4, 1, 8)]
    x = S.case("llama-gqa").make_inputs()
    assert all(S.max_err(a, b) == 0 for a, b in zip(S.forward("llama-gqa", loaded, x), S.forward("llama-gqa", model, x)))


def test_a_save_of_another_class_is_refused_by_name(tmp_path):
    model = S.build("vit")
    headprune.prune(model, heads={0: [1]})
    headprune.save(model, tmp_path)
    target = S.build("llama")
    snap = S.Snapshot(target)
    with pytest.raises(SaveFormatError, match=r"saved from transformers\.models\.vit\.modeling_vit:"
                                              r"ViTForImageClassification, not .*LlamaForCausalLM"):
        headprune.load(tmp_path, model=target)
    snap.assert_unchanged()
