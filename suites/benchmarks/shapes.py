"""Real model shapes with random weights (nothing is downloaded): the families the benchmark measures.

GPU shapes are the published ones (LLMs: a few decoder layers, embeddings kept small because
pruning never touches them, no LM head). CPU shapes keep each family's head layout (head_dim,
GQA group size, fused QKV, RoPE) and shrink depth, width and inputs so a run on 2 cores takes
minutes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import transformers
from torch import nn


@dataclass(frozen=True)
class Shape:
    name: str                       # "vit-b16"
    family: str                     # the layout (zoo family name)
    kind: str                       # "vision" | "encoder" | "decoder"
    make_config: Callable[[], transformers.PretrainedConfig]
    model_class: str                # transformers class name
    batch: int
    seq: int                        # tokens (text) or image size (vision)
    notes: str = ""
    gqa: str = "groups"             # how heads mode removes heads in GQA models

    def build(self, device="cpu", dtype=torch.float32, seed: int = 0) -> nn.Module:
        config = self.make_config()
        config._attn_implementation = "sdpa"
        torch.manual_seed(seed)
        with torch.device(device):
            model = getattr(transformers, self.model_class)(config)
        return model.to(dtype=dtype).eval()

    def inputs(self, model: nn.Module, batch: int | None = None, seq: int | None = None) -> dict:
        batch, seq = batch or self.batch, seq or self.seq
        device = next(model.parameters()).device
        gen = torch.Generator().manual_seed(1)
        if self.kind == "vision":
            dtype = next(model.parameters()).dtype
            return {"pixel_values": torch.randn(batch, 3, seq, seq, generator=gen).to(device, dtype)}
        ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=gen).to(device)
        return {"input_ids": ids}

    def describe(self) -> str:
        c = self.make_config()
        heads = getattr(c, "num_heads", None) or c.num_attention_heads
        kv = getattr(c, "num_key_value_heads", None)
        layers = getattr(c, "depths", None) or c.num_hidden_layers
        hidden = getattr(c, "embed_dim", None) or c.hidden_size
        return (f"{self.model_class}: hidden {hidden}, heads {heads}" + (f"/{kv} kv" if kv and kv != heads else "")
                + f", layers {layers}, " + (f"image {self.seq}" if self.kind == "vision" else f"seq {self.seq}")
                + f", batch {self.batch}")


def _vit(layers, image, hidden=768, heads=12, inter=3072):
    return lambda: transformers.ViTConfig(hidden_size=hidden, num_attention_heads=heads, num_hidden_layers=layers,
                                          intermediate_size=inter, image_size=image, patch_size=16)


def _deit(layers, image):
    return lambda: transformers.DeiTConfig(hidden_size=384, num_attention_heads=6, num_hidden_layers=layers,
                                           intermediate_size=1536, image_size=image, patch_size=16)


def _swin(depths, image):
    return lambda: transformers.SwinConfig(embed_dim=96, depths=list(depths), num_heads=[3, 6, 12, 24][:len(depths)],
                                           window_size=7, image_size=image, patch_size=4)


def _bert(layers):
    return lambda: transformers.BertConfig(hidden_size=768, num_attention_heads=12, num_hidden_layers=layers,
                                           intermediate_size=3072, vocab_size=30522)


def _llama(layers, heads=32, kv=8, inter=14336):
    return lambda: transformers.LlamaConfig(hidden_size=heads * 128, num_attention_heads=heads, num_key_value_heads=kv,
                                            head_dim=128, intermediate_size=inter, num_hidden_layers=layers,
                                            vocab_size=1024, rope_theta=500000.0, max_position_embeddings=8192)


def _phi3(layers, heads=32, inter=8192):
    return lambda: transformers.Phi3Config(hidden_size=heads * 96, num_attention_heads=heads, num_key_value_heads=heads,
                                           intermediate_size=inter, num_hidden_layers=layers, vocab_size=1024,
                                           max_position_embeddings=8192, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def _qwen2(layers, heads=28, kv=4, inter=18944):
    return lambda: transformers.Qwen2Config(hidden_size=heads * 128, num_attention_heads=heads, num_key_value_heads=kv,
                                            intermediate_size=inter, num_hidden_layers=layers, vocab_size=1024,
                                            max_position_embeddings=8192)


LLM_NOTE = "decoder layers only (small embedding, no LM head: pruning touches neither)"

GPU_SHAPES = (
    Shape("vit-b16", "vit", "vision", _vit(12, 224), "ViTModel", batch=256, seq=224),
    Shape("deit-s", "deit", "vision", _deit(12, 224), "DeiTModel", batch=256, seq=224),
    Shape("swin-t", "swin", "vision", _swin((2, 2, 6, 2), 224), "SwinModel", batch=128, seq=224),
    Shape("bert-base", "bert", "encoder", _bert(12), "BertModel", batch=32, seq=512),
    Shape("llama-3-8b", "llama", "decoder", _llama(4), "LlamaModel", batch=4, seq=2048, notes=LLM_NOTE),
    Shape("phi-3-mini", "phi3", "decoder", _phi3(4), "Phi3Model", batch=4, seq=2048, notes=LLM_NOTE),
    Shape("qwen2.5-7b", "qwen2", "decoder", _qwen2(4), "Qwen2Model", batch=4, seq=2048, notes=LLM_NOTE),
)

# Same head layouts; fewer layers, narrower (LLMs: fewer heads of the same width and group size), smaller inputs.
CPU_SHAPES = (
    Shape("vit-b16", "vit", "vision", _vit(1, 112), "ViTModel", batch=2, seq=112),
    Shape("deit-s", "deit", "vision", _deit(1, 112), "DeiTModel", batch=4, seq=112),
    Shape("swin-t", "swin", "vision", _swin((1, 1, 1), 112), "SwinModel", batch=1, seq=112),  # 3 stages
    Shape("bert-base", "bert", "encoder", _bert(1), "BertModel", batch=2, seq=64),
    Shape("llama-3-8b", "llama", "decoder", _llama(1, heads=8, kv=2, inter=3584), "LlamaModel", batch=1, seq=128,
          notes=LLM_NOTE + "; 1/4 width: 8 q / 2 kv heads of 128"),
    Shape("phi-3-mini", "phi3", "decoder", _phi3(1, heads=8, inter=2048), "Phi3Model", batch=1, seq=128,
          notes=LLM_NOTE + "; 1/4 width: 8 heads of 96"),
    Shape("qwen2.5-7b", "qwen2", "decoder", _qwen2(1, heads=14, kv=2, inter=4736), "Qwen2Model", batch=1, seq=128,
          notes=LLM_NOTE + "; 1/2 width: 14 q / 2 kv heads of 128"),
)


@dataclass(frozen=True)
class Config:
    name: str
    shapes: tuple[Shape, ...]
    dtype: torch.dtype
    ratios: dict[str, tuple[float, ...]]                 # mode -> ratios
    repeats: int
    llm_prefill: tuple[tuple[int, int], ...]             # (batch, seq)
    llm_decode: tuple[tuple[int, int], ...]              # (batch, context)
    llm_ratio: float
    alignment_shape: str                                 # a Shape name whose head_dim is 64
    alignment_dims: tuple[int, ...]                      # kept head dims measured against 64
    target_block_s: float = 0.02
    extra: dict = field(default_factory=dict)

    def shape(self, name: str) -> Shape:
        return next(s for s in self.shapes if s.name == name)


RATIOS = {"heads": (0.25, 0.5, 0.75), "head_dims": (0.25, 0.5, 0.75)}

CONFIGS = {
    "cpu": Config("cpu", CPU_SHAPES, torch.float32, RATIOS, repeats=7,
                  llm_prefill=((1, 64), (1, 256)), llm_decode=((1, 256), (8, 256)), llm_ratio=0.5,
                  alignment_shape="vit-b16", alignment_dims=(64, 63, 60, 56, 48, 40, 36, 33, 32)),
    "gpu": Config("gpu", GPU_SHAPES, torch.bfloat16, RATIOS, repeats=15,
                  llm_prefill=((1, 512), (1, 4096), (8, 1024)), llm_decode=((1, 1024), (1, 4096), (32, 1024)),
                  llm_ratio=0.5, alignment_shape="vit-b16", alignment_dims=tuple(range(64, 31, -1))),
    # seconds-long, for the smoke test: the pipeline, not the speed
    "smoke": Config("smoke", (
        Shape("vit-tiny", "vit", "vision", _vit(1, 32, hidden=128, heads=2, inter=64), "ViTModel", batch=1, seq=32),
        Shape("llama-tiny", "llama", "decoder", _llama(1, heads=2, kv=1, inter=64), "LlamaModel", batch=1, seq=8),
    ), torch.float32, {"heads": (0.5,), "head_dims": (0.5,)}, repeats=2, llm_prefill=(),
        llm_decode=((1, 8),), llm_ratio=0.5, alignment_shape="vit-tiny", alignment_dims=(64, 60, 56),
        target_block_s=0.001),
}
