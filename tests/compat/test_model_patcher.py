"""The MODEL as ComfyUI's ModelPatcher: each name checked for its effect on real sampling with the shipped digits
model, against the same work done through Atelier's own engine (LoRA reader, model sampling, plain sampling)."""

from __future__ import annotations

import copy

import pytest
import torch

from compat.host import install_path
from engine.sampling.guidance import GuidedDenoiser
from engine.sampling.ksampler import sample, sample_sigmas, schedule
from engine.sampling.model_sampling import ModelSamplingDiscrete
from engine.sampling.samplers import euler
from engine.sd.model import DiffusionModel
from engine.sd.weight_patches import apply_entries
from tests.compat.conftest import needs_digits

pytestmark = needs_digits
# ``model`` and ``conds`` (tests/compat/conftest.py): the shipped digits model and two random conditionings.
install_path()
KEY = "out.2.weight"  # the UNet's last convolution: every patch to it shows in the output


def run(model, conds, cfg: float = 5.0, steps: int = 3, mask=None) -> torch.Tensor:
    noise = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(7))
    return sample(model, noise, conds[0], conds[1], cfg, "euler", "normal", steps, torch.zeros(1, 4, 4, 4),
                  noise_mask=mask)


def test_modelpatcher_is_the_model_class_and_its_model_view_answers(model):
    import comfy.latent_formats
    import comfy.model_base
    import comfy.model_patcher

    assert comfy.model_patcher.ModelPatcher is DiffusionModel and isinstance(model, comfy.model_patcher.ModelPatcher)
    view = model.model
    assert isinstance(view, comfy.model_base.BaseModel) and not isinstance(view, comfy.model_base.SDXL)
    assert view.model_sampling is model.model_sampling is model.get_model_object("model_sampling")
    assert view.diffusion_model is model.unet is model.get_model_object("diffusion_model")
    assert model.get_model_object("diffusion_model.out") is model.unet.out
    assert view.model_type == comfy.model_base.ModelType.EPS
    assert isinstance(view.latent_format, comfy.latent_formats.SD15) and view.latent_format.latent_channels == 4
    assert view.get_dtype() == model.model_dtype() == view.diffusion_model.dtype == next(model.unet.parameters()).dtype
    assert view.model_config.unet_config["context_dim"] == model.unet.config.context_dim
    assert model.model_size() > 0 and model.memory_required([2, 4, 4, 4]) > model.memory_required([1, 4, 4, 4])
    assert model.load_device == torch.device("cpu") and model.current_loaded_device() == torch.device("cpu")
    sd = model.model_state_dict()
    assert all(k.startswith("diffusion_model.") for k in sd) and torch.equal(sd["diffusion_model." + KEY],
                                                                           model.unet.state_dict()[KEY])
    assert set(model.model_state_dict("diffusion_model.out.")) == {f"diffusion_model.out.{n}.{p}" for n in (0, 2)
                                                                   for p in ("weight", "bias")}


def test_clones_share_weights_but_not_options_or_patches(model):
    clone = model.clone()
    clone.set_model_unet_function_wrapper(lambda apply, args: apply(args["input"], args["timestep"], **args["c"]))
    clone.set_model_attn1_patch(lambda *a: a)
    clone.add_patches({"diffusion_model." + KEY: (torch.zeros_like(model.unet.state_dict()[KEY]),)})
    assert model.is_clone(clone) and clone.is_clone(model) and clone.parent is model
    assert model.model_options == {"transformer_options": {}} and model.patches == {}
    assert "model_function_wrapper" in clone.model_options and KEY in clone.patches
    second = clone.clone()
    second.set_model_attn2_patch(lambda *a: a)
    assert "attn2_patch" not in clone.model_options["transformer_options"]["patches"]
    assert second.patches[KEY] is not clone.patches[KEY] and second.patches[KEY] == clone.patches[KEY]


