"""The shipped SD2.x, SDXL, inpainting, outpainting and merging workflows, end to end through the real server on
tiny random checkpoints named as the workflows name them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from engine.sd.checkpoint import read_checkpoint
from engine.sd.state_dict import load_state_dict
from tests.conftest import serve, stop_server
from tests.factories import (
    random_rrdbnet,
    write_tiny_sd2_checkpoint,
    write_tiny_sd15_checkpoint,
    write_tiny_sd15_inpaint_checkpoint,
    write_tiny_sdxl_checkpoint,
    write_tiny_sdxl_refiner_checkpoint,
)
from tests.server.test_sd_workflows import api_prompt, run_saving

diffusers = pytest.importorskip("diffusers")

CHECKPOINTS = {
    "sd_xl_base_1.0.safetensors": write_tiny_sdxl_checkpoint,
    "sd_xl_refiner_1.0.safetensors": write_tiny_sdxl_refiner_checkpoint,
    "v2-1_768-ema-pruned.safetensors": write_tiny_sd2_checkpoint,
    "sd-v1-5-inpainting.safetensors": write_tiny_sd15_inpaint_checkpoint,
    "v1-5-pruned-emaonly.safetensors": write_tiny_sd15_checkpoint,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("families")
    for name, write in CHECKPOINTS.items():
        write(base / "models" / "checkpoints" / name, dtype=torch.float16)
    write_tiny_sd15_checkpoint(base / "models" / "checkpoints" / "dreamshaper_8.safetensors", seed=7)
    with torch.random.fork_rng(devices=[]):  # a T2I-Adapter in diffusers' layout that fits the tiny SD1 UNet
        torch.manual_seed(0)
        adapter = diffusers.T2IAdapter(in_channels=3, channels=[32, 64], num_res_blocks=2, adapter_type="full_adapter")
    (base / "models" / "controlnet").mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in adapter.state_dict().items()},
                                str(base / "models" / "controlnet" / "t2iadapter_canny_sd15v2.safetensors"))
    upscalers = base / "models" / "upscale_models"
    upscalers.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": random_rrdbnet().state_dict()}, upscalers / "RealESRGAN_x4plus.pth")
    # The inpainting mask is the transparent part of the image (ComfyUI's LoadImage: mask = 1 - alpha).
    rgba = np.random.default_rng(0).integers(0, 255, (64, 64, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[16:48, 16:48, 3] = 0
    (base / "input").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba, "RGBA").save(base / "input" / "example.png")
    server = serve(base)
    yield server
    stop_server(server)


def test_sdxl_text_to_image_follows_prompt_and_size_conditioning(server):
    prompt = api_prompt(server, "txt2img_sdxl.json")
    image = run_saving(server, prompt)
    assert image.shape == (64, 64, 3)
    other_text = api_prompt(server, "txt2img_sdxl.json", {("6", "text_g"): "a bowl of ramen"})
    assert not np.array_equal(run_saving(server, other_text), image)
    other_size = api_prompt(server, "txt2img_sdxl.json", {("6", "crop_w"): 256})  # only the size embedding changes
    assert not np.array_equal(run_saving(server, other_size), image)


def test_sdxl_base_hands_over_to_the_refiner(server):
    prompt = api_prompt(server, "sdxl_refiner.json", {("10", "end_at_step"): 2, ("11", "start_at_step"): 2})
    refined = run_saving(server, prompt)
    assert refined.shape == (64, 64, 3)
    low_score = api_prompt(server, "sdxl_refiner.json", {("10", "end_at_step"): 2, ("11", "start_at_step"): 2,
                                                         ("15", "ascore"): 1.0})
    assert not np.array_equal(run_saving(server, low_score), refined)


def test_sd21_text_to_image(server):
    assert run_saving(server, api_prompt(server, "txt2img_sd21.json")).shape == (64, 64, 3)


def test_inpainting_checkpoint_reads_the_mask_and_masked_image(server):
    prompt = api_prompt(server, "inpaint_sd15.json")
    with_noise_mask = run_saving(server, prompt)
    assert with_noise_mask.shape == (64, 64, 3)
    whole = api_prompt(server, "inpaint_sd15.json", {("11", "noise_mask"): False})
    assert not np.array_equal(run_saving(server, whole), with_noise_mask)


def test_outpainting_extends_the_canvas(server):
    assert run_saving(server, api_prompt(server, "outpaint_sd15.json")).shape == (64, 64 + 2 * 128, 3)


def test_merge_workflow_saves_a_checkpoint_that_loads_back(server):
    run_saving(server, api_prompt(server, "merge_sd15.json"))
    saved = next((Path(server.base) / "output" / "checkpoints").glob("merged_*.safetensors"))
    keys = load_state_dict(saved)
    assert {key.split(".")[0] for key in keys} == {"model", "first_stage_model", "cond_stage_model"}
    model, clip, _ = read_checkpoint(saved)
    a, clip_a, _ = read_checkpoint(Path(server.base) / "models" / "checkpoints" / "v1-5-pruned-emaonly.safetensors")
    b, clip_b, _ = read_checkpoint(Path(server.base) / "models" / "checkpoints" / "dreamshaper_8.safetensors")
    key = "out.2.weight"
    halfway = (a.unet.state_dict()[key].float() + b.unet.state_dict()[key].float()) / 2
    assert torch.allclose(model.unet.state_dict()[key].float(), halfway, atol=1e-3)
    assert json.dumps(sorted(model.unet.state_dict())) == json.dumps(sorted(a.unet.state_dict()))


def test_t2i_adapter_guides_and_strength_zero_is_no_adapter(server):
    guided = run_saving(server, api_prompt(server, "t2i_adapter_sd15.json"))
    off = run_saving(server, api_prompt(server, "t2i_adapter_sd15.json", {("13", "strength"): 0.0}))
    plain = api_prompt(server, "t2i_adapter_sd15.json")
    plain["3"]["inputs"].update(positive=["6", 0], negative=["7", 0])
    for node_id in ("10", "11", "12", "13"):
        del plain[node_id]
    assert np.array_equal(off, run_saving(server, plain))
    assert not np.array_equal(guided, off)


def test_upscale_model_workflow_makes_the_image_four_times_larger(server):
    assert run_saving(server, api_prompt(server, "upscale_model_sd15.json")).shape == (256, 256, 3)
