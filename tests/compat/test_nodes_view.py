"""ComfyUI's ``nodes``, ``comfy_extras.nodes_*`` and ``node_helpers`` names as views of a bound runtime: each call
compared with the same work done by Atelier's own node or engine function."""

from __future__ import annotations

import asyncio
import importlib
import io

import pytest
import torch

from tests.compat.conftest import bound_runtime

CENSUS = ["MAX_RESOLUTION", "CLIPTextEncode", "LoraLoader", "SaveImage", "common_ksampler", "ConditioningCombine",
          "EmptyLatentImage", "VAEEncode", "VAEDecode", "VAEDecodeTiled", "PreviewImage", "ImageBatch", "ImageScale",
          "CheckpointLoaderSimple", "CLIPLoader", "DualCLIPLoader", "ControlNetApply", "ControlNetApplyAdvanced",
          "ConditioningZeroOut", "ConditioningSetTimestepRange", "ConditioningConcat", "ConditioningAverage",
          "LatentUpscaleBy", "DiffusersLoader", "NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS",
          "EXTENSION_WEB_DIRS", "init_extra_nodes", "load_custom_node"]
EXTRAS = {"nodes_custom_sampler": ["SamplerCustom", "BasicScheduler", "KSamplerSelect", "SamplerCustomAdvanced",
                                   "BasicGuider", "CFGGuider", "DualCFGGuider", "RandomNoise", "DisableNoise",
                                   "SDTurboScheduler", "Noise_RandomNoise", "Noise_EmptyNoise", "Guider_Basic",
                                   "Guider_DualCFG"],
          "nodes_model_merging_model_specific": ["ModelMergeSD1", "ModelMergeSD2", "ModelMergeSDXL"],
          "nodes_upscale_model": ["ImageUpscaleWithModel", "UpscaleModelLoader"],
          "nodes_latent": ["LatentBatch"], "nodes_clip_sdxl": ["CLIPTextEncodeSDXL", "CLIPTextEncodeSDXLRefiner"],
          "nodes_mask": ["composite", "GrowMask", "ImageCompositeMasked"],
          "nodes_model_merging": ["ModelMergeSimple", "ModelMergeBlocks", "ModelAdd", "ModelSubtract", "CLIPAdd",
                                  "CLIPSubtract"], "nodes_images": ["ImageCrop"],
          "nodes_post_processing": ["Blend", "ImageScaleToTotalPixels"], "nodes_canny": ["Canny"],
          "nodes_model_advanced": ["RescaleCFG", "ModelSamplingFlux", "ModelSamplingContinuousEDM"],
          "nodes_string": ["StringConcatenate"],
          "nodes_primitive": ["Int", "String"]}


def atelier_node(runtime, name: str, **inputs):
    """What Atelier's own node gives for these inputs (its outputs tuple)."""
    from compat.comfy_node_names import DEFAULT
    from compat.v1_classes import bind_inputs, run_definition, split_result

    definition = runtime.registry.get(name)
    inputs = bind_inputs(definition, DEFAULT, (), inputs)  # hidden inputs not given are None
    return split_result(run_definition(definition, definition.make_instance(), inputs))[0]


def test_every_census_name_imports_and_every_node_is_a_v1_class(comfy_runtime):
    import nodes

    for name in CENSUS:
        assert getattr(nodes, name) is not None, name
    assert nodes.MAX_RESOLUTION == 16384
    mappings = nodes.NODE_CLASS_MAPPINGS
    assert set(mappings) == set(comfy_runtime.registry.definitions)
    for name, cls in mappings.items():
        definition = comfy_runtime.registry.get(name)
        assert tuple(out.type for out in definition.outputs) == cls.RETURN_TYPES
        assert callable(getattr(cls, cls.FUNCTION)), name
        assert cls.INPUT_TYPES()["required"].keys() == {s.name for s in definition.section("required")}
    assert nodes.NODE_DISPLAY_NAME_MAPPINGS["CheckpointLoaderSimple"] == "Load Checkpoint"
    assert nodes.EXTENSION_WEB_DIRS is comfy_runtime.registry.web_directories
    assert (nodes.LoraLoader.FUNCTION, nodes.KSamplerAdvanced.FUNCTION, nodes.SaveImage.FUNCTION) == \
        ("load_lora", "sample", "save_images")
    assert nodes.ImageScale.upscale_methods == ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    assert asyncio.run(nodes.init_extra_nodes()) == []


