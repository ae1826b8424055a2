"""Tiny random models written in the real single-file layouts, for tests that load files end to end.

``write_tiny_sd15_checkpoint`` writes an SD1.x-layout checkpoint (UNet, VAE and CLIP text encoder under
their LDM prefixes, plus the DDPM buffers real files carry) that loads through the same code as a real one.
Weights are seeded, so a given seed always gives the same file.
"""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch

from engine.sd.unet import UNetConfig, UNetModel
from engine.sd.vae_model import AutoencoderKL, VAEConfig
from engine.upscale import RRDBNet

# Heads are not stored in files: conv-projection (SD1) UNets are read as 8 heads, so the tiny one uses 8 too.
TINY_UNET = UNetConfig(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    transformer_depth=(1, 1),
    transformer_depth_middle=1,
    context_dim=32,
    num_heads=8,
)
# Four levels keep SD's 8x downscale, so LATENT sizes are H/8 x W/8 as with real files.
TINY_VAE = VAEConfig(ch=32, ch_mult=(1, 2, 2, 2), num_res_blocks=1)
# SD2/SDXL UNets use linear projections and 64-wide heads, so their tiny versions are 64 channels wide. Their
# context is the text width: OpenCLIP (32) for SD2 and the refiner, CLIP-L + bigG (32 + 32) for SDXL; their ADM
# input is the pooled text (32) plus 6 (SDXL) or 5 (refiner) 256-wide size embeddings.
_LINEAR = {"model_channels": 64, "channel_mult": (1, 2), "num_res_blocks": 1, "num_head_channels": 64,
           "use_linear_in_transformer": True}
TINY_SD2_UNET = UNetConfig(**_LINEAR, transformer_depth=(1, 1), transformer_depth_middle=1, context_dim=32)
TINY_SDXL_UNET = UNetConfig(**_LINEAR, transformer_depth=(0, 2), transformer_depth_middle=2, context_dim=64,
                            adm_in_channels=32 + 6 * 256)
TINY_REFINER_UNET = UNetConfig(**_LINEAR, transformer_depth=(0, 1), transformer_depth_middle=1, context_dim=32,
                               adm_in_channels=32 + 5 * 256)
TINY_OPENCLIP_WIDTH = 32
TINY_CLIP = {
    "vocab_size": 49408,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "max_position_embeddings": 77,
}


