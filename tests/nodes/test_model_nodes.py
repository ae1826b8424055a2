"""Custom sampling, merging, saving, conditioning and inpainting nodes on a tiny checkpoint."""

from __future__ import annotations

import pytest
import torch

from core.context import ExecutionContext
from core.folders import Folders
from engine.device import Devices
from engine.model_cache import ModelCache
from engine.sd.checkpoint import read_checkpoint
from nodes.builtin import adapters, conditioning, custom_sampling, image, inpaint, latent, merging, sd
from tests.factories import write_tiny_sd15_checkpoint
from tests.harness import Harness
from tests.nodes.graphs import harness_for, node


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    folders = Folders.under(tmp_path_factory.mktemp("model_nodes"))
    folders.create()
    write_tiny_sd15_checkpoint(folders.models_dir / "checkpoints" / "a.safetensors", seed=0)
    write_tiny_sd15_checkpoint(folders.models_dir / "checkpoints" / "b.safetensors", seed=10)
    return harness_for(folders, sd, latent, image, custom_sampling, merging, conditioning, inpaint, adapters)


def output(harness: Harness, prompt: dict, node_id: str, slot: int = 0):
    """Runs the part of ``prompt`` that ``node_id`` needs, afresh (node outputs are forgotten, loaded models kept),
    and returns the first value of its output ``slot``."""
    harness.executor.cache.clear()  # the harness records the nodes that run, not those taken from the cache
    return harness.output({**prompt, "keep": node("Keep", value=(node_id, slot))}, node_id, slot)


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


def test_sampler_custom_equals_ksampler(harness):
    prompt = {**base_prompt(), "ks": ksampler(),
              "sel": node("KSamplerSelect", sampler_name="euler"),
              "sch": node("BasicScheduler", model=("ck", 0), scheduler="normal", steps=3, denoise=1.0),
              "sc": node("SamplerCustom", model=("ck", 0), add_noise=True, noise_seed=3, cfg=5.0, positive=("pos", 0),
                         negative=("neg", 0), sampler=("sel", 0), sigmas=("sch", 0), latent_image=("lat", 0))}
    assert torch.equal(output(harness, prompt, "ks")["samples"], output(harness, prompt, "sc")["samples"])


def test_merging_and_saving_a_checkpoint(harness):
    merge = {**base_prompt(),
             "ck2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b.safetensors"}},
             "m": {"class_type": "ModelMergeSimple",
                   "inputs": {"model1": ["ck", 0], "model2": ["ck2", 0], "ratio": 1.0}},
             "ks": ksampler(), "km": ksampler(("m", 0))}
    plain = output(harness, merge, "ks")["samples"]
    merged = output(harness, merge, "km")["samples"]
    assert torch.allclose(merged, plain, atol=1e-5)  # ratio 1 = model1
    merge["m"]["inputs"]["ratio"] = 0.5
    assert not torch.allclose(output(harness, merge, "km")["samples"], plain, atol=1e-3)

    save = {**merge, "save": {"class_type": "CheckpointSave", "inputs": {
        "model": ["m", 0], "clip": ["ck", 1], "vae": ["ck", 2], "filename_prefix": "checkpoints/merged"}}}
    save["m"]["inputs"]["ratio"] = 1.0
    assert harness.run(save).status == "success"

    saved = next((harness.folders.output_dir / "checkpoints").glob("merged_*.safetensors"))
    model, clip, vae = read_checkpoint(saved)
    original_model, original_clip, _ = read_checkpoint(harness.folders.models_dir / "checkpoints" / "a.safetensors")
    for key, value in original_model.unet.state_dict().items():
        assert torch.allclose(model.unet.state_dict()[key], value, atol=1e-6), key
    assert torch.allclose(clip.encode_text("a cat")[0], original_clip.encode_text("a cat")[0], atol=1e-6)


