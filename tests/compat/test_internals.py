"""ComfyUI's internals that packs import (``comfy.ldm.*``, ``comfy.cldm``, ``comfy.model_detection``, ``comfy.hooks``,
video-model and TAESD modules, ``comfy.samplers.sample``): views are Atelier's own objects and give what Atelier's
engine gives; stand-ins import, can be subclassed, and raise ``NotImplementedError`` naming what Atelier lacks."""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from compat import COMFYUI_MODULES
from compat.host import install_path
from tests.conftest import ROOT
from tests.factories import TINY_UNET, tiny_unet_state_dict

install_path()

STAND_INS = {  # module -> names packs import from it, every one refusing when used
    "comfy.ldm.flux.math": ["apply_rope"],
    "comfy.ldm.lightricks.model": ["apply_rotary_emb"],
    "comfy.ldm.lightricks.vae.pixel_norm": ["PixelNorm"],
    "comfy.ldm.lightricks.vae.causal_conv3d": ["CausalConv3d"],
    "comfy.ldm.lightricks.vae.causal_video_autoencoder": ["ResnetBlock3D", "Encoder", "Decoder"],
    "comfy.ldm.wan.vae": ["RMS_norm", "CausalConv3d"],
    "comfy.ldm.wan.model": ["WanT2VCrossAttention", "WanI2VCrossAttention"],
    "comfy.ldm.minimax.model": ["_mod_scale_shift", "_mod_gate", "PackedLayout", "MiniMaxH3Model"],
    "comfy.ldm.lumina.model": ["FeedForward"],
    "comfy.taesd.taesd": ["Block", "Clamp", "conv"],
    "comfy.taesd.taehv": ["TAEHV", "conv", "apply_model_with_memblocks"],
    "comfy.quant_ops": ["QuantizedTensor"],
    "comfy.hooks": ["HookGroup", "TransformerOptionsHook", "WeightHook", "HookKeyframeGroup", "create_hook_lora"],
    "comfy.model_detection": ["convert_config"],
    "comfy.ldm.modules.attention": ["SpatialVideoTransformer"],
    "comfy.ldm.modules.diffusionmodules.openaimodel": ["VideoResBlock"],
    "comfy_extras.nodes_lt": ["get_noise_mask", "_append_guide_attention_entry"],
    "comfy_api.torch_helpers": ["set_torch_compile_wrapper"],
}


def comfy(name: str):
    return importlib.import_module(name)


def test_the_torch_free_modules_import_without_torch():
    modules = ["comfy.model_detection", "comfy.hooks", "comfy.ldm.util", "comfy.cldm.cldm", "comfy.samplers",
               "comfy_api.torch_helpers"]
    code = (f"import sys; sys.path.insert(0, {str(COMFYUI_MODULES)!r}); import {', '.join(modules)}; "
            "import comfy.hooks as h; assert h.EnumHookScope.HookedOnly.value == 'hooked_only'; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_ldm_names_are_atelier_classes():
    from engine import controlnet
    from engine.sd import attention, unet, vae_model

    openaimodel = comfy("comfy.ldm.modules.diffusionmodules.openaimodel")
    assert openaimodel.UNetModel is unet.UNetModel
    assert openaimodel.TimestepEmbedSequential is unet.TimestepBlock
    assert (openaimodel.ResBlock, openaimodel.Downsample) == (unet.ResBlock, unet.Downsample)
    attn = comfy("comfy.ldm.modules.attention")
    assert attn.BasicTransformerBlock is attention.BasicTransformerBlock
    assert attn.SpatialTransformer is attention.SpatialTransformer
    assert comfy("comfy.ldm.modules.diffusionmodules.model").ResnetBlock is vae_model.ResnetBlock
    assert comfy("comfy.cldm.cldm").ControlNet is controlnet.ControlNet is comfy("comfy.controlnet").ControlNet


def test_optimized_attention_is_atelier_attention_in_comfyuis_shapes():
    from engine.sd.attention import attention

    opt = comfy("comfy.ldm.modules.attention")
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 5, 16, generator=gen) for _ in range(3))
    expected = attention(q, k, v, 4)
    assert torch.equal(opt.optimized_attention(q, k, v, 4), expected)

    def heads_first(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(2, 5, 4, 4).transpose(1, 2)

    out = opt.optimized_attention(*map(heads_first, (q, k, v)), 4, skip_reshape=True, skip_output_reshape=True)
    assert torch.allclose(out, heads_first(expected), atol=1e-6)


def test_a_mask_keeps_attention_to_the_allowed_keys():
    opt = comfy("comfy.ldm.modules.attention")
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 6, 8, generator=gen) for _ in range(3))
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[:, :2] = True
    masked = opt.optimized_attention_masked(q, k, v, 2, mask=mask)
    assert torch.allclose(masked, opt.optimized_attention(q, k[:, :2], v[:, :2], 2), atol=1e-6)
    assert not torch.allclose(masked, opt.optimized_attention(q, k, v, 2), atol=1e-3)


