"""Custom sampling, merging, saving, conditioning and inpainting nodes on a tiny checkpoint."""

from __future__ import annotations

import pytest
import torch

from engine.sd.checkpoint import load_checkpoint
from execution.cache import OutputCache
from execution.context import InterruptFlag
from execution.executor import Executor
from execution.validation import validate_prompt
from nodes.builtin import builtin_definitions
from nodes.folders import Folders, set_folders
from nodes.registry import Registry
from tests.factories import write_tiny_sd15_checkpoint


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    base = tmp_path_factory.mktemp("model_nodes")
    folders = Folders.under(base)
    folders.create()
    set_folders(folders)
    write_tiny_sd15_checkpoint(folders.models_dir / "checkpoints" / "a.safetensors", seed=0)
    write_tiny_sd15_checkpoint(folders.models_dir / "checkpoints" / "b.safetensors", seed=10)
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    return registry


class Capture:
    """Runs a prompt and returns a node's first output value."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __call__(self, prompt: dict, node: str, slot: int = 0):
        prompt = {**prompt, "out": {"class_type": "PreviewImage", "inputs": {"images": ["img", 0]}}} \
            if "img" in prompt else prompt
        result = validate_prompt(self.registry, prompt, None)
        assert result.ok or result.good_outputs, result.node_errors
        executor = Executor(self.registry, OutputCache(), lambda e, d: None, InterruptFlag())
        captured = {}
        original = executor._execute_node

        def spy(run, node_id):
            original(run, node_id)
            captured[node_id] = run.results[node_id]

        executor._execute_node = spy
        outcome = executor.execute("p", result.prompt, result.good_outputs)
        errors = [m[1].get("exception_message") for m in outcome.messages if m[0] == "execution_error"]
        assert outcome.status == "success", errors
        return captured[node][slot][0]


def base_prompt(ckpt: str = "a.safetensors") -> dict:
    return {
        "ck": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["ck", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ck", 1]}},
        "lat": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    }


def ksampler(model=("ck", 0), latent=("lat", 0), seed: int = 3) -> dict:
    return {"class_type": "KSampler", "inputs": {
        "model": list(model), "seed": seed, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": list(latent), "denoise": 1.0}}


def with_image(prompt: dict, latent_node: str) -> dict:
    return {**prompt, "img": {"class_type": "VAEDecode", "inputs": {"samples": [latent_node, 0], "vae": ["ck", 2]}}}


def test_sampler_custom_equals_ksampler(registry):
    run = Capture(registry)
    prompt = with_image({**base_prompt(), "ks": ksampler(),
                         "sel": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
                         "sch": {"class_type": "BasicScheduler", "inputs": {"model": ["ck", 0], "scheduler": "normal",
                                                                            "steps": 3, "denoise": 1.0}},
                         "sc": {"class_type": "SamplerCustom", "inputs": {
                             "model": ["ck", 0], "add_noise": True, "noise_seed": 3, "cfg": 5.0, "positive": ["pos", 0],
                             "negative": ["neg", 0], "sampler": ["sel", 0], "sigmas": ["sch", 0],
                             "latent_image": ["lat", 0]}}}, "ks")
    prompt["img2"] = {"class_type": "VAEDecode", "inputs": {"samples": ["sc", 0], "vae": ["ck", 2]}}
    prompt["out2"] = {"class_type": "PreviewImage", "inputs": {"images": ["img2", 0]}}
    assert torch.equal(run(prompt, "ks")["samples"], run(prompt, "sc")["samples"])


def test_merging_and_saving_a_checkpoint(registry, tmp_path):
    run = Capture(registry)
    merge = {**base_prompt(),
             "ck2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b.safetensors"}},
             "m": {"class_type": "ModelMergeSimple",
                   "inputs": {"model1": ["ck", 0], "model2": ["ck2", 0], "ratio": 1.0}},
             "ks": ksampler(), "km": ksampler(("m", 0))}
    plain = run(with_image(merge, "ks"), "ks")["samples"]
    assert torch.allclose(run(with_image(merge, "km"), "km")["samples"], plain, atol=1e-5)  # ratio 1 = model1
    merge["m"]["inputs"]["ratio"] = 0.5
    assert not torch.allclose(run(with_image(merge, "km"), "km")["samples"], plain, atol=1e-3)

    save = {**merge, "save": {"class_type": "CheckpointSave", "inputs": {
        "model": ["m", 0], "clip": ["ck", 1], "vae": ["ck", 2], "filename_prefix": "checkpoints/merged"}}}
    save["m"]["inputs"]["ratio"] = 1.0
    result = validate_prompt(registry, save)
    Executor(registry, OutputCache(), lambda e, d: None, InterruptFlag()).execute("p", result.prompt, ["save"])
    from nodes.folders import folders

    saved = next((folders().output_dir / "checkpoints").glob("merged_*.safetensors"))
    model, clip, vae = load_checkpoint(saved)
    original_model, original_clip, _ = load_checkpoint(folders().models_dir / "checkpoints" / "a.safetensors")
    for key, value in original_model.unet.state_dict().items():
        assert torch.allclose(model.unet.state_dict()[key], value, atol=1e-6), key
    assert torch.allclose(clip.encode("a cat")[0], original_clip.encode("a cat")[0], atol=1e-6)


def test_conditioning_nodes(registry):
    run = Capture(registry)
    prompt = {**base_prompt(),
              "zero": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["pos", 0]}},
              "cat": {"class_type": "ConditioningConcat", "inputs": {"conditioning_to": ["pos", 0],
                                                                      "conditioning_from": ["neg", 0]}},
              "avg": {"class_type": "ConditioningAverage", "inputs": {"conditioning_to": ["cat", 0],
                                                                       "conditioning_from": ["neg", 0],
                                                                       "conditioning_to_strength": 1.0}},
              "range": {"class_type": "ConditioningSetTimestepRange", "inputs": {"conditioning": ["avg", 0],
                                                                                 "start": 0.2, "end": 0.8}},
              "area": {"class_type": "ConditioningSetAreaPercentage", "inputs": {
                  "conditioning": ["range", 0], "width": 0.5, "height": 0.5, "x": 0.25, "y": 0.25, "strength": 1.0}},
              "ks": {**ksampler(),
                     "inputs": {**ksampler()["inputs"], "positive": ["area", 0], "negative": ["zero", 0]}}}
    prompt = with_image(prompt, "ks")
    concatenated = run(prompt, "cat")
    assert concatenated[0][0].shape[1] == 154
    assert torch.count_nonzero(run(prompt, "zero")[0][0]) == 0
    assert torch.equal(run(prompt, "avg")[0][0], concatenated[0][0])  # strength 1 keeps "to"
    assert run(prompt, "area")[0][1]["start_percent"] == 0.2
    assert run(prompt, "ks")["samples"].shape == (1, 4, 8, 8)


def test_inpainting_nodes(registry):
    run = Capture(registry)
    source = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x808080}}
    prompt = {**base_prompt(), "src": source,
              "pad": {"class_type": "ImagePadForOutpaint", "inputs": {"image": ["src", 0], "left": 16, "top": 0,
                                                                      "right": 16, "bottom": 8, "feathering": 8}},
              "enc": {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["pad", 0], "vae": ["ck", 2],
                                                                      "mask": ["pad", 1], "grow_mask_by": 6}},
              "ks": ksampler(latent=("enc", 0))}
    prompt = with_image(prompt, "ks")
    assert run(prompt, "pad").shape == (1, 72, 96, 3)
    encoded = run(prompt, "enc")
    assert encoded["samples"].shape == (1, 4, 9, 12) and encoded["noise_mask"].shape[-2:] == (72, 96)

    # A mask of zeros regenerates nothing: the sampler gives back the encoded latent.
    keep = {**base_prompt(), "src": source,
            "none": {"class_type": "ImagePadForOutpaint", "inputs": {"image": ["src", 0], "left": 0, "top": 0,
                                                                     "right": 0, "bottom": 0, "feathering": 0}},
            "enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["src", 0], "vae": ["ck", 2]}},
            "masked": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["enc", 0], "mask": ["none", 1]}},
            "ks": ksampler(latent=("masked", 0))}
    keep = with_image(keep, "ks")
    assert torch.allclose(run(keep, "ks")["samples"], run(keep, "enc")["samples"], atol=1e-4)


def test_clip_text_encode_reads_embeddings_from_the_embeddings_folder(registry):
    from safetensors.torch import save_file

    from engine.sd.tokenizer import encode_text
    from nodes.builtin.sd import CLIPTextEncode
    from nodes.folders import folders

    _, clip, _ = load_checkpoint(folders().models_dir / "checkpoints" / "a.safetensors")
    table = clip.model.get_input_embeddings().weight.detach()
    save_file({"emb_params": table[encode_text("fluffy cat")].clone()},
              str(folders().models_dir / "embeddings" / "fluffy.safetensors"))

    def encoded(text: str) -> torch.Tensor:
        return CLIPTextEncode().execute(text=text, clip=clip)[0][0][0]

    assert torch.allclose(encoded("a embedding:fluffy on a mat"), encoded("a fluffy cat on a mat"), atol=1e-3)
    assert not torch.allclose(encoded("a embedding:fluffy on a mat"), encoded("a dog on a mat"), atol=1e-3)
    with pytest.raises(FileNotFoundError, match="embedding 'missing'"):
        encoded("embedding:missing")
    with pytest.raises(Exception, match="escape|outside"):
        encoded("embedding:../checkpoints/a")


def test_rescale_cfg_node(registry):
    run = Capture(registry)
    prompt = {**base_prompt(), "ks": ksampler(),
              "rs": {"class_type": "RescaleCFG", "inputs": {"model": ["ck", 0], "multiplier": 0.0}},
              "kr": ksampler(("rs", 0))}
    plain = run(with_image(prompt, "ks"), "ks")["samples"]
    assert torch.allclose(run(with_image(prompt, "kr"), "kr")["samples"], plain, atol=1e-5)
    prompt["rs"]["inputs"]["multiplier"] = 0.7
    assert not torch.allclose(run(with_image(prompt, "kr"), "kr")["samples"], plain, atol=1e-3)
    assert torch.equal(run(with_image(prompt, "ks"), "ks")["samples"], plain), "the base model is not changed"


def test_merging_an_inpainting_model_keeps_its_input_layer(tmp_path, caplog):
    from engine.model_cache import ModelCache
    from nodes.builtin.merging import ModelMergeAdd
    from tests.factories import write_tiny_sd15_inpaint_checkpoint

    inpaint, clip, _ = load_checkpoint(write_tiny_sd15_inpaint_checkpoint(tmp_path / "i.safetensors"), ModelCache())
    plain, _, _ = load_checkpoint(write_tiny_sd15_checkpoint(tmp_path / "p.safetensors", seed=3), ModelCache())
    (merged,) = ModelMergeAdd().execute(inpaint, plain)
    assert "input_blocks.0.0.weight" not in merged.patches and "out.2.weight" in merged.patches
    assert "shapes differ" in caplog.text and "input_blocks.0.0.weight (32, 9, 3, 3) vs (32, 4, 3, 3)" in caplog.text
    latent = torch.randn(1, 4, 8, 8)
    _, concat = merged.extra_inputs({}, latent, None, negative=False)
    assert torch.isfinite(merged.apply(latent, torch.tensor([1.0]), clip.encode("a cat")[0], concat=concat)).all()


def test_merging_fp8_stored_models_computes_in_float32(tmp_path):
    from engine.model_cache import ModelCache
    from engine.sd.model_files import load_diffusion_model
    from nodes.builtin.merging import ModelMergeSimple

    a_path = write_tiny_sd15_checkpoint(tmp_path / "a.safetensors", seed=1)
    b_path = write_tiny_sd15_checkpoint(tmp_path / "b.safetensors", seed=2)
    a, b = (load_diffusion_model(p, ModelCache(), storage_dtype=torch.float8_e4m3fn) for p in (a_path, b_path))
    (merged,) = ModelMergeSimple().execute(a, b, 0.5)
    weights = merged.patched_state_dict()
    key = "out.2.weight"
    assert weights[key].dtype == torch.float8_e4m3fn
    halfway = (a.unet.state_dict()[key].float() + b.unet.state_dict()[key].float()) / 2
    assert torch.equal(weights[key].float(), halfway.to(torch.float8_e4m3fn).float())