def test_classes_are_built_once_per_runtime(tmp_path, comfy_runtime):
    import nodes

    first = nodes.LoraLoader
    assert nodes.LoraLoader is first
    other = bound_runtime(tmp_path / "other")
    try:
        assert nodes.LoraLoader is not first
    finally:
        other.close()


def test_methods_take_comfyuis_argument_order_and_return_comfyuis_shapes(comfy_runtime):
    import nodes

    latent = nodes.EmptyLatentImage().generate(64, 32, 2)
    assert isinstance(latent, tuple) and latent[0]["samples"].shape == (2, 4, 4, 8)
    cond = [[torch.ones(1, 3, 8), {"pooled_output": None}]]
    mask = torch.ones(1, 8, 8)
    # ComfyUI's ConditioningSetMask.append(conditioning, mask, set_cond_area, strength): not Atelier's input order.
    viewed = nodes.ConditioningSetMask().append(cond, mask, "mask bounds", 0.5)[0]
    expected = atelier_node(comfy_runtime, "ConditioningSetMask", conditioning=cond, mask=mask, strength=0.5,
                            set_cond_area="mask bounds")[0]
    assert viewed[0][1]["mask_strength"] == expected[0][1]["mask_strength"] == 0.5
    assert viewed[0][1]["set_area_to_bounds"] is expected[0][1]["set_area_to_bounds"] is True
    assert nodes.ConditioningCombine().combine(conditioning_1=cond, conditioning_2=cond)[0] == cond + cond
    with pytest.raises(TypeError, match="missing argument 'conditioning_2'"):
        nodes.ConditioningCombine().combine(cond)
    with pytest.raises(NotImplementedError, match="no DiffusersLoader node"):
        nodes.DiffusersLoader().load_checkpoint("x", True, True)
    from comfy_extras.nodes_video_model import ImageOnlyCheckpointLoader

    # ComfyUI's load_checkpoint(ckpt_name, output_vae, output_clip): Atelier's node has no flags to pass them to.
    with pytest.raises(FileNotFoundError, match="svd.safetensors"):
        ImageOnlyCheckpointLoader().load_checkpoint("svd.safetensors", True, False)


def test_save_and_preview_images_honour_what_subclasses_set(comfy_runtime):
    import nodes

    images = torch.rand(2, 8, 8, 3)
    saved = nodes.SaveImage().save_images(images, "view")["ui"]["images"]
    assert [entry["type"] for entry in saved] == ["output", "output"]
    assert (comfy_runtime.folders.output_dir / saved[0]["filename"]).is_file()
    expected = atelier_node(comfy_runtime, "SaveImage", images=images, filename_prefix="node")
    assert expected == ()  # an output node's outputs; its files are checked below
    own = sorted(p.read_bytes() for p in comfy_runtime.folders.output_dir.glob("node_*.png"))
    mine = sorted(p.read_bytes() for p in comfy_runtime.folders.output_dir.glob("view_*.png"))
    assert own == mine

    class MaskPreview(nodes.SaveImage):  # as essentials writes it
        def __init__(self):
            self.output_dir = str(comfy_runtime.folders.temp_dir)
            self.type = "temp"
            self.prefix_append = "_temp_abcde"
            self.compress_level = 1

    preview = MaskPreview().save_images(images[:1], "mask")["ui"]["images"][0]
    assert preview["type"] == "temp" and preview["filename"].startswith("mask_temp_abcde_")
    assert nodes.PreviewImage().save_images(images[:1])["ui"]["images"][0]["type"] == "temp"


