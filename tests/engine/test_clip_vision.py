"""CLIP vision (engine.sd.clip_vision) against transformers' CLIPVisionModelWithProjection on identical random
weights, in transformers' and OpenAI/OpenCLIP's key layouts, and ComfyUI's preprocessing."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch

from engine.sd.clip_vision import (
    ClipVisionError,
    clip_preprocess,
    clip_vision_from_state_dict,
    read_clip_vision,
    vision_config,
)
from tests.vision_factories import hf_vision_to_openclip, tiny_clip_vision

TOLERANCE = 1e-5  # float32, the same network: measured max abs difference 7e-7


def reference(model, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    out = model(pixel_values=pixels, output_hidden_states=True)
    return {"image_embeds": out.image_embeds, "last_hidden_state": out.last_hidden_state,
            "penultimate_hidden_states": out.hidden_states[-2]}


@pytest.mark.parametrize("layout", ["transformers", "openclip"])
def test_outputs_match_transformers_on_identical_weights(layout):
    model = tiny_clip_vision(seed=1)
    sd = model.state_dict() if layout == "transformers" else hf_vision_to_openclip(model.state_dict())
    encoder = clip_vision_from_state_dict(sd)
    image = torch.rand(2, 40, 50, 3, generator=torch.Generator().manual_seed(0))
    ours = encoder.encode_image(image)
    expected = reference(model, clip_preprocess(image, 28))
    for name, tensor in expected.items():
        assert ours[name].shape == tensor.shape
        assert (ours[name] - tensor).abs().max() < TOLERANCE, name
    assert ours.image_embeds is ours["image_embeds"] and ours.mm_projected is None


def test_full_openai_files_are_read_from_their_visual_tower(tmp_path):
    model = tiny_clip_vision(seed=2)
    full = {"visual." + k: v.contiguous() for k, v in hf_vision_to_openclip(model.state_dict()).items()}
    full["token_embedding.weight"] = torch.zeros(10, 8)  # the text tower is ignored
    safetensors.torch.save_file(full, str(tmp_path / "clip.safetensors"))
    image = torch.rand(1, 28, 28, 3)
    ours = read_clip_vision(tmp_path / "clip.safetensors").encode_image(image)
    assert (ours.image_embeds - reference(model, clip_preprocess(image, 28))["image_embeds"]).abs().max() < TOLERANCE


def test_preprocessing_is_comfyuis():
    """Short side to the model's size (bicubic, antialiased), centre crop, 8-bit rounding, CLIP mean and std."""
    image = torch.rand(1, 30, 60, 3)
    pixels = clip_preprocess(image, 20)
    resized = torch.nn.functional.interpolate(image.movedim(-1, 1), size=(20, 40), mode="bicubic", antialias=True)
    expected = torch.clip(resized[..., :, 10:30] * 255, 0, 255).round() / 255
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)
    assert torch.allclose(pixels, (expected - mean) / std, atol=1e-6)
    squashed = clip_preprocess(image, 20, crop=False)
    assert squashed.shape == (1, 3, 20, 20) and not torch.allclose(squashed, pixels)
    same_size = torch.rand(1, 20, 20, 4)  # an alpha channel is dropped; no resize at the model's size
    assert torch.allclose(clip_preprocess(same_size, 20), (torch.round(same_size[..., :3].movedim(-1, 1) * 255) / 255
                                                           - mean) / std, atol=1e-6)


def test_preprocessing_is_close_to_transformers_image_processor():
    """transformers resizes with PIL (also bicubic), so on a smooth image the two agree up to resampling."""
    from transformers import CLIPImageProcessor

    coarse = torch.rand(1, 3, 6, 8, generator=torch.Generator().manual_seed(3))
    image = torch.nn.functional.interpolate(coarse, size=(300, 400), mode="bilinear").movedim(1, -1)
    processor = CLIPImageProcessor()  # OpenAI's: short side 224, centre crop 224, CLIP mean and std
    theirs = processor(images=(image[0] * 255).round().to(torch.uint8).numpy(), return_tensors="pt")["pixel_values"]
    ours = clip_preprocess(image)
    assert ours.shape == theirs.shape == (1, 3, 224, 224)
    assert (ours - theirs).abs().mean() < 0.02  # measured 0.013 (max 0.09); unrelated images: 0.4


def test_published_sizes_are_read_from_shapes():
    """ViT-L/14 (quick-GELU, 16 heads), ViT-H/14 and ViT-bigG/14 (GELU, 16 heads), sized from tensor shapes."""
    def shapes(width: int, layers: int, inner: int, projection: int) -> dict[str, torch.Tensor]:
        sd = {"vision_model.embeddings.class_embedding": torch.empty(width, device="meta"),
              "vision_model.embeddings.patch_embedding.weight": torch.empty(width, 3, 14, 14, device="meta"),
              "vision_model.embeddings.position_embedding.weight": torch.empty(257, width, device="meta"),
              "vision_model.encoder.layers.0.mlp.fc1.weight": torch.empty(inner, width, device="meta"),
              "visual_projection.weight": torch.empty(projection, width, device="meta")}
        sd[f"vision_model.encoder.layers.{layers - 1}.layer_norm1.weight"] = torch.empty(width, device="meta")
        return sd

    for width, layers, inner, projection, act in [(1024, 24, 4096, 768, "quick_gelu"), (1280, 32, 5120, 1024, "gelu"),
                                                  (1664, 48, 8192, 1280, "gelu")]:
        config = vision_config(shapes(width, layers, inner, projection))
        assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (width, layers, inner)
        assert (config.num_attention_heads, config.hidden_act, config.image_size) == (16, act, 224)
        assert config.projection_dim == projection and config.patch_size == 14


def test_files_without_a_clip_vision_tower_are_refused(tmp_path):
    safetensors.torch.save_file({"encoder.layer.0.weight": torch.zeros(2)}, str(tmp_path / "dino.safetensors"))
    with pytest.raises(ClipVisionError, match="dino.safetensors: no CLIP vision tower"):
        read_clip_vision(tmp_path / "dino.safetensors")
