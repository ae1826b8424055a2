"""ComfyUI's model-loading surface (``comfy.sd``, ``comfy.sd1_clip``, ``comfy.sdxl_clip``, ``comfy.controlnet``,
``comfy.ops``, ...) and ComfyUI's methods on the CLIP, VAE and CONTROL_NET values, against Atelier's own nodes."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from runtime import Runtime
from tests.compat.conftest import bound_runtime
from tests.factories import (
    random_rrdbnet,
    tiny_vae_state_dict,
    write_tiny_sd15_checkpoint,
    write_tiny_sdxl_checkpoint,
    write_tiny_vae,
)

PROMPT = "a (red:1.3) fox, (sleeping) in the snow"


def comfy(name: str):
    """A ComfyUI module by its name (importable once ``compat/comfyui`` is on the path, as a bound runtime puts it)."""
    from compat.host import install_path

    install_path()
    return importlib.import_module(name)


@pytest.fixture
def runtime(tmp_path: Path):
    models = tmp_path / "models"
    write_tiny_sd15_checkpoint(models / "checkpoints" / "sd1.safetensors")
    write_tiny_sdxl_checkpoint(models / "checkpoints" / "xl.safetensors")
    write_tiny_vae(models / "vae" / "vae.safetensors", seed=3)
    runtime = bound_runtime(tmp_path, models_dir=models)
    yield runtime
    runtime.close()


def context(runtime: Runtime) -> SimpleNamespace:
    return SimpleNamespace(folders=runtime.folders, models=runtime.models, devices=runtime.devices)


def atelier_checkpoint(runtime: Runtime, name: str) -> tuple:
    from nodes.builtin.sd import CheckpointLoaderSimple

    return CheckpointLoaderSimple().execute(name, context(runtime))


def atelier_encode(runtime: Runtime, clip, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    from nodes.builtin.sd import CLIPTextEncode

    ((cond, options),) = CLIPTextEncode().execute(text, clip, context(runtime))[0]
    return cond, options["pooled_output"]


@pytest.mark.parametrize("name, letters", [("sd1.safetensors", ["l"]), ("xl.safetensors", ["g", "l"])])
def test_a_checkpoint_loads_shared_and_encodes_as_clip_text_encode(runtime: Runtime, name: str, letters) -> None:
    sd = comfy("comfy.sd")
    path = runtime.folders.model_path("checkpoints", name)
    model, clip, vae, clipvision = sd.load_checkpoint_guess_config(str(path))
    atelier_model, atelier_clip, atelier_vae = atelier_checkpoint(runtime, name)
    assert clip is atelier_clip and vae is atelier_vae and clipvision is None  # the cached objects, read once
    assert model.unet is atelier_model.unet and model is not atelier_model  # a clone, as the node gives
    assert isinstance(clip, sd.CLIP) and isinstance(vae, sd.VAE)

    tokens = clip.tokenize(PROMPT)
    assert sorted(tokens) == letters
    first = tokens["l"][0]
    assert first[0] == (49406, 1.0) and len(first) == 77 and any(weight == pytest.approx(1.3) for _, weight in first)
    cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
    expected_cond, expected_pooled = atelier_encode(runtime, clip, PROMPT)
    assert torch.equal(cond, expected_cond) and torch.equal(pooled, expected_pooled)
    assert torch.equal(clip.encode(PROMPT), expected_cond)
    assert torch.equal(clip.encode_from_tokens(tokens, return_dict=True)["pooled_output"], expected_pooled)
    ((scheduled, options),) = clip.encode_from_tokens_scheduled(tokens, add_dict={"strength": 0.5})
    assert torch.equal(scheduled, expected_cond) and options["strength"] == 0.5
    assert torch.equal(clip.cond_stage_model.encode_token_weights(tokens)[0], expected_cond)


def test_clip_layer_and_word_ids(runtime: Runtime) -> None:
    sd = comfy("comfy.sd")
    _, clip, _, _ = sd.load_checkpoint_guess_config(str(runtime.folders.model_path("checkpoints", "sd1.safetensors")))
    skipped = clip.clone()
    skipped.clip_layer(-2)
    reference = clip.clone()
    reference.set_last_layer(-2)
    assert torch.equal(skipped.encode("a cat"), atelier_encode(runtime, reference, "a cat")[0])
    assert not torch.equal(skipped.encode("a cat"), clip.encode("a cat"))

    window = clip.tokenize("a red (fox:1.2)", return_word_ids=True)["l"][0]
    assert [(weight, word) for _, weight, word in window[:6]] == [(1.0, 0), (1.0, 1), (1.0, 2), (1.2, 3), (1.0, 0),
                                                                   (1.0, 0)]
    assert clip.tokenizer.clip_l.tokenize_with_weights("a cat") == clip.tokenize("a cat")["l"]


def test_sdxl_tokens_of_unequal_length_are_cut_as_comfyui_cuts(runtime: Runtime) -> None:
    sd = comfy("comfy.sd")
    _, clip, _, _ = sd.load_checkpoint_guess_config(str(runtime.folders.model_path("checkpoints", "xl.safetensors")))
    long, short = clip.tokenize("fox " * 100), clip.tokenize("a fox")
    assert len(long["l"]) == 2 and len(short["g"]) == 1
    cond, pooled = clip.encode_from_tokens({"l": long["l"], "g": short["g"]}, return_pooled=True)
    first, first_pooled = clip.encode_from_tokens({"l": long["l"][:1], "g": short["g"]}, return_pooled=True)
    assert cond.shape[1] == 77 and torch.equal(cond, first) and torch.equal(pooled, first_pooled)


def test_text_encoder_patches_in_comfyui_names(runtime: Runtime) -> None:
    sd = comfy("comfy.sd")
    _, clip, _, _ = sd.load_checkpoint_guess_config(str(runtime.folders.model_path("checkpoints", "xl.safetensors")))
    key = "clip_g.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"
    weight = clip.get_sd()[key]
    patched = clip.clone()
    assert patched.add_patches({key: (torch.ones_like(weight),), "nothing.weight": (weight,)}, 0.5) == [key]
    assert torch.equal(patched.get_sd()[key], weight + 0.5)
    assert torch.equal(clip.get_sd()[key], weight)  # the cached CLIP keeps its weights
    merged = clip.clone()  # ComfyUI's CLIPMergeSimple: another CLIP's key patches, ratio 0.25
    merged.add_patches({key: patched.get_key_patches()[key]}, 0.75, 0.25)
    torch.testing.assert_close(merged.get_sd()[key], 0.25 * weight + 0.75 * (weight + 0.5))


def test_lora_for_models_equals_lora_loader(runtime: Runtime) -> None:
    from nodes.builtin.adapters import LoraLoader

    sd = comfy("comfy.sd")
    gen = torch.Generator().manual_seed(0)
    lora = {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.randn(32, 2, generator=gen),
            "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.randn(2, 32, generator=gen),
            "lora_unet_input_blocks_1_1_proj_in.lora_up.weight": torch.randn(32, 2, 1, 1, generator=gen),
            "lora_unet_input_blocks_1_1_proj_in.lora_down.weight": torch.randn(2, 32, 1, 1, generator=gen)}
    folder = runtime.folders.model_dirs("loras")[0]
    folder.mkdir(parents=True, exist_ok=True)
    save_file(lora, str(folder / "tiny.safetensors"))
    model, clip, _ = atelier_checkpoint(runtime, "sd1.safetensors")
    ours_model, ours_clip = sd.load_lora_for_models(model, clip, lora, 0.7, 0.4)
    theirs_model, theirs_clip = LoraLoader().execute(model, clip, "tiny.safetensors", 0.7, 0.4,
                                                     context(runtime)).outputs
    assert torch.equal(ours_clip.encode("a cat"), theirs_clip.encode("a cat"))
    assert not torch.equal(ours_clip.encode("a cat"), clip.encode("a cat"))
    ours, theirs = ours_model.patched_state_dict(), theirs_model.patched_state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_vae_from_a_state_dict_equals_vae_loader(runtime: Runtime) -> None:
    from nodes.builtin.sd import VAELoader

    sd = comfy("comfy.sd")
    (loaded,) = VAELoader().execute("vae.safetensors", context(runtime))
    vae = sd.VAE(sd=tiny_vae_state_dict(seed=3))
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(vae.decode(latent), loaded.decode(latent))
    assert vae.spacial_compression_decode() == vae.downscale_ratio == vae.upscale_ratio == 8
    assert vae.latent_channels == 4 and vae.get_sd().keys() == loaded.model.state_dict().keys()
    assert vae.memory_used_decode(latent.shape, vae.vae_dtype) > 0
    # ComfyUI's units: decode tiles in latent pixels, encode tiles in image pixels
    torch.testing.assert_close(vae.decode_tiled(latent, tile_x=8, tile_y=8, overlap=2), vae.decode(latent))
    image = vae.decode(latent)
    torch.testing.assert_close(vae.encode_tiled(image, tile_x=64, tile_y=64, overlap=16), vae.encode(image))
    assert vae.decode_tiled(latent, tile_x=4, tile_y=8, overlap=1).shape == image.shape


def test_controlnet_copy_and_set_cond_hint_build_the_hint_the_apply_node_builds(tmp_path: Path) -> None:
    from engine.controlnet import ControlNet, ControlNetHint
    from nodes.builtin.adapters import apply_controlnet
    from tests.factories import TINY_UNET

    controlnet = comfy("comfy.controlnet")
    net = ControlNet(TINY_UNET)
    image = torch.rand(1, 32, 32, 3)
    ((_, expected),) = apply_controlnet([[torch.zeros(1), {}]], net, image, 0.8, 0.1, 0.9)
    previous = ControlNetHint(net, image)
    hint = net.copy()
    returned = hint.set_cond_hint(image.movedim(-1, 1), 0.8, (0.1, 0.9))
    hint.set_previous_controlnet(previous)
    assert returned is hint and isinstance(hint, controlnet.ControlBase) and isinstance(net, controlnet.ControlNet)
    assert (hint.net, hint.strength, hint.timestep_percent_range) == (expected["control"].net, 0.8, (0.1, 0.9))
    assert torch.equal(hint.hint, expected["control"].hint) and hint.previous_controlnet is previous
    assert torch.equal(hint.cond_hint_original, image.movedim(-1, 1))
    assert hint.copy().previous_controlnet is None and net.strength == 1.0
    with pytest.raises(NotImplementedError):
        controlnet.ControlLora()
    assert controlnet.StrengthType.CONSTANT.value == 1


def test_prompt_weight_names_are_atelier_parsing(comfy_runtime: Runtime) -> None:
    from engine.sd.prompt_weights import parse_prompt

    sd1_clip = comfy("comfy.sd1_clip")
    text = r"a (b:1.2) \(c\) ((d))"
    weights = sd1_clip.token_weights(sd1_clip.escape_important(text), 1.0)
    assert [(sd1_clip.unescape_important(t), w) for t, w in weights] == parse_prompt(text)
    assert sd1_clip.parse_parentheses("a (b) c") == ["a ", "(b)", " c"]


def test_sdxl_encoder_names_match_the_values(runtime: Runtime) -> None:
    sd1_clip, sdxl_clip = comfy("comfy.sd1_clip"), comfy("comfy.sdxl_clip")
    _, xl, _ = atelier_checkpoint(runtime, "xl.safetensors")
    _, sd1, _ = atelier_checkpoint(runtime, "sd1.safetensors")
    assert isinstance(xl.cond_stage_model, sdxl_clip.SDXLClipModel)
    assert not isinstance(sd1.cond_stage_model, sdxl_clip.SDXLClipModel | sdxl_clip.SDXLRefinerClipModel)
    assert isinstance(xl.cond_stage_model.clip_g, sdxl_clip.SDXLClipG)
    assert isinstance(sd1.cond_stage_model, sd1_clip.SD1ClipModel | sd1_clip.SDClipModel)


def test_ops_layers_cast_to_the_input() -> None:
    ops = comfy("comfy.ops")
    layer = ops.manual_cast.Linear(4, 3, dtype=torch.bfloat16)
    torch.nn.init.normal_(layer.weight), torch.nn.init.normal_(layer.bias)  # reset_parameters is skipped
    x = torch.randn(2, 4)
    assert layer(x).dtype == torch.float32
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight.float(), layer.bias.float()))
    conv = ops.disable_weight_init.Conv2d(3, 2, 3)
    assert not conv.comfy_cast_weights and conv(torch.randn(1, 3, 5, 5)).shape == (1, 2, 3, 3)
    assert ops.pick_operations(torch.float16, torch.float32) is ops.manual_cast
    assert ops.pick_operations(torch.float32, None) is ops.disable_weight_init
    weight, bias = ops.cast_bias_weight(layer, x)
    assert weight.dtype == bias.dtype == torch.float32


def test_upscale_model_from_a_state_dict_equals_the_loader(tmp_path: Path) -> None:
    from engine.upscale import read_upscale_model

    model_loading = comfy("comfy_extras.chainner_models.model_loading")
    weights = random_rrdbnet(seed=2).state_dict()
    save_file(weights, str(tmp_path / "x.safetensors"))
    image = torch.rand(1, 3, 8, 8)
    ours, theirs = model_loading.load_state_dict(weights), read_upscale_model(tmp_path / "x.safetensors")
    assert torch.equal(ours(image), theirs(image))


def test_unsupported_names_say_why(comfy_runtime: Runtime) -> None:
    with pytest.raises(NotImplementedError):
        comfy("comfy.sd").load_clip(["x.safetensors"], clip_type=comfy("comfy.sd").CLIPType.FLUX)
    convert = comfy("comfy.diffusers_convert")
    assert convert.convert_text_enc_state_dict({"a": 1}) == {"a": 1}
