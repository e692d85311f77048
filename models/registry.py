"""Registry of tiny random models ("the zoo").

Each :class:`Case` describes one model: its family, where its attention
lives (per-block head counts, head_dim), feature tags, and how to make
deterministic inputs for it.  :func:`build` returns a fresh fp32, eval-mode
CPU copy of a per-process prototype (built once under ``torch.manual_seed(0)``)
with the requested attention backend applied.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import torch

from . import hf, hf_decoders, hf_other, timm_models

# Family names and feature tags a case may carry, by zoo section (kept apart so that
# sections grow independently).
_CORE_FAMILIES = {"vit", "deit", "swin", "bert", "llama", "phi", "phi3", "qwen2", "qwen3",
                  "timm-vit", "timm-deit", "timm-swin"}
_DECODER_FAMILIES = {"gpt2", "gpt-neox", "opt", "falcon", "mistral", "mixtral", "gemma", "gemma2", "gemma3",
                     "qwen2-moe", "qwen3-moe", "cohere", "stablelm"}
_OTHER_FAMILIES = {"roberta", "electra", "distilbert", "albert", "deberta-v2", "modernbert", "dinov2", "beit",
                   "clip", "siglip", "whisper", "t5", "timm-eva", "timm-beit", "timm-cait", "timm-convit"}
FAMILIES = frozenset(_CORE_FAMILIES | _DECODER_FAMILIES | _OTHER_FAMILIES)

_CORE_TAGS = {"gqa", "mqa", "fused_qkv", "rope", "partial_rotary", "qk_norm",
              "rel_pos_bias", "qkv_bias", "distilled"}
# conv1d: transformers Conv1D projections (weight [in, out]); qkv_per_head / qkv_grouped: fused
# rows [q_h | k_h | v_h] per head / [q.. | k | v] per kv group; rope_interleaved: pairs (2i, 2i+1);
# per_head_norm: q/k norms with one weight per head (re-indexed with the heads); softcap: attention
# logit soft-capping; sliding_window: some layers attend within a window shorter than the inputs;
# moe: mixture-of-experts MLPs.
_DECODER_TAGS = {"conv1d", "qkv_per_head", "qkv_grouped", "rope_interleaved", "per_head_norm", "softcap",
                 "sliding_window", "moe"}
_OTHER_TAGS = {"shared_layer", "rel_pos_proj", "multi_tower", "refused_module", "cross_attention",
               "tied_heads", "forward_rewrite", "gated_pos_attn"}
TAGS = frozenset(_CORE_TAGS | _DECODER_TAGS | _OTHER_TAGS)
BACKENDS = ("eager", "sdpa")
MODALITIES = ("text", "vision", "text+vision", "seq2seq", "speech")
SEED = 0


@dataclass(frozen=True)
class InputSpec:
    """How to make inputs for a case (kept next to the config values it mirrors)."""

    vocab_size: Optional[int] = None      # text
    pad_token_id: Optional[int] = None    # text
    padding_side: Optional[str] = None    # text: "left" (causal) or "right"
    token_type_ids: bool = False          # text (BERT)
    image_size: Optional[int] = None      # vision (square, 3 channels)
    mel_bins: Optional[int] = None        # speech: input_features [batch, mel_bins, frames]
    frames: Optional[int] = None


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    source: str
    modality: str
    num_layers: int
    num_heads: tuple[int, ...]
    num_kv_heads: tuple[int, ...]
    head_dim: int
    generative: bool
    tags: frozenset[str]
    builder: Callable[[], torch.nn.Module] = field(repr=False)
    inputs: InputSpec = field(default=InputSpec(), repr=False)
    rotary_dim: Optional[int] = None   # rotated dims per head when only part rotates (partial rotary)
    output: str = "logits"                  # the model output the suite compares
    # modes exact pruning is impossible in by design, with the reason (the pruner must refuse)
    refused: tuple[tuple[str, str], ...] = ()
    # blocks that must keep the same heads (T5: each stack's blocks share one position bias)
    tied: tuple[tuple[int, ...], ...] = ()

    @property
    def rotary(self) -> Optional[int]:
        """Rotated dims per head for RoPE cases (the whole head unless partial), else None."""
        if "rope" not in self.tags:
            return None
        return self.rotary_dim or self.head_dim

    def __post_init__(self):
        if self.source not in ("hf", "timm"):
            raise ValueError(f"{self.name}: bad source {self.source!r}")
        if self.modality not in MODALITIES:
            raise ValueError(f"{self.name}: bad modality {self.modality!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: bad family {self.family!r}")
        if not self.tags <= TAGS:
            raise ValueError(f"{self.name}: unknown tags {sorted(self.tags - TAGS)}")
        if not (len(self.num_heads) == len(self.num_kv_heads) == self.num_layers):
            raise ValueError(f"{self.name}: per-block head tuples must have num_layers entries")
        if (self.rotary_dim is not None) != ("partial_rotary" in self.tags):
            raise ValueError(f"{self.name}: rotary_dim is given exactly for partial_rotary cases")

    def make_inputs(self, batch: int = 2, seq_len: int = 7, pad: int = 2,
                    seed: int = 0) -> dict[str, torch.Tensor]:
        """Deterministic model inputs (a function of the arguments only).

        Text: ``input_ids`` int64 [batch, seq_len] in [1, vocab) and
        ``attention_mask``; the last row has ``pad`` padding positions (mask 0,
        id = pad_token_id), on the left for generative cases and on the right
        otherwise.  BERT also gets ``token_type_ids`` (zeros).
        Vision: ``pixel_values`` [batch, 3, S, S] from randn (seq_len/pad ignored).
        """
        if batch < 1:
            raise ValueError("batch must be >= 1")
        g = torch.Generator().manual_seed(seed)
        spec = self.inputs
        if self.modality == "vision":
            s = spec.image_size
            return {"pixel_values": torch.randn(batch, 3, s, s, generator=g, dtype=torch.float32)}
        if self.modality == "speech":
            feats = torch.randn(batch, spec.mel_bins, spec.frames, generator=g, dtype=torch.float32)
            return {"input_features": feats, "decoder_input_ids": self._decoder_ids(batch, 4, g)}

        if seq_len < 1:
            raise ValueError("seq_len must be >= 1")
        if not 0 <= pad < seq_len:
            raise ValueError(f"pad must be in [0, seq_len) so every row keeps a real token; got {pad}")
        ids = torch.randint(1, spec.vocab_size, (batch, seq_len), generator=g, dtype=torch.int64)
        mask = torch.ones(batch, seq_len, dtype=torch.int64)
        if pad > 0:
            cols = slice(0, pad) if spec.padding_side == "left" else slice(seq_len - pad, seq_len)
            mask[-1, cols] = 0
            ids[-1, cols] = spec.pad_token_id
        out = {"input_ids": ids, "attention_mask": mask}
        if spec.token_type_ids:
            out["token_type_ids"] = torch.zeros(batch, seq_len, dtype=torch.int64)
        if self.modality == "text+vision":
            s = spec.image_size
            out["pixel_values"] = torch.randn(batch, 3, s, s, generator=g, dtype=torch.float32)
        if self.modality == "seq2seq":
            out["decoder_input_ids"] = self._decoder_ids(batch, max(1, seq_len - 2), g)
        return out

    def _decoder_ids(self, batch: int, length: int, g: torch.Generator) -> torch.Tensor:
        """Decoder tokens of a sequence-to-sequence case (no padding)."""
        return torch.randint(1, self.inputs.vocab_size, (batch, length), generator=g, dtype=torch.int64)

    def refusal(self, mode: str) -> str | None:
        """Why this architecture cannot be pruned exactly in ``mode`` (None: it can)."""
        return dict(self.refused).get(mode)


# --------------------------------------------------------------- the cases

_LM = InputSpec(vocab_size=hf.VOCAB, pad_token_id=hf.PAD_ID, padding_side="left")
_BERT = InputSpec(vocab_size=hf.VOCAB, pad_token_id=hf.PAD_ID, padding_side="right",
                  token_type_ids=True)
_IMG32 = InputSpec(image_size=32)
_IMG64 = InputSpec(image_size=64)


def _u(n: int, layers: int = 2) -> tuple[int, ...]:
    return (n,) * layers


def _vision(name, family, source, builder, num_heads, head_dim, tags, inputs, **kw):
    return Case(name, family, source, "vision", len(num_heads), num_heads, num_heads,
                head_dim, False, frozenset(tags), builder, inputs, **kw)


def _lm(name, family, builder, heads, kv, head_dim, tags, rotary_dim=None):
    return Case(name, family, "hf", "text", 2, _u(heads), _u(kv), head_dim, True,
                frozenset(tags), builder, _LM, rotary_dim)


_CASES: tuple[Case, ...] = (
    # HF vision
    _vision("vit", "vit", "hf", hf.build_vit, _u(4), 8, {"qkv_bias"}, _IMG32),
    _vision("deit", "deit", "hf", hf.build_deit, _u(4), 8, {"qkv_bias", "distilled"}, _IMG32),
    _vision("swin", "swin", "hf", hf.build_swin, (2, 2, 4, 4), 8,
            {"qkv_bias", "rel_pos_bias"}, _IMG64),
    # HF text
    Case("bert", "bert", "hf", "text", 2, _u(4), _u(4), 8, False,
         frozenset({"qkv_bias"}), hf.build_bert, _BERT),
    _lm("llama", "llama", hf.build_llama, 4, 4, 8, {"rope"}),
    _lm("llama-gqa", "llama", hf.build_llama_gqa, 8, 2, 8, {"gqa", "rope"}),
    _lm("llama-mqa", "llama", hf.build_llama_mqa, 8, 1, 8, {"gqa", "mqa", "rope"}),
    _lm("phi", "phi", hf.build_phi, 4, 4, 16, {"rope", "partial_rotary", "qkv_bias"}, rotary_dim=8),
    _lm("phi3", "phi3", hf.build_phi3, 4, 4, 8, {"fused_qkv", "rope"}),
    _lm("phi3-gqa", "phi3", hf.build_phi3_gqa, 8, 2, 8, {"fused_qkv", "gqa", "rope"}),
    _lm("qwen2", "qwen2", hf.build_qwen2, 8, 2, 8, {"gqa", "rope", "qkv_bias"}),
    _lm("qwen3", "qwen3", hf.build_qwen3, 8, 2, 8, {"gqa", "rope", "qk_norm"}),
    # timm
    _vision("timm-vit", "timm-vit", "timm", timm_models.build_timm_vit, _u(4), 8,
            {"fused_qkv", "qkv_bias"}, _IMG32),
    _vision("timm-deit", "timm-deit", "timm", timm_models.build_timm_deit, _u(4), 8,
            {"fused_qkv", "qkv_bias", "distilled"}, _IMG32),
    _vision("timm-swin", "timm-swin", "timm", timm_models.build_timm_swin, (2, 2, 4, 4), 8,
            {"fused_qkv", "qkv_bias", "rel_pos_bias"}, _IMG64),
)

# -- decoders beyond the core (Mistral, Gemma, GPT-2, ...) ----------------------------------
_D = hf_decoders
_DECODER_CASES: tuple[Case, ...] = (
    _lm("gpt2", "gpt2", _D.build_gpt2, 4, 4, 8, {"conv1d", "fused_qkv", "qkv_bias"}),
    _lm("gpt-neox", "gpt-neox", _D.build_gpt_neox, 4, 4, 16,
        {"fused_qkv", "qkv_per_head", "qkv_bias", "rope", "partial_rotary"}, rotary_dim=4),
    _lm("opt", "opt", _D.build_opt, 4, 4, 8, {"qkv_bias"}),
    _lm("falcon", "falcon", _D.build_falcon, 8, 2, 8, {"fused_qkv", "qkv_grouped", "qkv_bias", "gqa", "rope"}),
    _lm("falcon-mqa", "falcon", _D.build_falcon_mqa, 4, 1, 8, {"fused_qkv", "qkv_bias", "gqa", "mqa", "rope"}),
    _lm("falcon-mha", "falcon", _D.build_falcon_mha, 4, 4, 8, {"fused_qkv", "qkv_per_head", "qkv_bias", "rope"}),
    _lm("mistral", "mistral", _D.build_mistral, 8, 2, 8, {"gqa", "rope", "sliding_window"}),
    _lm("mixtral", "mixtral", _D.build_mixtral, 4, 2, 8, {"gqa", "rope", "moe"}),
    _lm("gemma", "gemma", _D.build_gemma, 4, 1, 16, {"gqa", "mqa", "rope", "qkv_bias"}),
    _lm("gemma2", "gemma2", _D.build_gemma2, 4, 2, 16, {"gqa", "rope", "softcap", "sliding_window"}),
    _lm("gemma3", "gemma3", _D.build_gemma3, 4, 2, 8, {"gqa", "rope", "qk_norm", "sliding_window"}),
    _lm("qwen2-moe", "qwen2-moe", _D.build_qwen2_moe, 4, 2, 8, {"gqa", "rope", "qkv_bias", "moe"}),
    _lm("qwen3-moe", "qwen3-moe", _D.build_qwen3_moe, 4, 2, 8, {"gqa", "rope", "qk_norm", "moe"}),
    _lm("cohere", "cohere", _D.build_cohere, 4, 4, 8, {"rope", "rope_interleaved"}),
    _lm("cohere-qknorm", "cohere", _D.build_cohere_qknorm, 8, 2, 8,
        {"gqa", "rope", "rope_interleaved", "qk_norm", "per_head_norm"}),
    _lm("stablelm", "stablelm", _D.build_stablelm, 4, 4, 16, {"rope", "partial_rotary", "qkv_bias"}, rotary_dim=4),
    _lm("stablelm-qknorm", "stablelm", _D.build_stablelm_qknorm, 8, 2, 8,
        {"gqa", "rope", "partial_rotary", "qk_norm", "per_head_norm"}, rotary_dim=4),
)

# transformers 4.x lays GPT-2, Qwen2-MoE and StableLM attention out differently (no `scaling`
# attribute, per-module rotary tables, Qwen2-MoE reshapes with `hidden_size`) and cannot build
# StableLM's per-head q/k norms; headprune refuses those 4.x layouts (UnknownLayoutError naming
# the class), so the zoo lists these cases on transformers 5 only.
# transformers 4.57.6 cannot build StableLM with qk_layernorm=True at all: its _init_weights zeroes
# the per-head LayerNorms' biases, which are None (bias=False), and raises AttributeError.
# BEiT, ModernBERT and DistilBERT: their 4.x layouts are not described (refused there with
# UnknownLayoutError; see headprune/families/hf_other.py).
_TRANSFORMERS_5_ONLY = {"stablelm-qknorm", "beit", "modernbert", "distilbert"}
if int(hf.tf.__version__.split(".")[0]) < 5:
    _DECODER_CASES = tuple(c for c in _DECODER_CASES if c.name not in _TRANSFORMERS_5_ONLY)

# -- encoders, vision, multimodal, sequence-to-sequence, more timm -------------------------
_ENC = InputSpec(vocab_size=hf.VOCAB, pad_token_id=hf.PAD_ID, padding_side="right")
_CLIP = InputSpec(vocab_size=hf.VOCAB, pad_token_id=hf.PAD_ID, padding_side="right", image_size=32)
_SPEECH = InputSpec(vocab_size=hf.VOCAB, mel_bins=hf_other.MEL_BINS, frames=hf_other.FRAMES)

def _enc(name, family, builder, tags, layers=2, **kw):
    return Case(name, family, "hf", "text", layers, _u(4, layers), _u(4, layers), 8, False,
                frozenset(tags), builder, _ENC, **kw)


_OTHER_CASES: tuple[Case, ...] = (
    _enc("roberta", "roberta", hf_other.build_roberta, {"qkv_bias"}),
    _enc("electra", "electra", hf_other.build_electra, {"qkv_bias"}),
    _enc("distilbert", "distilbert", hf_other.build_distilbert, {"qkv_bias"}),
    _enc("albert", "albert", hf_other.build_albert, {"qkv_bias", "shared_layer"}, layers=1),
    _enc("deberta-v2", "deberta-v2", hf_other.build_deberta_v2, {"qkv_bias", "rel_pos_proj"}),
    _enc("modernbert", "modernbert", hf_other.build_modernbert, {"fused_qkv", "rope"}),
    _vision("dinov2", "dinov2", "hf", hf_other.build_dinov2, _u(4), 8, {"qkv_bias"}, _IMG32),
    _vision("beit", "beit", "hf", hf_other.build_beit, _u(4), 8, {"qkv_bias", "rel_pos_bias"}, _IMG32),
    Case("clip", "clip", "hf", "text+vision", 4, _u(4, 4), _u(4, 4), 8, False,
         frozenset({"qkv_bias", "multi_tower"}), hf_other.build_clip, _CLIP, output="logits_per_image"),
    Case("siglip", "siglip", "hf", "vision", 2, _u(4), _u(4), 8, False,
         frozenset({"qkv_bias", "refused_module"}), hf_other.build_siglip, _IMG32, output="pooler_output"),
    Case("whisper", "whisper", "hf", "speech", 6, _u(4, 6), _u(4, 6), 8, True,
         frozenset({"qkv_bias", "cross_attention"}), hf_other.build_whisper, _SPEECH),
    Case("t5", "t5", "hf", "seq2seq", 6, _u(4, 6), _u(4, 6), 8, True,
         frozenset({"cross_attention", "tied_heads"}), hf_other.build_t5, _ENC,
         tied=((0, 1), (2, 4), (3, 5))),  # encoder self, decoder self, decoder cross
    _vision("timm-eva", "timm-eva", "timm", timm_models.build_timm_eva, _u(4), 8,
            {"fused_qkv", "qkv_bias", "forward_rewrite", "rope", "rope_interleaved"}, _IMG32),
    _vision("timm-beit", "timm-beit", "timm", timm_models.build_timm_beit, _u(4), 8,
            {"fused_qkv", "qkv_bias", "rel_pos_bias", "forward_rewrite"}, _IMG32),
    _vision("timm-cait", "timm-cait", "timm", timm_models.build_timm_cait, _u(4), 8,
            {"qkv_bias", "refused_module", "forward_rewrite"}, _IMG32),
    _vision("timm-convit", "timm-convit", "timm", timm_models.build_timm_convit, _u(4), 8,
            {"fused_qkv", "qkv_bias", "forward_rewrite", "gated_pos_attn"}, _IMG32),
)


if int(hf.tf.__version__.split(".")[0]) < 5:
    _OTHER_CASES = tuple(c for c in _OTHER_CASES if c.name not in _TRANSFORMERS_5_ONLY)
if not timm_models.convit_casts_with_the_model():
    # timm before rel_indices became a buffer: model.to(bf16) leaves it float32, so ConViT itself
    # fails in half precision (timm's bug, not the pruner's): the case needs a newer timm.
    _OTHER_CASES = tuple(c for c in _OTHER_CASES if c.name != "timm-convit")

_CASES = _CASES + _DECODER_CASES + _OTHER_CASES

_BY_NAME: dict[str, Case] = {c.name: c for c in sorted(_CASES, key=lambda c: c.name)}
assert len(_BY_NAME) == len(_CASES), "duplicate case names"


def cases() -> list[Case]:
    """All cases, sorted by name."""
    return list(_BY_NAME.values())


def case_names() -> list[str]:
    return list(_BY_NAME)


def get_case(name: str) -> Case:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown case {name!r}; valid names: {', '.join(_BY_NAME)}") from None


def _resolve(name_or_case: Union[str, Case]) -> Case:
    if isinstance(name_or_case, Case):
        return get_case(name_or_case.name) if name_or_case.name in _BY_NAME else name_or_case
    return get_case(name_or_case)


# ------------------------------------------------------------------ build

_PROTOTYPES: dict[str, torch.nn.Module] = {}
_LOCK = threading.Lock()


def _make_visible(model: torch.nn.Module) -> None:
    """Re-draw the weights so that pruning mistakes show in the outputs.

    Default inits (std 0.02, zero biases, a zero Swin bias table) give near-uniform attention
    on tiny models: a wrong softmax scale or a bias sliced by the wrong heads would change
    the logits by less than the test tolerance. Linear weights get std 1/sqrt(fan_in), so
    attention scores are O(1), and all-zero parameters get noise.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, module.in_features ** -0.5)
        for p in model.parameters():
            if p.numel() and not p.any():
                p.normal_(0.0, 0.2)