def test_wrap_attn_defers_to_the_override_in_transformer_options():
    opt = comfy("comfy.ldm.modules.attention")
    seen = []

    def override(func, *args, **kwargs):
        seen.append(func.__name__)
        return func(*args, **kwargs) * 0

    q = torch.ones(1, 2, 4)
    out = opt.optimized_attention(q, q, q, 1, transformer_options={"optimized_attention_override": override})
    assert seen == ["attention_pytorch"] and not out.any()


def test_diffusionmodules_helpers():
    from engine.sd.unet import timestep_embedding

    util = comfy("comfy.ldm.modules.diffusionmodules.util")
    t = torch.tensor([1.0, 500.0])
    assert torch.equal(util.timestep_embedding(t, 8), timestep_embedding(t, 8))
    odd = util.timestep_embedding(t, 9)
    assert odd.shape == (2, 9) and not odd[:, -1].any()
    layer = util.zero_module(torch.nn.Linear(3, 3))
    assert not layer.weight.any() and not layer.bias.any()


def test_forward_timestep_embed_runs_the_block_as_the_unet_does():
    from engine.sd.unet import Downsample, ResBlock, TimestepBlock

    openaimodel = comfy("comfy.ldm.modules.diffusionmodules.openaimodel")
    torch.manual_seed(0)
    block = TimestepBlock(ResBlock(32, 16, 32), Downsample(32))
    x, emb = torch.randn(1, 32, 8, 8), torch.randn(1, 16)
    assert torch.equal(openaimodel.forward_timestep_embed(block, x, emb, None), block(x, emb, None))


def test_model_detection_reads_atelier_configs():
    from engine.sd.unet_names import ldm_to_diffusers

    detection = comfy("comfy.model_detection")
    weights = tiny_unet_state_dict()
    prefixed = {f"model.diffusion_model.{k}": v for k, v in weights.items()} | {"other.weight": torch.zeros(1)}
    config = detection.detect_unet_config(prefixed, "model.diffusion_model.")
    assert config == dataclasses.asdict(TINY_UNET)
    model_config = detection.model_config_from_unet(prefixed, "model.diffusion_model.")
    assert model_config.unet_config == config
    assert isinstance(model_config.latent_format, comfy("comfy.latent_formats").SD15)
    names = ldm_to_diffusers(TINY_UNET, list(weights))
    assert detection.unet_config_from_diffusers_unet({names[k]: v for k, v in weights.items()}) == config
    levels = len(TINY_UNET.channel_mult)  # conv_in, then each level's res blocks and all but the last downsampling
    assert detection.count_blocks(weights, "input_blocks.{}.") == 1 + levels * TINY_UNET.num_res_blocks + levels - 1
    assert detection.detect_unet_config({"foo.weight": torch.zeros(1)}, "") is None
    assert detection.model_config_from_unet({"foo.weight": torch.zeros(1)}, "", use_base_if_no_match=True) is None


def test_a_diffusers_unet_converts_and_loads_as_its_original_layout(comfy_runtime):
    from engine.sd.unet_names import ldm_to_diffusers

    weights = tiny_unet_state_dict()
    names = ldm_to_diffusers(TINY_UNET, list(weights))
    diffusers = {names[k]: v for k, v in weights.items()}
    converted = comfy("comfy.diffusers_convert").convert_unet_state_dict(diffusers)
    assert converted.keys() == weights.keys() and all(converted[k] is weights[k] for k in weights)
    sd = comfy("comfy.sd")
    loaded, original = (sd.load_diffusion_model_state_dict(w).unet.state_dict() for w in (diffusers, weights))
    assert loaded.keys() == original.keys() and all(torch.equal(loaded[k], original[k]) for k in original)

@pytest.mark.parametrize(("module", "name"), [(m, n) for m, names in STAND_INS.items() for n in names])
def test_stand_ins_import_and_refuse_clearly(module, name):
    thing = getattr(comfy(module), name)
    if isinstance(thing, type):
        subclass = type("PackSubclass", (thing,), {})  # packs subclass them at import
        with pytest.raises(NotImplementedError, match=f"{module}.{name}"):
            subclass()
    else:
        with pytest.raises(NotImplementedError, match=f"{module}.{name}"):
            thing(torch.zeros(1))


def test_the_ltx_guide_node_is_subclassable_and_refuses():
    nodes_lt = comfy("comfy_extras.nodes_lt")
    io = comfy("comfy_api.latest").io

    class Multi(nodes_lt.LTXVAddGuide):
        @classmethod
        def define_schema(cls):
            return io.Schema(node_id="Multi", inputs=[io.Int.Input("n")], outputs=[io.Int.Output()])

    assert issubclass(Multi, io.ComfyNode)
    with pytest.raises(NotImplementedError, match="LTXVAddGuide.encode"):
        Multi.encode(None, 8, 8, None, (1, 1, 1))


