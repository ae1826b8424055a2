"""Train a tiny latent diffusion model in Stable Diffusion 1.x's single-file layout on the digits.

Same architecture family as SD1.5, small: a KL VAE (32 px -> 4x4x4 latents), a UNet with cross-attention,
and a CLIP text encoder with the real CLIP tokenizer (random, frozen: the UNet learns to read it). The
checkpoint loads through the same loader as a real SD1.5 file and answers prompts like "a handwritten digit 7".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

from engine.sd.clip import load_clip_from_state_dict
from engine.sd.latent_format import SD15
from engine.sd.unet import UNetModel
from engine.sd.unet_config import UNetConfig
from engine.sd.vae_model import AutoencoderKL, VAEConfig
from training.digits.data import TEMPLATES, WORDS, Digits

VAE_CONFIG = VAEConfig(ch=32, ch_mult=(1, 2, 2, 2), num_res_blocks=1)
UNET_CONFIG = UNetConfig(model_channels=64, channel_mult=(1, 2), num_res_blocks=1, transformer_depth=(1, 1),
                         transformer_depth_middle=1, context_dim=32, num_heads=8)
CLIP_CONFIG = CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                             bos_token_id=49406, eos_token_id=49407)


def train_vae(train: Digits, epochs: int = 60, seed: int = 0) -> AutoencoderKL:
    torch.manual_seed(seed)
    vae = AutoencoderKL(VAE_CONFIG)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    pixels = train.images.repeat(1, 3, 1, 1) * 2 - 1
    for _ in range(epochs):
        order = torch.randperm(len(pixels))
        for start in range(0, len(order), 64):
            x = pixels[order[start:start + 64]]
            mean, logvar = vae.quant_conv(vae.encoder(x)).chunk(2, dim=1)
            logvar = logvar.clamp(-30, 20)
            z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
            kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).mean()
            loss = F.mse_loss(vae.decode(z), x) + 1e-4 * kl
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    vae.eval()
    with torch.no_grad():  # scale the latent space so that SD1's factor 0.18215 gives unit variance
        std = float(vae.encode(pixels).std())
        factor = 1.0 / (SD15.scale_factor * std)
        vae.quant_conv.weight[:VAE_CONFIG.embed_dim] *= factor
        vae.quant_conv.bias[:VAE_CONFIG.embed_dim] *= factor
        vae.post_quant_conv.weight /= factor
    return vae


def text_encoder(seed: int = 0) -> CLIPTextModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CLIPTextModel(CLIP_CONFIG).eval()


def clip_checkpoint_keys(model: CLIPTextModel) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    return {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in sd.items()}


def prompt_table(clip_model: CLIPTextModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Encodings [labels, templates, 77, dim] of every training prompt, and of the empty prompt [77, dim]."""
    clip = load_clip_from_state_dict(clip_checkpoint_keys(clip_model))
    table = torch.stack([torch.stack([clip.encode_text(t.format(d=d, w=WORDS[d]))[0][0] for t in TEMPLATES])
                         for d in range(10)])
    return table, clip.encode_text("")[0][0]


def train_unet(train: Digits, vae: AutoencoderKL, prompts: torch.Tensor, empty: torch.Tensor,
               steps: int = 6000, seed: int = 0) -> UNetModel:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    unet = UNetModel(UNET_CONFIG)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=3e-4, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=3e-5)
    with torch.no_grad():
        latents = SD15.process_in(vae.encode(train.images.repeat(1, 3, 1, 1) * 2 - 1))
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, 0).float()
    for _ in range(steps):
        batch = torch.from_numpy(rng.integers(0, len(latents), 128))
        x0 = latents[batch]
        t = torch.from_numpy(rng.integers(0, 1000, len(batch)))
        noise = torch.randn_like(x0)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        context = prompts[train.labels[batch], torch.from_numpy(rng.integers(0, len(TEMPLATES), len(batch)))]
        dropped = torch.from_numpy(rng.random(len(batch)) < 0.1)
        context[dropped] = empty
        loss = F.mse_loss(unet(x_t, t, context), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return unet.eval()


def save_checkpoint(path: Path, unet: UNetModel, vae: AutoencoderKL, clip_model: CLIPTextModel) -> None:
    sd: dict[str, torch.Tensor] = {}
    sd.update({"model.diffusion_model." + k: v for k, v in unet.state_dict().items()})
    sd.update({"first_stage_model." + k: v for k, v in vae.state_dict().items()})
    sd.update({"cond_stage_model.transformer." + k: v for k, v in clip_checkpoint_keys(clip_model).items()})
    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in sd.items()}
    save_file(sd, str(path), metadata={"atelier": "digits demo checkpoint (SD1.x layout)"})


def train_diffusion(train: Digits, out: Path, seed: int = 0, vae_epochs: int = 60, unet_steps: int = 6000) -> None:
    vae = train_vae(train, vae_epochs, seed)
    clip_model = text_encoder(seed)
    prompts, empty = prompt_table(clip_model)
    unet = train_unet(train, vae, prompts, empty, unet_steps, seed)
    save_checkpoint(out, unet, vae, clip_model)