def _randomize_norms(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Give GroupNorm/LayerNorm non-identity affine parameters, so tests also cover them."""
    for m in module.modules():
        if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
            m.weight.data = 1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen)
            m.bias.data = 0.1 * torch.randn(m.bias.shape, generator=gen)


def random_module(factory: type[torch.nn.Module], config: object, seed: int) -> torch.nn.Module:
    """``factory(config)`` with PyTorch's default init drawn from ``seed`` (global RNG left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = factory(config)
    _randomize_norms(module, torch.Generator().manual_seed(seed + 1))
    return module.eval().requires_grad_(False)


def tiny_unet_state_dict(seed: int = 0, config: UNetConfig = TINY_UNET) -> dict[str, torch.Tensor]:
    return random_module(UNetModel, config, seed).state_dict()


def tiny_vae_state_dict(seed: int = 0, config: VAEConfig = TINY_VAE) -> dict[str, torch.Tensor]:
    return random_module(AutoencoderKL, config, seed).state_dict()


def tiny_clip_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random CLIP text model in transformers' names (``text_model.*``), built without transformers."""
    gen = torch.Generator().manual_seed(seed)
    d, inner = TINY_CLIP["hidden_size"], TINY_CLIP["intermediate_size"]
    positions = TINY_CLIP["max_position_embeddings"]

    def randn(*shape: int, std: float = 0.02) -> torch.Tensor:
        return std * torch.randn(shape, generator=gen)

    def norm(name: str) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": 1.0 + randn(d, std=0.1), f"{name}.bias": randn(d, std=0.1)}

    sd = {
        "text_model.embeddings.token_embedding.weight": randn(TINY_CLIP["vocab_size"], d),
        "text_model.embeddings.position_embedding.weight": randn(positions, d, std=0.01),
        "text_model.embeddings.position_ids": torch.arange(positions)[None],
    }
    for i in range(TINY_CLIP["num_hidden_layers"]):
        p = f"text_model.encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[f"{p}self_attn.{proj}.weight"] = randn(d, d, std=d**-0.5)
            sd[f"{p}self_attn.{proj}.bias"] = randn(d)
        sd.update(norm(p + "layer_norm1"))
        sd[p + "mlp.fc1.weight"] = randn(inner, d, std=d**-0.5)
        sd[p + "mlp.fc1.bias"] = randn(inner)
        sd[p + "mlp.fc2.weight"] = randn(d, inner, std=inner**-0.5)
        sd[p + "mlp.fc2.bias"] = randn(d)
        sd.update(norm(p + "layer_norm2"))
    sd.update(norm("text_model.final_layer_norm"))
    return sd


def tiny_openclip_state_dict(seed: int = 0, layers: int = 3) -> dict[str, torch.Tensor]:
    """A random OpenCLIP text tower in OpenCLIP's own names (``transformer.resblocks.N.attn.in_proj_weight``...),
    as SD2 and SDXL checkpoints store it, with a ``text_projection``."""
    gen = torch.Generator().manual_seed(seed)
    d, inner = TINY_OPENCLIP_WIDTH, 4 * TINY_OPENCLIP_WIDTH

    def randn(*shape: int, std: float = 0.02) -> torch.Tensor:
        return std * torch.randn(shape, generator=gen)

    def norm(name: str) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": 1.0 + randn(d, std=0.1), f"{name}.bias": randn(d, std=0.1)}

    sd = {"token_embedding.weight": randn(TINY_CLIP["vocab_size"], d),
          "positional_embedding": randn(77, d, std=0.01),
          "text_projection": randn(d, d, std=d**-0.5), "logit_scale": torch.tensor(4.6052)}
    for i in range(layers):
        p = f"transformer.resblocks.{i}."
        sd.update(norm(p + "ln_1"))
        sd[p + "attn.in_proj_weight"] = randn(3 * d, d, std=d**-0.5)
        sd[p + "attn.in_proj_bias"] = randn(3 * d)
        sd[p + "attn.out_proj.weight"] = randn(d, d, std=d**-0.5)
        sd[p + "attn.out_proj.bias"] = randn(d)
        sd.update(norm(p + "ln_2"))
        sd[p + "mlp.c_fc.weight"] = randn(inner, d, std=d**-0.5)
        sd[p + "mlp.c_fc.bias"] = randn(inner)
        sd[p + "mlp.c_proj.weight"] = randn(d, inner, std=inner**-0.5)
        sd[p + "mlp.c_proj.bias"] = randn(d)
    sd.update(norm("ln_final"))
    return sd


def _ddpm_buffers() -> dict[str, torch.Tensor]:
    """The schedule buffers original LDM checkpoints carry (loaders must ignore them)."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    return {"betas": betas.float(), "alphas_cumprod": alphas_cumprod.float()}


def save_weights(sd: dict[str, torch.Tensor], path: Path, dtype: torch.dtype) -> Path:
    """Write float tensors in ``dtype`` as safetensors, or as a ``{"state_dict": ...}`` torch file."""
    sd = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in sd.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".safetensors", ".sft"):
        safetensors.torch.save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd}, path)
    return path


def write_tiny_sd15_checkpoint(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """A tiny SD1.x single-file checkpoint (``.safetensors`` or ``.ckpt``) with seeded random weights."""
    sd: dict[str, torch.Tensor] = {}
    sd.update({"model.diffusion_model." + k: v for k, v in tiny_unet_state_dict(seed).items()})
    sd.update({"first_stage_model." + k: v for k, v in tiny_vae_state_dict(seed + 1).items()})
    sd.update({"cond_stage_model.transformer." + k: v for k, v in tiny_clip_state_dict(seed + 2).items()})
    sd.update(_ddpm_buffers())
    return save_weights(sd, Path(path), dtype)


def _write_checkpoint(path: str | Path, unet: UNetConfig, encoders: dict[str, dict[str, torch.Tensor]], seed: int,
                      dtype: torch.dtype) -> Path:
    sd: dict[str, torch.Tensor] = {}
    sd.update({"model.diffusion_model." + k: v for k, v in tiny_unet_state_dict(seed, unet).items()})
    sd.update({"first_stage_model." + k: v for k, v in tiny_vae_state_dict(seed + 1).items()})
    for prefix, tensors in encoders.items():
        sd.update({prefix + k: v for k, v in tensors.items()})
    sd.update(_ddpm_buffers())
    return save_weights(sd, Path(path), dtype)


def write_tiny_sd2_checkpoint(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """SD2.x layout: a linear-projection UNet and an OpenCLIP text encoder under ``cond_stage_model.model.``."""
    return _write_checkpoint(path, TINY_SD2_UNET, {"cond_stage_model.model.": tiny_openclip_state_dict(seed + 2)},
                             seed, dtype)


def write_tiny_sdxl_checkpoint(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """SDXL base layout: CLIP-L under ``conditioner.embedders.0.transformer.``, bigG under
    ``conditioner.embedders.1.model.``, and a UNet with the size/pooled-text embedding ``label_emb``."""
    encoders = {"conditioner.embedders.0.transformer.": tiny_clip_state_dict(seed + 2),
                "conditioner.embedders.1.model.": tiny_openclip_state_dict(seed + 3)}
    return _write_checkpoint(path, TINY_SDXL_UNET, encoders, seed, dtype)


def write_tiny_sdxl_refiner_checkpoint(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """SDXL refiner layout: bigG alone under ``conditioner.embedders.0.model.``."""
    encoders = {"conditioner.embedders.0.model.": tiny_openclip_state_dict(seed + 3)}
    return _write_checkpoint(path, TINY_REFINER_UNET, encoders, seed, dtype)


def write_tiny_sd15_inpaint_checkpoint(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """An SD1.x inpainting checkpoint: the UNet takes 9 channels (latent, mask, masked-image latent)."""
    unet = UNetConfig(**{**TINY_UNET.__dict__, "in_channels": 9})
    return _write_checkpoint(path, unet, {"cond_stage_model.transformer.": tiny_clip_state_dict(seed + 2)}, seed, dtype)


def write_tiny_vae(path: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """A tiny standalone VAE file in LDM layout (the common ``vae-ft-mse`` style)."""
    return save_weights(tiny_vae_state_dict(seed), Path(path), dtype)


def random_rrdbnet(upsamples: int = 2, unshuffle: int = 1, seed: int = 0) -> RRDBNet:
    """Growth 32 as in every published ESRGAN (spandrel assumes it); the other sizes are small."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = RRDBNet(3, 3, features=16, blocks=2, growth=32, upsamples=upsamples, unshuffle=unshuffle)
    return net.eval()