def test_hooks_keep_comfyuis_alias_and_enums():
    hooks = comfy("comfy.hooks")
    assert hooks.WrapperHook is hooks.TransformerOptionsHook
    assert issubclass(hooks.WeightHook, hooks.Hook)
    assert hooks.EnumHookType.TransformerOptions.value == "transformer_options"


def test_get_area_and_mult_refuses():
    with pytest.raises(NotImplementedError, match="get_area_and_mult"):
        comfy("comfy.samplers").get_area_and_mult({}, torch.zeros(1), torch.zeros(1))


def test_samplers_sample_is_atelier_sampling_over_a_schedule(tmp_path):
    from engine.device import Devices
    from engine.sampling import ksampler
    from engine.sampling.schedulers import get_sigmas
    from engine.sd.model_files import load_diffusion_model

    save_file(tiny_unet_state_dict(), tmp_path / "unet.safetensors")
    model = load_diffusion_model(tmp_path / "unet.safetensors", devices=Devices(cpu_only=True))
    gen = torch.Generator().manual_seed(3)
    positive, negative = ([[torch.randn(1, 8, model.unet.config.context_dim, generator=gen), {}]] for _ in range(2))
    noise, latent = torch.randn(1, 4, 4, 4, generator=gen), torch.zeros(1, 4, 4, 4)
    sigmas = get_sigmas(model.model_sampling, "karras", 3)
    samplers = comfy("comfy.samplers")
    got = samplers.sample(model, noise, positive, negative, 4.0, "cpu", samplers.sampler_object("euler"), sigmas,
                          latent_image=latent, seed=2)
    expected = ksampler.sample_sigmas(model, noise, positive, negative, 4.0, "euler", sigmas, latent, seed=2)
    assert torch.equal(got, expected)


def test_latent_batch_node_as_comfyuis():
    from engine.latent_ops import batch

    first = {"samples": torch.randn(2, 4, 8, 8), "batch_index": [3, 4]}
    second = {"samples": torch.randn(1, 4, 4, 4)}
    joined = batch(first, second)
    assert joined["samples"].shape == (3, 4, 8, 8) and joined["batch_index"] == [3, 4, 0]
    assert torch.equal(joined["samples"][:2], first["samples"])
    upscaled = torch.nn.functional.interpolate(second["samples"], size=(8, 8), mode="bilinear")
    assert torch.allclose(joined["samples"][2:], upscaled, atol=1e-6)
    same = batch({"samples": torch.ones(1, 4, 2, 2)}, {"samples": torch.zeros(2, 4, 2, 2)})
    assert same["samples"][:, 0, 0, 0].tolist() == [1, 0, 0] and same["batch_index"] == [0, 0, 1]


def test_latent_batch_runs_as_a_registry_node_and_through_comfyuis_name(comfy_runtime):
    from engine.latent_ops import batch

    definition = comfy_runtime.registry.get("LatentBatch")
    assert [s.name for s in definition.section("required")] == ["samples1", "samples2"]
    first, second = {"samples": torch.randn(1, 4, 4, 4)}, {"samples": torch.randn(2, 4, 4, 4)}
    (out,) = definition.make_instance().execute(samples1=first, samples2=second)
    assert torch.equal(out["samples"], batch(first, second)["samples"])
    view = comfy("comfy_extras.nodes_latent").LatentBatch
    (via_view,) = view.execute(first, second)
    assert torch.equal(via_view["samples"], out["samples"])


def test_a_pack_adding_a_sampler_name_leaves_atelier_names_alone():
    from engine.sampling.names import SAMPLER_NAMES

    samplers = comfy("comfy.samplers")
    assert samplers.KSampler.SAMPLERS is samplers.SAMPLER_NAMES  # one list, as in ComfyUI
    before = list(SAMPLER_NAMES)
    samplers.KSampler.SAMPLERS.insert(1, "pack_sampler")  # as smZNodes does at import
    try:
        assert before == SAMPLER_NAMES  # engine.sampling.registry checks its samplers against these at import
    finally:
        samplers.KSampler.SAMPLERS.remove("pack_sampler")


def test_additional_models_are_found_in_comfyuis_converted_conds():
    helpers = comfy("comfy.sampler_helpers")
    net, gligen = object(), object()
    conds = {"positive": helpers.convert_cond([[torch.zeros(1, 2, 4), {"control": net}]]),
             "negative": [[torch.zeros(1, 2, 4), {"gligen": [gligen]}]]}  # the CONDITIONING list form too
    models, memory = helpers.get_additional_models(conds, torch.float32)
    assert models == [net, gligen] and memory == 0