def test_unet_function_wrapper_scaling_the_output_changes_the_sample_exactly_as_expected(model, conds):
    seen = []

    def half(apply_model, args):
        seen.append((sorted(args), sorted(args["c"]), list(args["cond_or_uncond"])))
        return apply_model(args["input"], args["timestep"], **args["c"]) * 0.5

    patched = model.clone()
    patched.set_model_unet_function_wrapper(half)
    got = run(patched, conds)
    assert seen[0][0] == ["c", "cond_or_uncond", "input", "timestep"] and seen[0][2] == [0, 1]
    assert {"c_crossattn", "transformer_options"} <= set(seen[0][1])

    ms, fmt = model.model_sampling, model.latent_format
    sigmas = schedule(ms, "normal", "euler", 3)
    noise = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(7))
    plain = GuidedDenoiser(model, conds[0], conds[1], 5.0)
    x = ms.noise_scaling(sigmas[0], noise, fmt.process_in(torch.zeros(1, 4, 4, 4)), True)
    expected = fmt.process_out(euler(lambda x_, s: 0.5 * plain(x_, s), x, sigmas))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, run(model, conds), atol=1e-3)


def test_an_identity_wrapper_and_a_plain_cfg_function_give_identical_latents(model, conds):
    reference = run(model, conds)
    wrapped = model.clone()
    wrapped.set_model_unet_function_wrapper(lambda apply, args: apply(args["input"], args["timestep"], **args["c"]))
    assert torch.equal(run(wrapped, conds), reference)

    def plain_cfg(args):  # ComfyUI's convention: cond/uncond are x - denoised, the result is x - guided
        return args["uncond"] + (args["cond"] - args["uncond"]) * args["cond_scale"]

    guided = model.clone()
    guided.set_model_sampler_cfg_function(plain_cfg)
    torch.testing.assert_close(run(guided, conds), reference, rtol=1e-5, atol=1e-5)
    old_style = model.clone()
    old_style.set_model_sampler_cfg_function(lambda cond, uncond, cond_scale: uncond + (cond - uncond) * cond_scale)
    torch.testing.assert_close(run(old_style, conds), reference, rtol=1e-5, atol=1e-5)
    assert model.cfg_function is None and "sampler_cfg_function" not in model.model_options


def test_pre_and_post_cfg_functions_get_comfyui_arguments_and_take_effect(model, conds):
    cond_only = run(model, conds, cfg=1.0)
    post = model.clone()
    post.set_model_sampler_post_cfg_function(lambda args: args["cond_denoised"])
    torch.testing.assert_close(run(post, conds), cond_only, rtol=1e-5, atol=1e-5)

    seen = {}

    def swap(args):
        seen.update(args)
        cond, uncond = args["conds_out"]
        return [uncond, cond]

    pre = model.clone()
    pre.set_model_sampler_pre_cfg_function(swap)
    negative_prompted = run(model, (conds[1], conds[0]))
    torch.testing.assert_close(run(pre, conds), negative_prompted, rtol=1e-5, atol=1e-5)
    assert {"conds", "conds_out", "cond_scale", "timestep", "input", "sigma", "model", "model_options"} == set(seen)


def test_cfg1_optimization_skips_the_negative_unless_disabled(model, conds):
    calls = []

    def count(apply, args):
        calls.append(list(args["cond_or_uncond"]))
        return apply(args["input"], args["timestep"], **args["c"])

    counted = model.clone()
    counted.set_model_unet_function_wrapper(count)
    run(counted, conds, cfg=1.0, steps=2)
    assert calls == [[0], [0]]
    calls.clear()
    counted.set_model_sampler_post_cfg_function(lambda args: args["denoised"], disable_cfg1_optimization=True)
    run(counted, conds, cfg=1.0, steps=2)
    assert calls == [[0, 1], [0, 1]]


def _direct(model: DiffusionModel, weights: dict[str, torch.Tensor]) -> DiffusionModel:
    """A model whose UNet holds ``weights`` as loaded weights (no patches)."""
    unet = copy.deepcopy(model.unet)
    unet.load_state_dict({**unet.state_dict(), **weights})
    return DiffusionModel(unet, model.model_sampling, model.latent_format, model.family, model.devices)