def test_conditioning_nodes(harness):
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
    concatenated = output(harness, prompt, "cat")
    assert concatenated[0][0].shape[1] == 154
    assert torch.count_nonzero(output(harness, prompt, "zero")[0][0]) == 0
    assert torch.equal(output(harness, prompt, "avg")[0][0], concatenated[0][0])  # strength 1 keeps "to"
    assert output(harness, prompt, "area")[0][1]["start_percent"] == 0.2
    assert output(harness, prompt, "ks")["samples"].shape == (1, 4, 8, 8)


def test_inpainting_nodes(harness):
    source = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x808080}}
    prompt = {**base_prompt(), "src": source,
              "pad": {"class_type": "ImagePadForOutpaint", "inputs": {"image": ["src", 0], "left": 16, "top": 0,
                                                                      "right": 16, "bottom": 8, "feathering": 8}},
              "enc": {"class_type": "VAEEncodeForInpaint", "inputs": {"pixels": ["pad", 0], "vae": ["ck", 2],
                                                                      "mask": ["pad", 1], "grow_mask_by": 6}},
              "ks": ksampler(latent=("enc", 0))}
    assert output(harness, prompt, "pad").shape == (1, 72, 96, 3)
    encoded = output(harness, prompt, "enc")
    assert encoded["samples"].shape == (1, 4, 9, 12) and encoded["noise_mask"].shape[-2:] == (72, 96)

    # A mask of zeros regenerates nothing: the sampler gives back the encoded latent.
    unmasked = {**base_prompt(), "src": source,
            "none": {"class_type": "ImagePadForOutpaint", "inputs": {"image": ["src", 0], "left": 0, "top": 0,
                                                                     "right": 0, "bottom": 0, "feathering": 0}},
            "enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["src", 0], "vae": ["ck", 2]}},
            "masked": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["enc", 0], "mask": ["none", 1]}},
            "ks": ksampler(latent=("masked", 0))}
    sampled, encoded = (output(harness, unmasked, name)["samples"] for name in ("ks", "enc"))
    assert torch.allclose(sampled, encoded, atol=1e-4)


def test_clip_text_encode_reads_embeddings_from_the_embeddings_folder(harness):
    from safetensors.torch import save_file

    from engine.sd.tokenizer import encode_text
    from nodes.builtin.sd import CLIPTextEncode

    folders = harness.folders
    _, clip, _ = read_checkpoint(folders.models_dir / "checkpoints" / "a.safetensors")
    table = clip.model.get_input_embeddings().weight.detach()
    save_file({"emb_params": table[encode_text("fluffy cat")].clone()},
              str(folders.models_dir / "embeddings" / "fluffy.safetensors"))
    context = ExecutionContext("p", "encode", folders, ModelCache(), Devices())

    def encoded(text: str) -> torch.Tensor:
        return CLIPTextEncode().execute(text=text, clip=clip, context=context)[0][0][0]

    assert torch.allclose(encoded("a embedding:fluffy on a mat"), encoded("a fluffy cat on a mat"), atol=1e-3)
    assert not torch.allclose(encoded("a embedding:fluffy on a mat"), encoded("a dog on a mat"), atol=1e-3)
    with pytest.raises(FileNotFoundError, match="embedding 'missing'"):
        encoded("embedding:missing")
    with pytest.raises(Exception, match="escape|outside"):
        encoded("embedding:../checkpoints/a")


def test_rescale_cfg_node(harness):
    prompt = {**base_prompt(), "ks": ksampler(),
              "rs": {"class_type": "RescaleCFG", "inputs": {"model": ["ck", 0], "multiplier": 0.0}},
              "kr": ksampler(("rs", 0))}
    plain = output(harness, prompt, "ks")["samples"]
    assert torch.allclose(output(harness, prompt, "kr")["samples"], plain, atol=1e-5)
    prompt["rs"]["inputs"]["multiplier"] = 0.7
    assert not torch.allclose(output(harness, prompt, "kr")["samples"], plain, atol=1e-3)
    again = output(harness, prompt, "ks")["samples"]  # the cached checkpoint, sampled again
    assert torch.equal(again, plain), "the base model is not changed"


