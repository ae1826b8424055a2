"""ComfyUI's ``comfy.clip_vision`` and ``comfy.sd``'s style and unCLIP loaders as views over Atelier's engine."""

from __future__ import annotations

import torch

from tests.vision_factories import tiny_clip_vision, tiny_style_adapter, write_tiny_unclip_checkpoint


def test_comfy_clip_vision_loads_through_the_model_cache_and_encodes(comfy_runtime, tmp_path):
    import comfy.clip_vision
    import comfy.sd

    from engine.sd.clip_vision import ClipVision

    tiny_clip_vision(seed=1).save_pretrained(tmp_path / "hf", safe_serialization=True)
    path = str(tmp_path / "hf" / "model.safetensors")
    model = comfy.clip_vision.load(path)
    assert isinstance(model, comfy.clip_vision.ClipVisionModel) and comfy.clip_vision.ClipVisionModel is ClipVision
    assert comfy.clip_vision.load(path) is model  # cached
    output = model.encode_image(torch.rand(1, 32, 32, 3))
    assert isinstance(output, comfy.clip_vision.Output) and output["image_embeds"].shape == (1, 16)
    assert comfy.clip_vision.load_clipvision_from_sd({"nothing": torch.zeros(1)}) is None

    torch.save(tiny_style_adapter().state_dict(), tmp_path / "style.pth")
    style = comfy.sd.load_style_model(str(tmp_path / "style.pth"))
    assert isinstance(style, comfy.sd.StyleModel) and style.get_cond(output).shape == (1, 3, 32)

    unclip = write_tiny_unclip_checkpoint(tmp_path / "unclip.safetensors")
    parts = comfy.sd.load_checkpoint_guess_config(str(unclip), output_clipvision=True)
    assert isinstance(parts[3], ClipVision)
    assert comfy.sd.load_checkpoint_guess_config(str(unclip))[3] is None