def test_a_diff_patch_equals_the_same_weights_loaded_directly(model, conds):
    weight = model.unet.state_dict()[KEY]
    diff = torch.randn(weight.shape, generator=torch.Generator().manual_seed(1)) * 0.05
    patched = model.clone()
    assert patched.add_patches({"diffusion_model." + KEY: (diff,), "not.a.key": (diff,)}, 0.5) == \
        ["diffusion_model." + KEY]
    direct = _direct(model, {KEY: (weight.float() + 0.5 * diff).to(weight.dtype)})
    assert torch.equal(patched.patched_state_dict()[KEY], direct.unet.state_dict()[KEY])
    assert torch.equal(run(patched, conds), run(direct, conds))

    replaced = model.clone()
    replaced.add_patches({"diffusion_model." + KEY: ("set", (torch.zeros_like(weight),))})
    assert torch.count_nonzero(replaced.patched_state_dict()[KEY]) == 0


def test_a_lora_patch_equals_atelier_lora_loader_with_the_same_lora(model, conds):
    import comfy.lora

    from engine.lora import apply_lora, model_key_map, parse_lora

    gen = torch.Generator().manual_seed(2)
    keys = ["out.2.weight", "input_blocks.1.1.proj_in.weight"]
    lora, tuples = {}, {}
    for key in keys:
        weight = model.unet.state_dict()[key]
        name = "lora_unet_" + key[: -len(".weight")].replace(".", "_")
        up = torch.randn(weight.shape[0], 2, *([1] * (weight.ndim - 2)), generator=gen) * 0.1
        down = torch.randn(2, *weight.shape[1:2], *weight.shape[2:], generator=gen) * 0.1
        lora.update({name + ".lora_up.weight": up, name + ".lora_down.weight": down,
                     name + ".alpha": torch.tensor(1.0)})
        tuples["diffusion_model." + key] = ("lora", (up, down, 1.0, None, None, None))
    loader, _ = apply_lora(model, None, parse_lora(lora, model_key_map(model, None)), 0.8, 0.0)

    as_tuples = model.clone()
    as_tuples.add_patches(tuples, 0.8)
    names = comfy.lora.model_lora_keys_unet(model.model)
    assert names["lora_unet_out_2"] == "diffusion_model.out.2.weight"
    as_loaded = model.clone()
    assert sorted(as_loaded.add_patches(comfy.lora.load_lora(lora, names), 0.8)) == sorted(tuples)
    for key in keys:
        expected = loader.patched_state_dict()[key].float()
        torch.testing.assert_close(as_tuples.patched_state_dict()[key].float(), expected, rtol=0, atol=1e-2)
        torch.testing.assert_close(as_loaded.patched_state_dict()[key].float(), expected, rtol=0, atol=1e-2)
    assert torch.equal(run(as_loaded, conds), run(loader, conds))


def test_get_key_patches_merges_two_models_as_comfyui_model_merge_does(model):
    weight = model.unet.state_dict()[KEY]
    diff = torch.randn(weight.shape, generator=torch.Generator().manual_seed(4)) * 0.05
    other = model.clone()
    other.add_patches({"diffusion_model." + KEY: ("diff", (diff,))})
    patches = other.get_key_patches("diffusion_model.")
    assert torch.equal(patches["diffusion_model." + KEY][0][0], weight) and len(patches["diffusion_model." + KEY]) == 2
    merged = model.clone()
    for key, entries in patches.items():  # ComfyUI's ModelMergeSimple at ratio 0.25
        merged.add_patches({key: entries}, 1.0 - 0.25, 0.25)
    expected = (0.25 * weight.float() + 0.75 * (weight.float() + diff)).to(weight.dtype)
    torch.testing.assert_close(merged.patched_state_dict()[KEY].float(), expected.float(), rtol=0, atol=1e-2)