def _build_uncached(case: Union[str, Case]) -> torch.nn.Module:
    """Build the prototype from scratch (seed 0, fp32, eval, CPU, eager).

    Does not touch the caller's global RNG state.  Used by the cache and by
    the build-time test.
    """
    case = _resolve(case)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = case.builder()
        _make_visible(model)
    model = model.to(device="cpu", dtype=torch.float32).eval()
    set_attention_backend(model, "eager")
    return model


def _prototype(case: Case) -> torch.nn.Module:
    with _LOCK:
        proto = _PROTOTYPES.get(case.name)
        if proto is None:
            proto = _PROTOTYPES[case.name] = _build_uncached(case)
        return proto


def build(name_or_case: Union[str, Case], attn_implementation: str = "eager") -> torch.nn.Module:
    """A fresh (deep-copied) fp32 eval-mode CPU model with the backend applied."""
    if attn_implementation not in BACKENDS:
        raise ValueError(f"unknown attention backend {attn_implementation!r}; use one of {BACKENDS}")
    case = _resolve(name_or_case)
    model = copy.deepcopy(_prototype(case))
    set_attention_backend(model, attn_implementation)
    return model.eval()


_AVAILABLE: dict[str, tuple[str, ...]] = {}


def available_backends(name_or_case: Union[str, Case]) -> tuple[str, ...]:
    """The backends this case can be switched to at run time with the installed releases.

    Both, except where a release fixes the attention class at construction (transformers
    4.x BERT picks its sdpa class in ``__init__``; 4.x Swin has no sdpa path) or a model has
    only its own eager attention (timm ConViT).
    """
    case = _resolve(name_or_case)
    if case.name not in _AVAILABLE:
        found = []
        for backend in BACKENDS:
            try:
                set_attention_backend(copy.deepcopy(_prototype(case)), backend)
            except (RuntimeError, ValueError):
                continue
            found.append(backend)
        _AVAILABLE[case.name] = tuple(found)
    return _AVAILABLE[case.name]


