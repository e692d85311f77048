"""Builders for the tiny random encoder, vision, multimodal and sequence-to-sequence cases
(transformers 5.24): every model 2 layers (ALBERT: 2 passes of one shared layer), hidden 32,
4 heads of 8, built from a config with nothing downloaded."""

from __future__ import annotations

import torch
import transformers as tf

from .hf import _EAGER, BOS_ID, EOS_ID, MAX_POS, PAD_ID, VOCAB

_ENCODER = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=MAX_POS,
    pad_token_id=PAD_ID, num_labels=3, **_EAGER,
)
_IMAGE = dict(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
              num_attention_heads=4, intermediate_size=37, **_EAGER)
MEL_BINS, FRAMES = 8, 16  # Whisper: input_features [batch, 8, 16] (2 x max_source_positions)


def build_roberta() -> torch.nn.Module:
    return tf.RobertaForSequenceClassification(tf.RobertaConfig(**_ENCODER, bos_token_id=BOS_ID,
                                                                eos_token_id=EOS_ID, classifier_dropout=0.0))


def build_electra() -> torch.nn.Module:
    return tf.ElectraForSequenceClassification(tf.ElectraConfig(**_ENCODER, embedding_size=16,
                                                                classifier_dropout=0.0))


def build_distilbert() -> torch.nn.Module:
    cfg = tf.DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=37, dropout=0.0,
                              attention_dropout=0.0, seq_classif_dropout=0.0, max_position_embeddings=MAX_POS,
                              pad_token_id=PAD_ID, num_labels=3, **_EAGER)
    return tf.DistilBertForSequenceClassification(cfg)


def build_albert() -> torch.nn.Module:
    # num_hidden_groups = inner_group_num = 1: one attention module runs both layers
    return tf.AlbertForSequenceClassification(tf.AlbertConfig(**_ENCODER, embedding_size=16,
                                                              classifier_dropout_prob=0.0))


def build_deberta_v2() -> torch.nn.Module:
    # relative attention with separate position projections (share_att_key=False): c2p and p2c
    cfg = tf.DebertaV2Config(**_ENCODER, relative_attention=True, pos_att_type=["c2p", "p2c"],
                             share_att_key=False, position_buckets=8, max_relative_positions=MAX_POS,
                             type_vocab_size=0)
    return tf.DebertaV2ForSequenceClassification(cfg)


def build_modernbert() -> torch.nn.Module:
    # layer 0 global (full) attention, layer 1 local (sliding): two rotary tables
    cfg = tf.ModernBertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=37, max_position_embeddings=MAX_POS, global_attn_every_n_layers=2,
                              local_attention=4, pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
                              cls_token_id=BOS_ID, sep_token_id=EOS_ID, num_labels=3, attention_dropout=0.0,
                              embedding_dropout=0.0, mlp_dropout=0.0, classifier_dropout=0.0, **_EAGER)
    return tf.ModernBertForSequenceClassification(cfg)


def build_dinov2() -> torch.nn.Module:
    return tf.Dinov2ForImageClassification(tf.Dinov2Config(**_IMAGE, hidden_dropout_prob=0.0,
                                                           attention_probs_dropout_prob=0.0, num_labels=3))


def build_beit() -> torch.nn.Module:
    cfg = tf.BeitConfig(**_IMAGE, use_relative_position_bias=True, use_shared_relative_position_bias=False,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.0,
                        num_labels=3)
    return tf.BeitForImageClassification(cfg)


def build_clip() -> torch.nn.Module:
    """Both towers: logits_per_image depends on the text and the vision encoder."""
    text = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=MAX_POS, pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
                projection_dim=16)
    vision = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37, projection_dim=16)
    return tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16, **_EAGER))


def build_siglip() -> torch.nn.Module:
    """Vision tower with its pooling head (an nn.MultiheadAttention, which headprune refuses)."""
    cfg = tf.SiglipVisionConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=37, vision_use_head=True, **_EAGER)
    return tf.SiglipVisionModel(cfg)


def build_whisper() -> torch.nn.Module:
    cfg = tf.WhisperConfig(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2,
                           encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                           decoder_ffn_dim=37, num_mel_bins=MEL_BINS, max_source_positions=FRAMES // 2,
                           max_target_positions=MAX_POS, pad_token_id=PAD_ID, bos_token_id=BOS_ID,
                           eos_token_id=EOS_ID, decoder_start_token_id=BOS_ID, dropout=0.0, attention_dropout=0.0,
                           activation_dropout=0.0, **_EAGER)
    model = tf.WhisperForConditionalGeneration(cfg)
    model.generation_config.forced_decoder_ids = None
    model.generation_config.suppress_tokens = []
    model.generation_config.begin_suppress_tokens = []
    return model


def build_t5() -> torch.nn.Module:
    cfg = tf.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2,
                      num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=PAD_ID,
                      eos_token_id=EOS_ID, decoder_start_token_id=PAD_ID, **_EAGER)
    return tf.T5ForConditionalGeneration(cfg)