def test_patch_entries_follow_comfyui_calculate_weight():
    weight = torch.arange(12.0).reshape(3, 4)
    diff = torch.ones(3, 4)
    assert torch.equal(apply_entries([(0.5, (diff,), 2.0, None, None)], weight), weight * 2 + 0.5)
    sliced = apply_entries([(1.0, ("diff", (torch.ones(1, 4),)), 1.0, (0, 1, 1), None)], weight)
    assert torch.equal(sliced[1], weight[1] + 1) and torch.equal(sliced[[0, 2]], weight[[0, 2]])
    doubled = apply_entries([(1.0, ("diff", (diff,)), 1.0, None, lambda change: 2 * change)], weight)
    assert torch.equal(doubled, weight + 2)
    up, down = torch.randn(3, 2), torch.randn(2, 4)
    torch.testing.assert_close(apply_entries([(1.0, ("lora", (up, down, 1.0, None, None, None)), 1.0, None, None)],
                                             weight), weight + 0.5 * up @ down)


def test_locon_and_dora_entries_follow_atelier_lora_reader_and_comfyui_weight_decompose():
    from engine.lora import WeightUpdate

    gen = torch.Generator().manual_seed(5)
    weight = torch.randn(6, 4, 3, 3, generator=gen)
    up, down, mid = (torch.randn(*shape, generator=gen) for shape in ((6, 2, 1, 1), (2, 4, 1, 1), (2, 2, 3, 3)))
    locon = apply_entries([(0.5, ("lora", (up, down, 4.0, mid, None, None)), 1.0, None, None)], weight)
    expected = WeightUpdate("lora", {"up": up, "down": down, "mid": mid}, 4.0).delta(weight.shape)
    torch.testing.assert_close(locon, weight + 0.5 * expected)
    # DoRA with a zero update: the magnitudes per output channel become dora_scale, blended in by strength.
    linear = weight.flatten(1)
    dora = (torch.zeros(6, 2), torch.randn(2, 36, generator=gen), None, None, 2 * linear.norm(dim=1, keepdim=True),
            None)
    torch.testing.assert_close(apply_entries([(0.5, ("lora", dora), 1.0, None, None)], linear), 1.5 * linear)

def test_block_patches_run_at_atelier_unet_hook_points(model, conds):
    reference = run(model, conds, steps=2)
    blocks = []

    def record_input(h, options):
        blocks.append(options["block"])
        return h

    def keep(h, skip, options):
        blocks.append(options["block"])
        return h, skip

    identity = model.clone()
    identity.set_model_input_block_patch(record_input)
    identity.set_model_output_block_patch(keep)
    assert torch.equal(run(identity, conds, steps=2), reference)
    inputs, outputs = len(model.unet.input_blocks), len(model.unet.output_blocks)
    per_call = [("input", i) for i in range(inputs)] + [("output", i) for i in range(outputs)]
    assert blocks[:len(per_call)] == per_call

    silenced = model.clone()
    silenced.set_model_output_block_patch(lambda h, skip, options: (h, skip * 0))
    assert not torch.allclose(run(silenced, conds, steps=2), reference, atol=1e-3)


def test_patches_atelier_cannot_honour_are_refused_when_sampling(model, conds):
    embed = model.clone()  # attention patches are honoured (tests/compat/test_attention_patches.py)
    embed.set_model_forward_timestep_embed_patch((torch.nn.Conv2d, lambda *a: a[1]))
    with pytest.raises(NotImplementedError, match="forward_timestep_embed_patch"):
        run(embed, conds, steps=1)
    replaced = model.clone()
    replaced.set_model_patch_replace(lambda *a: a[0], "dit", "double_block", 1)
    with pytest.raises(NotImplementedError, match="dit"):
        run(replaced, conds, steps=1)
    swapped = model.clone()
    swapped.add_object_patch("diffusion_model", torch.nn.Identity())
    with pytest.raises(NotImplementedError, match="diffusion_model"):
        run(swapped, conds, steps=1)


