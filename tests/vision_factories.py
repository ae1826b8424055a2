"""Tiny random CLIP vision towers, style adapters, and unCLIP and image-only (SVD-style) checkpoints in the real
key layouts, for tests that load them through the same code as real files."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from engine.sd.families import SD2_UNCLIP
from engine.sd.unet_config import UNetConfig
from engine.style_model import StyleAdapter, StyleAdapterConfig
from tests.factories import (
    TINY_SD2_UNET,
    _randomize_norms,
    random_module,
    save_weights,
    tiny_openclip_state_dict,
    tiny_unet_state_dict,
    tiny_vae_state_dict,
)

# 28x28 images in 14-pixel patches: 4 patch tokens and the class token. 64 wide: one 64-wide head.
TINY_VISION = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 1,
               "image_size": 28, "patch_size": 14, "projection_dim": 16, "hidden_act": "gelu", "layer_norm_eps": 1e-5}
TINY_STYLE = StyleAdapterConfig(width=64, context_dim=32, layers=2, tokens=3)
SVD_VISION_PREFIX = "conditioner.embedders.0.open_clip.model.visual."


def tiny_clip_vision(seed: int = 0, **overrides: object) -> CLIPVisionModelWithProjection:
    """transformers' model with seeded random weights (norms too) and the tiny sizes."""
    config = CLIPVisionConfig(**{**TINY_VISION, **overrides})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPVisionModelWithProjection(config)
        for name, parameter in model.named_parameters():
            if "embedding" in name:
                parameter.data.normal_(0.0, 0.5)
    _randomize_norms(model, torch.Generator().manual_seed(seed + 1))
    return model.eval().requires_grad_(False)


def hf_vision_to_openclip(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' vision names back to OpenAI/OpenCLIP's ``visual`` names (the inverse of the engine's)."""
    top = {"vision_model.embeddings.class_embedding": "class_embedding",
           "vision_model.embeddings.patch_embedding.weight": "conv1.weight",
           "vision_model.embeddings.position_embedding.weight": "positional_embedding",
           "vision_model.pre_layrnorm.weight": "ln_pre.weight", "vision_model.pre_layrnorm.bias": "ln_pre.bias",
           "vision_model.post_layernorm.weight": "ln_post.weight",
           "vision_model.post_layernorm.bias": "ln_post.bias"}
    block = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj",
             "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    out = {new: sd[old] for old, new in top.items()}
    out["proj"] = sd["visual_projection.weight"].T.contiguous()
    layers = 1 + max(int(k.split(".")[3]) for k in sd if k.startswith("vision_model.encoder.layers."))
    for i in range(layers):
        p, q = f"vision_model.encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{q}attn.in_proj_{kind}"] = torch.cat([sd[f"{p}self_attn.{n}.{kind}"]
                                                         for n in ("q_proj", "k_proj", "v_proj")])
            for hf, oc in block.items():
                out[f"{q}{oc}.{kind}"] = sd[f"{p}{hf}.{kind}"]
    return out


def tiny_style_adapter(seed: int = 0, config: StyleAdapterConfig = TINY_STYLE) -> StyleAdapter:
    module = random_module(StyleAdapter, config, seed)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 2)
        module.style_embedding.normal_(0.0, 1.0, generator=gen)
        module.proj.normal_(0.0, config.width ** -0.5, generator=gen)
    return module


def write_tiny_unclip_checkpoint(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """SD2.1 unCLIP layout: the SD2 tiny model whose UNet takes ``y`` (image embedding + noise-level embedding,
    2 x 16), with the CLIP vision tower under ``embedder.model.visual.`` in OpenCLIP's names."""
    unet = UNetConfig(**{**TINY_SD2_UNET.__dict__, "adm_in_channels": 2 * int(TINY_VISION["projection_dim"])})
    sd = {"model.diffusion_model." + k: v for k, v in tiny_unet_state_dict(seed, unet).items()}
    sd.update({"first_stage_model." + k: v for k, v in tiny_vae_state_dict(seed + 1).items()})
    sd.update({"cond_stage_model.model." + k: v for k, v in tiny_openclip_state_dict(seed + 2).items()})
    vision = hf_vision_to_openclip(tiny_clip_vision(seed + 3).state_dict())
    sd.update({str(SD2_UNCLIP.clip_vision_prefix) + k: v for k, v in vision.items()})
    return save_weights(sd, Path(path), dtype)


def write_tiny_svd_checkpoint(path: str | Path, seed: int = 0, temporal_vae: bool = False) -> Path:
    """Stable Video Diffusion's layout, reduced to what ImageOnlyCheckpointLoader reads: a UNet with temporal
    layers (``time_stack``), a VAE (image or temporal decoder) and the ViT-H tower in OpenCLIP's names."""
    sd = {"model.diffusion_model." + k: v for k, v in tiny_unet_state_dict(seed).items()}
    sd["model.diffusion_model.input_blocks.1.0.time_stack.emb_layers.1.weight"] = torch.zeros(4, 4)
    sd.update({"first_stage_model." + k: v for k, v in tiny_vae_state_dict(seed + 1).items()})
    if temporal_vae:
        sd["first_stage_model.decoder.mid.block_1.mix_factor"] = torch.zeros(1)
    vision = hf_vision_to_openclip(tiny_clip_vision(seed + 3).state_dict())
    sd.update({SVD_VISION_PREFIX + k: v for k, v in vision.items()})
    return save_weights(sd, Path(path), torch.float32)