def _refuse_fixed_attention_classes(model: torch.nn.Module, backend: str) -> None:
    """transformers 4.x models with per-backend attention classes (a module-level
    ``*ATTENTION_CLASSES`` dict: Qwen2-MoE, StableLM, DistilBERT) pick the class at construction;
    switching the config afterwards changes the mask format under the old class and gives wrong
    outputs (verified: eager and "sdpa" disagree by 3.8 on qwen2-moe, 4.57.6)."""
    import sys

    for module in model.modules():
        tables = [v for k, v in vars(sys.modules[type(module).__module__]).items()
                  if k.endswith("ATTENTION_CLASSES") and isinstance(v, dict)]
        for table in tables:
            wanted = table.get(backend)
            if type(module) in table.values() and wanted is not None and wanted is not type(module):
                raise ValueError(f"{type(module).__name__} cannot run {backend!r} attention ({wanted.__name__} does): "
                                 "this release fixes the attention class at construction")


def set_attention_backend(model: torch.nn.Module, backend: str) -> None:
    """Switch a zoo model between "eager" and "sdpa" attention, in place.

    HF: ``model.set_attn_implementation`` (verified through
    ``config._attn_implementation``).  timm: ``fused_attn`` on every module
    that has it (timm Attention, swin WindowAttention).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; use one of {BACKENDS}")
    _refuse_fixed_attention_classes(model, backend)
    config = getattr(model, "config", None)
    if config is not None and hasattr(model, "set_attn_implementation"):
        if type(model)._can_set_attn_implementation():
            model.set_attn_implementation(backend)
        else:
            # Legacy attention code (Falcon) has no per-backend classes and reads
            # config._attn_implementation on every forward: setting it is what building the
            # model with that backend does (verified: identical logits).
            config._attn_implementation = backend
        if config._attn_implementation != backend:
            raise RuntimeError(
                f"{type(model).__name__}: set_attn_implementation({backend!r}) left "
                f"config._attn_implementation = {config._attn_implementation!r}")
        return
    found = False
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = backend == "sdpa"
            found = True
    if not found and backend != "eager":
        # timm models without fused_attn anywhere (ConViT) always run their own eager attention
        raise ValueError(f"{type(model).__name__}: no module has fused_attn; it only runs eager attention")


def logits(case: Union[str, Case], model: torch.nn.Module,
           inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run ``model`` on ``make_inputs`` output and return the logits tensor.

    HF models take the dict as keyword arguments; timm models take
    ``pixel_values`` positionally and return the logits tensor directly.
    """
    case = _resolve(case)
    if case.source == "timm":
        return model(inputs["pixel_values"])
    return getattr(model(**inputs), case.output)