def test_model_sampling_object_patch_equals_atelier_model_sampling_node(model, conds):
    import comfy.model_sampling

    class VPrediction(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.V_PREDICTION):
        pass

    patched = model.clone()
    patched.add_object_patch("model_sampling", VPrediction(patched.model.model_config))
    node = model.clone()  # what Atelier's ModelSamplingDiscrete node does
    node.model_sampling = ModelSamplingDiscrete("v_prediction")
    assert model.model_sampling.prediction == "eps" and patched.model.model_type.name == "V_PREDICTION"
    assert isinstance(node.model_sampling, comfy.model_sampling.V_PREDICTION)
    assert torch.equal(run(patched, conds, steps=2), run(node, conds, steps=2))


def test_denoise_mask_function_decides_the_mask_at_each_step(model, conds):
    mask = torch.zeros(1, 4, 4)
    unmasked = run(model, conds, steps=2)
    seen = []

    def everything(sigma, denoise_mask, extra_options):
        seen.append(sorted(extra_options))
        return torch.ones_like(denoise_mask)

    patched = model.clone()
    patched.set_model_denoise_mask_function(everything)
    torch.testing.assert_close(run(patched, conds, steps=2, mask=mask), unmasked, rtol=1e-5, atol=1e-5)
    assert seen[0] == ["model", "sigmas"]
    torch.testing.assert_close(run(model, conds, steps=2, mask=mask), torch.zeros(1, 4, 4, 4), rtol=0, atol=1e-5)


def test_patch_model_is_an_honest_stand_in(model, conds):
    patched = model.clone()
    patched.add_patches({"diffusion_model." + KEY: (torch.ones_like(model.unet.state_dict()[KEY]),)})
    assert patched.patch_model() is patched.model
    patched.unpatch_model()
    assert torch.equal(patched.model.diffusion_model.state_dict()[KEY], model.unet.state_dict()[KEY])
    sigmas = schedule(model.model_sampling, "normal", "euler", 2)
    noise = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(7))
    assert not torch.equal(sample_sigmas(patched, noise, conds[0], conds[1], 5.0, "euler", sigmas,
                                         torch.zeros(1, 4, 4, 4)), run(model, conds, steps=2))


def test_guidance_functions_get_the_base_model_and_mask_functions_the_guider(model, conds):
    """As in ComfyUI: ``args["model"]`` of CFG functions is ``model.model``; a denoise-mask function's
    ``extra_options["model"]`` is the guider (DifferentialDiffusion reads ``.inner_model.model_sampling``)."""
    import comfy.model_base

    seen = []

    def post(args):
        seen.append(args["model"])
        return args["denoised"]

    def by_sigma_min(sigma, denoise_mask, extra_options):
        seen.append(extra_options["model"].inner_model.model_sampling.sigma_min)
        return denoise_mask

    patched = model.clone()
    patched.set_model_sampler_post_cfg_function(post)
    patched.set_model_denoise_mask_function(by_sigma_min)
    mask = torch.ones(1, 4, 4)
    assert torch.equal(run(patched, conds, steps=1, mask=mask), run(model, conds, steps=1, mask=mask))
    assert seen[0] == model.model_sampling.sigma_min
    assert isinstance(seen[1], comfy.model_base.BaseModel) and seen[1].model_sampling is model.model_sampling


def test_a_schedule_set_after_an_object_patch_is_the_one_reported(model):
    patched = model.clone()
    patched.add_object_patch("model_sampling", ModelSamplingDiscrete("v_prediction"))
    later = ModelSamplingDiscrete("eps")
    patched.model_sampling = later  # as Atelier's ModelSamplingDiscrete node sets it on a clone
    assert patched.get_model_object("model_sampling") is later and patched.unsupported_patches() == []


def test_clones_compare_weights_by_the_patches_they_share(model):
    weight = model.unet.state_dict()[KEY]
    first, second = model.clone(), model.clone()
    for clone in (first, second):
        clone.add_patches({"diffusion_model." + KEY: (torch.ones_like(weight),)})
    assert first.clone().clone_has_same_weights(first) and not first.clone_has_same_weights(second)
