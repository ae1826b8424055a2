"""InstructPix2Pix (8-channel UNets) against diffusers' StableDiffusionInstructPix2PixPipeline on identical random
weights, and ComfyUI's rules for the image latent.

ComfyUI guides an IP2P model with plain CFG, the image latent beside the noisy latent for the positive and the
negative prompt alike; diffusers' pipeline uses three-way guidance, ``uncond + g * (text - image) + ig * (image -
uncond)``, which is the same thing when ``image_guidance_scale`` is 1: ``image + g * (text - image)``, where
"image" is the negative prompt with the image. So the pipeline at ``image_guidance_scale=1`` is the reference for
the UNet input (noisy latent scaled, then the unscaled VAE mode of the image concatenated) and the whole Euler
trajectory. Tolerance: 1e-4 of the reference's largest value (float32).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from engine.device import Devices
from engine.sampling.guidance import GuidedDenoiser
from engine.sampling.registry import sampler_function
from engine.sd.components import unet_from_state_dict, vae_from_state_dict
from engine.sd.families import SD1, SDXL
from engine.sd.instruct_pix2pix import ip2p_conditioning
from engine.sd.model_inputs import ip2p_concat, resize_to_batch
from tests.engine.test_unet import SMALL, assert_close, pair
from tests.engine.test_vae import diffusers_config as vae_config
from tests.factories import TINY_VAE

diffusers = pytest.importorskip("diffusers")

CPU = Devices(cpu_only=True, cpu_bf16=False)
IP2P = replace(SMALL, in_channels=8)
SD1_SCHEDULE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}


def test_an_ip2p_unet_is_recognised_from_its_eight_input_channels():
    ours, _ = pair(IP2P)
    model = unet_from_state_dict(ours.state_dict(), devices=CPU)
    assert model.family is SD1 and model.unet.config.in_channels == 8 and not model.is_inpainting
    latent = torch.randn(2, 4, 6, 8)
    image = torch.randn(1, 4, 6, 8)
    _, concat = model.extra_inputs({"concat_latent_image": image}, latent, None, negative=True)
    assert torch.equal(concat, image.expand(2, -1, -1, -1))  # used as it is: no latent scale
    _, none = model.extra_inputs({}, latent, None, negative=False)
    assert torch.equal(none, torch.zeros_like(latent))
    assert SDXL.extra_inputs(replace(IP2P, adm_in_channels=2816, context_dim=2048), {"pooled_output": None,
                             "concat_latent_image": image}, latent, None, False)[1].shape == latent.shape


def test_the_image_latent_is_centre_cropped_resized_and_spread_over_the_batch():
    image = torch.arange(3 * 4 * 8 * 12, dtype=torch.float32).reshape(3, 4, 8, 12)
    same_aspect = ip2p_concat({"concat_latent_image": image[:, :, :, 2:10]}, torch.zeros(3, 4, 8, 8))
    assert torch.equal(same_aspect, image[:, :, :, 2:10])
    cropped = ip2p_concat({"concat_latent_image": image}, torch.zeros(3, 4, 4, 4))
    expected = torch.nn.functional.interpolate(image[:, :, :, 2:10], size=(4, 4), mode="bilinear")
    assert torch.allclose(cropped, expected)
    batch = torch.arange(3.0).reshape(3, 1, 1, 1)
    assert resize_to_batch(batch, 5).flatten().tolist() == [0, 0, 1, 2, 2]  # ComfyUI's resize_to_batch_size
    assert resize_to_batch(batch, 2).flatten().tolist() == [0, 2]
    assert resize_to_batch(batch, 1).flatten().tolist() == [0]


def tiny_vae():
    config = vae_config(TINY_VAE)
    theirs = diffusers.AutoencoderKL(**config).eval()
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=gen) * 0.02)
    return vae_from_state_dict(theirs.state_dict(), CPU), theirs


def test_the_conditioning_node_sets_the_unscaled_image_latent_on_both_prompts():
    vae, theirs = tiny_vae()
    pixels = torch.rand(1, 37, 42, 3, generator=torch.Generator().manual_seed(1))
    positive = [[torch.ones(1, 77, 24), {"pooled_output": None}]]
    negative = [[torch.zeros(1, 77, 24), {}]]
    pos, neg, latent = ip2p_conditioning(positive, negative, vae, pixels)
    image = pos[0][1]["concat_latent_image"]
    assert neg[0][1]["concat_latent_image"] is image and "concat_latent_image" not in positive[0][1]
    cropped = pixels[:, 2:34, 1:41]  # ComfyUI's centre crop to multiples of 8
    with torch.no_grad():
        expected = theirs.encode(cropped.movedim(-1, 1) * 2 - 1).latent_dist.mode()  # the pipeline's image latent
    assert_close(image, expected)
    assert torch.equal(latent["samples"], torch.zeros_like(image))


@pytest.mark.parametrize("cfg", [7.0])
def test_sampling_matches_the_diffusers_pipeline_at_image_guidance_one(cfg):
    ours, theirs = pair(IP2P, seed=3)
    model = unet_from_state_dict(ours.state_dict(), devices=CPU)
    vae, reference_vae = tiny_vae()
    scheduler = diffusers.EulerDiscreteScheduler(**SD1_SCHEDULE, timestep_spacing="trailing")  # whole timesteps
    pipeline = diffusers.StableDiffusionInstructPix2PixPipeline(
        vae=reference_vae, text_encoder=None, tokenizer=None, unet=theirs, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    gen = torch.Generator().manual_seed(2)
    text, empty = torch.randn(1, 7, 24, generator=gen), torch.randn(1, 7, 24, generator=gen)
    pixels = np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)
    noise = torch.randn(1, 4, 8, 6, generator=gen)
    with torch.no_grad():
        expected = pipeline(prompt_embeds=text, negative_prompt_embeds=empty, image=Image.fromarray(pixels),
                            num_inference_steps=5, guidance_scale=cfg, image_guidance_scale=1.0,
                            latents=noise.clone(), output_type="latent").images

    positive, negative, latent = ip2p_conditioning(
        [[text, {"pooled_output": None}]], [[empty, {}]], vae, torch.from_numpy(pixels)[None].float() / 255)
    denoiser = GuidedDenoiser(model, positive, negative, cfg, latent_image=latent["samples"])
    sigmas = scheduler.sigmas.double()
    x = noise.double() * pipeline.scheduler.init_noise_sigma
    got = sampler_function("euler")(lambda x, s: denoiser(x.float(), s.float()).double(), x, sigmas)
    assert_close(got.float(), expected)
    assert denoiser.calls == 5  # cond and uncond in one batch per step