def test_comfy_extras_modules_answer_their_names(comfy_runtime):
    for module_name, names in EXTRAS.items():
        module = importlib.import_module(f"comfy_extras.{module_name}")
        for name in names:
            assert getattr(module, name) is not None, (module_name, name)
    from comfy_extras import nodes_custom_sampler, nodes_model_merging, nodes_string, nodes_upscale_model

    assert set(nodes_custom_sampler.NODE_CLASS_MAPPINGS) >= {"SamplerCustom", "BasicScheduler", "KSamplerSelect"}
    assert nodes_model_merging.ModelAdd is nodes_model_merging.NODE_CLASS_MAPPINGS["ModelMergeAdd"]
    assert nodes_model_merging.CLIPAdd is nodes_model_merging.NODE_CLASS_MAPPINGS["CLIPMergeAdd"]
    assert not hasattr(nodes_custom_sampler.SamplerCustom, "execute")  # V1 in ComfyUI: packs probe for execute
    assert hasattr(nodes_upscale_model.ImageUpscaleWithModel, "execute")  # V3 in ComfyUI
    (joined,) = nodes_string.StringConcatenate.execute("a", "b", "-")
    assert joined == atelier_node(comfy_runtime, "StringConcatenate", string_a="a", string_b="b", delimiter="-")[0]


def test_noise_objects_and_composite_are_the_engines(comfy_runtime):
    from comfy_extras.nodes_custom_sampler import Noise_EmptyNoise, Noise_RandomNoise
    from comfy_extras.nodes_mask import composite

    from engine import compositing
    from engine.sampling.noise import prepare_noise

    latent = {"samples": torch.zeros(2, 4, 8, 8), "batch_index": [3, 1]}
    assert torch.equal(Noise_RandomNoise(5).generate_noise(latent), prepare_noise(latent["samples"], 5, [3, 1]))
    assert not Noise_EmptyNoise().generate_noise(latent).any()
    destination, source = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 4, 4)
    expected = compositing.composite(destination.movedim(1, -1), source.movedim(1, -1), 2, 1).movedim(-1, 1)
    assert torch.equal(composite(destination, source, 16, 8, multiplier=8), expected)


def test_guider_and_noise_nodes_give_comfyuis_objects(comfy_runtime):
    import comfy.samplers
    from comfy_extras import nodes_custom_sampler

    class Model:  # what a guider reads of its MODEL when it is made
        model_options: dict = {}

    (guider,) = nodes_custom_sampler.CFGGuider().get_guider(Model(), [], [], 4.0)
    assert isinstance(guider, comfy.samplers.CFGGuider) and guider.cfg == 4.0
    (basic,) = nodes_custom_sampler.BasicGuider().get_guider(Model(), [])
    assert isinstance(basic, nodes_custom_sampler.Guider_Basic) and basic.conds == {"positive": []}
    (dual,) = nodes_custom_sampler.DualCFGGuider().get_guider(Model(), [], [], [], 3.0, 2.0, "nested")
    assert isinstance(dual, nodes_custom_sampler.Guider_DualCFG) and (dual.cfg1, dual.cfg2, dual.nested) == (3, 2, True)
    (noise,) = nodes_custom_sampler.RandomNoise().get_noise(7)
    assert isinstance(noise, nodes_custom_sampler.Noise_RandomNoise) and noise.seed == 7
    assert isinstance(nodes_custom_sampler.DisableNoise().get_noise()[0], nodes_custom_sampler.Noise_EmptyNoise)


def test_node_helpers(comfy_runtime):
    import node_helpers
    from PIL import Image

    cond = [[torch.zeros(1, 2, 4), {"hints": [1]}]]
    out = node_helpers.conditioning_set_values(cond, {"hints": [2], "strength": 0.5}, append=True)
    assert out[0][1] == {"hints": [1, 2], "strength": 0.5} and cond[0][1] == {"hints": [1]}
    assert out[0][0] is cond[0][0]
    assert node_helpers.conditioning_set_values(cond, {"hints": [2]})[0][1]["hints"] == [2]
    buffer = io.BytesIO()
    Image.effect_noise((128, 128), 64).convert("RGB").save(buffer, format="JPEG")
    truncated = buffer.getvalue()[:-2000]
    with pytest.raises(OSError):
        Image.open(io.BytesIO(truncated)).load()
    assert node_helpers.pillow(lambda data: Image.open(io.BytesIO(data)).load() and "loaded", truncated) == "loaded"
    assert node_helpers.hasher()().name == "sha256"
    assert node_helpers.string_to_torch_dtype("bf16") is torch.bfloat16
    destination, source = node_helpers.image_alpha_fix(torch.zeros(1, 4, 4, 4), torch.zeros(1, 4, 4, 3))
    assert source.shape[-1] == 4 and source[..., 3].eq(1).all()
    assert node_helpers.is_link(["3", 0]) and not node_helpers.is_link("text")