def test_merging_an_inpainting_model_keeps_its_input_layer(tmp_path, caplog):
    from nodes.builtin.merging import ModelMergeAdd
    from tests.factories import write_tiny_sd15_inpaint_checkpoint

    inpaint, clip, _ = read_checkpoint(write_tiny_sd15_inpaint_checkpoint(tmp_path / "i.safetensors"))
    plain, _, _ = read_checkpoint(write_tiny_sd15_checkpoint(tmp_path / "p.safetensors", seed=3))
    (merged,) = ModelMergeAdd().execute(model1=inpaint, model2=plain)
    assert "input_blocks.0.0.weight" not in merged.patches and "out.2.weight" in merged.patches
    assert "shapes differ" in caplog.text and "input_blocks.0.0.weight (32, 9, 3, 3) vs (32, 4, 3, 3)" in caplog.text
    latent = torch.randn(1, 4, 8, 8)
    _, concat = merged.extra_inputs({}, latent, None, negative=False)
    assert torch.isfinite(merged.apply(latent, torch.tensor([1.0]), clip.encode_text("a cat")[0], concat=concat)).all()


def test_merging_fp8_stored_models_computes_in_float32(tmp_path):
    from engine.sd.model_files import load_diffusion_model
    from nodes.builtin.merging import ModelMergeSimple

    a_path = write_tiny_sd15_checkpoint(tmp_path / "a.safetensors", seed=1)
    b_path = write_tiny_sd15_checkpoint(tmp_path / "b.safetensors", seed=2)
    a, b = (load_diffusion_model(p, storage_dtype=torch.float8_e4m3fn) for p in (a_path, b_path))
    (merged,) = ModelMergeSimple().execute(model1=a, model2=b, ratio=0.5)
    weights = merged.patched_state_dict()
    key = "out.2.weight"
    assert weights[key].dtype == torch.float8_e4m3fn
    halfway = (a.unet.state_dict()[key].float() + b.unet.state_dict()[key].float()) / 2
    assert torch.equal(weights[key].float(), halfway.to(torch.float8_e4m3fn).float())


def test_a_diff_controlnet_is_its_file_plus_the_models_weights_each_time(harness):
    from safetensors.torch import save_file

    from engine.controlnet import ControlNet
    from tests.factories import TINY_UNET

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        full = ControlNet(TINY_UNET, 3, (8, 8, 16, 16, 16, 16, 32)).eval()
    base = read_checkpoint(harness.folders.models_dir / "checkpoints" / "a.safetensors")[0].unet.state_dict()
    diff = {key: value - base[key] if key in base and base[key].shape == value.shape else value
            for key, value in full.state_dict().items()}
    save_file({key: value.contiguous() for key, value in diff.items()},
              str(harness.folders.models_dir / "controlnet" / "diff.safetensors"))
    prompt = {**base_prompt(),
              "hint": node("EmptyImage", width=64, height=64, batch_size=1, color=0xFFFFFF),
              "cn": node("DiffControlNetLoader", model=("ck", 0), control_net_name="diff.safetensors"),
              "apply": node("ControlNetApply", conditioning=("pos", 0), control_net=("cn", 0), image=("hint", 0),
                            strength=1.0),
              "ks": {**ksampler(), "inputs": {**ksampler()["inputs"], "positive": ["apply", 0]}}}
    assert torch.isfinite(output(harness, prompt, "ks")["samples"]).all()
    for _ in range(2):  # the cached file stays a diff: loading it again does not add the weights twice
        loaded = output(harness, prompt, "cn").state_dict()
        for key, value in full.state_dict().items():
            assert torch.allclose(loaded[key], value, atol=1e-6), key
