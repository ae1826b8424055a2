"""SD2.1 unCLIP: the image conditioning (engine.sd.unclip) against diffusers' StableUnCLIPImg2ImgPipeline's
noise augmentation (StableUnCLIPImageNormalizer + a squared-cosine DDPM schedule) on identical embeddings and
noise, and unCLIP checkpoints read and sampled end to end."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from engine.sd.checkpoint import read_checkpoint, read_unclip_checkpoint
from engine.sd.components import CheckpointError
from engine.sd.families import SD2_UNCLIP, family_of_unet
from engine.sd.unclip import SEED_OFFSET, add_unclip, noise_level, unclip_adm
from engine.sd.unet_config import UNetConfig
from tests.factories import write_tiny_sd2_checkpoint
from tests.vision_factories import tiny_clip_vision, write_tiny_unclip_checkpoint

diffusers = pytest.importorskip("diffusers")
TOLERANCE = 1e-5  # float32: measured max abs difference 3e-6 (the noise-level embedding)


def diffusers_augmented(embeds: torch.Tensor, level: int, noise: torch.Tensor) -> torch.Tensor:
    from diffusers import DDPMScheduler, StableUnCLIPImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer

    pipeline = SimpleNamespace(image_normalizer=StableUnCLIPImageNormalizer(embeds.shape[-1]),
                               image_noising_scheduler=DDPMScheduler(num_train_timesteps=1000,
                                                                     beta_schedule="squaredcos_cap_v2"))
    with torch.no_grad():
        return StableUnCLIPImg2ImgPipeline.noise_image_embeddings(pipeline, embeds, level, noise=noise)


@pytest.mark.parametrize("augmentation", [0.0, 0.1, 0.5, 1.0])
def test_noise_augmentation_matches_diffusers(augmentation):
    embeds = torch.randn(1, 16, generator=torch.Generator().manual_seed(1))
    seed = 42
    noise = torch.randn(1, 16, generator=torch.Generator().manual_seed(seed + SEED_OFFSET))
    ours = unclip_adm([{"clip_vision_output": {"image_embeds": embeds}, "strength": 1.0,
                        "noise_augmentation": augmentation}], 32, seed=seed)
    theirs = diffusers_augmented(embeds, noise_level(augmentation), noise)
    assert (ours - theirs).abs().max() < TOLERANCE


def test_strength_scales_and_several_images_are_merged_as_comfyui_merges_them():
    embeds = torch.randn(2, 16, generator=torch.Generator().manual_seed(2))
    one = [{"clip_vision_output": {"image_embeds": embeds[:1]}, "strength": 0.5, "noise_augmentation": 0.2}]
    assert torch.allclose(unclip_adm(one, 32, seed=5), 0.5 * unclip_adm([{**one[0], "strength": 1.0}], 32, seed=5))
    both = [{"clip_vision_output": {"image_embeds": embeds}, "strength": 1.0, "noise_augmentation": 0.0}]
    merged = unclip_adm(both, 32, seed=5)
    generator = torch.Generator().manual_seed(5 + SEED_OFFSET)
    first = diffusers_augmented(embeds[:1], 0, torch.randn(1, 16, generator=generator))
    generator.manual_seed(5 + SEED_OFFSET)
    second = diffusers_augmented(embeds[1:], 0, torch.randn(1, 16, generator=generator))
    summed = (first + second)[:, :16]
    expected = diffusers_augmented(summed, noise_level(0.05), torch.randn(1, 16, generator=generator))
    assert (merged - expected).abs().max() < TOLERANCE
    assert torch.equal(unclip_adm(None, 32), torch.zeros(1, 32))


def test_unclip_conditioning_appends_and_strength_zero_changes_nothing():
    conditioning = [[torch.zeros(1, 77, 8), {"pooled_output": None}]]
    output = {"image_embeds": torch.ones(1, 16)}
    assert add_unclip(conditioning, output, 0.0, 0.1) is conditioning
    twice = add_unclip(add_unclip(conditioning, output, 1.0, 0.1), output, 0.5, 0.0)
    assert [item["strength"] for item in twice[0][1]["unclip_conditioning"]] == [1.0, 0.5]
    assert "unclip_conditioning" not in conditioning[0][1]


def test_unclip_checkpoints_load_with_their_clip_vision_tower_and_take_the_image(tmp_path):
    path = write_tiny_unclip_checkpoint(tmp_path / "sd21-unclip-h.safetensors")
    model, clip, vae, clip_vision = read_unclip_checkpoint(path)
    assert model.family is SD2_UNCLIP
    image = torch.rand(1, 32, 32, 3)
    reference = tiny_clip_vision(seed=3)
    from engine.sd.clip_vision import clip_preprocess

    expected = reference(pixel_values=clip_preprocess(image, 28)).image_embeds
    output = clip_vision.encode_image(image)
    assert (output.image_embeds - expected).abs().max() < TOLERANCE
    latent = torch.zeros(1, 4, 8, 8)
    blank, _ = model.extra_inputs({}, latent, None, True)
    assert torch.equal(blank, torch.zeros(1, 32))  # no image: zeros, as ComfyUI
    options = add_unclip([[torch.zeros(1, 77, 32), {}]], output, 1.0, 0.0)[0][1]
    y, _ = model.extra_inputs(options, latent, None, False, seed=3)
    assert torch.allclose(y, unclip_adm(options["unclip_conditioning"], 32, seed=3))
    assert read_checkpoint(path)[0].family is SD2_UNCLIP  # CheckpointLoaderSimple reads it too


def test_checkpoints_without_a_clip_vision_tower_are_refused_by_the_unclip_loader(tmp_path):
    path = write_tiny_sd2_checkpoint(tmp_path / "v2-1.safetensors")
    with pytest.raises(CheckpointError, match="no CLIP vision encoder"):
        read_unclip_checkpoint(path)


def test_published_unclip_unets_are_recognised():
    for adm in (1536, 2048):
        config = UNetConfig(context_dim=1024, use_linear_in_transformer=True, num_head_channels=64,
                            adm_in_channels=adm)
        assert family_of_unet(config) is SD2_UNCLIP


def test_the_sampler_hands_its_seed_to_the_model_inputs(tmp_path):
    """unCLIP's image-embedding noise comes from the sampler's seed (ComfyUI: seed - 10), so KSampler must pass it."""
    from engine.sampling.ksampler import sample_latent

    model = read_checkpoint(write_tiny_sd2_checkpoint(tmp_path / "v2-1.safetensors"))[0]
    seeds = []
    family_inputs = model.extra_inputs

    def recording(options, latent, mask, negative, seed=0):
        seeds.append(seed)
        return family_inputs(options, latent, mask, negative, seed)

    model.extra_inputs = recording
    positive = [[torch.zeros(1, 77, model.unet.config.context_dim), {}]]
    sample_latent(model, 1234, 1, 2.0, "euler", "normal", positive, positive, {"samples": torch.zeros(1, 4, 8, 8)})
    assert seeds and set(seeds) == {1234}
