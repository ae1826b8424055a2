"""ComfyUI's attention patch points in Atelier's UNet (``engine.sd.attention``): patches, replacements and output
patches set through the MODEL's ModelPatcher names, checked on real sampling with the shipped digits model and on a
tiny random UNet against the same change made by hand to the weights; and a test pack (``attention_pack``) loaded
from ``custom_nodes/`` by the real server, whose patched models give the pictures Atelier's LoraLoader gives with a
LoRA that makes the same change to the weights."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from engine.sampling.ksampler import sample
from engine.sd.attention import SpatialTransformer, attention
from engine.sd.model import DiffusionModel
from engine.sd.model_options import add_replace_patch, new_model_options
from engine.sd.unet import UNetConfig, UNetModel
from tests.compat.conftest import DIGITS_CHECKPOINT, needs_digits, run_ok, saved_pixels, serve_packs
from tests.conftest import stop_server
from tests.factories import random_module

pytestmark = needs_digits
# ``model`` and ``conds`` (tests/compat/conftest.py): the shipped digits model and two random conditionings.

# Two transformer blocks per transformer at the lower level and in the middle, so keys have indices 0 and 1.
DEEP_UNET = UNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, transformer_depth=(1, 2),
                       transformer_depth_middle=2, context_dim=32, num_heads=8)
Key = tuple[str, int, int]


@pytest.fixture(scope="module")
def reference(model, conds) -> torch.Tensor:
    return run(model, conds)


def run(model: DiffusionModel, conds: tuple[list, list], steps: int = 2) -> torch.Tensor:
    noise = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(7))
    return sample(model, noise, conds[0], conds[1], 5.0, "euler", "normal", steps, torch.zeros(1, 4, 4, 4))


def transformer_keys(unet: UNetModel) -> list[Key]:
    """Every transformer block's (block kind, block id, index), in the order the UNet runs them."""
    blocks = [("input", i, b) for i, b in enumerate(unet.input_blocks)] + [("middle", 0, unet.middle_block)]
    blocks += [("output", i, b) for i, b in enumerate(unet.output_blocks)]
    return [(kind, number, index) for kind, number, block in blocks for layer in block
            if isinstance(layer, SpatialTransformer) for index in range(len(layer.transformer_blocks))]


def weights_scaled(model: DiffusionModel, suffixes: tuple[str, ...], scale: float) -> DiffusionModel:
    """A clone whose weights ending in one of ``suffixes`` are multiplied by ``scale``: the change made by hand."""
    clone = model.clone()
    for key in model.unet.state_dict():
        if key.endswith(suffixes):
            clone.add_patch(key, lambda weight: weight * scale)
    return clone


def standard_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra_options: dict) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head, written out."""
    heads = extra_options["n_heads"]
    b, n, inner = q.shape
    q, k, v = (t.reshape(b, -1, heads, inner // heads).transpose(1, 2) for t in (q, k, v))
    weights = (q @ k.transpose(-1, -2) / (inner // heads) ** 0.5).softmax(-1)
    return (weights @ v).transpose(1, 2).reshape(b, n, inner)


class Recorder:
    """An identity patch of any of ComfyUI's attention signatures that records the options it was called with."""

    def __init__(self, result: Callable[..., Any]) -> None:
        self.result = result
        self.seen: list[dict] = []

    def __call__(self, *args: Any) -> Any:
        self.seen.append(dict(args[-1]))
        return self.result(*args[:-1])

    def blocks(self) -> Counter:
        return Counter((*o["block"], o["block_index"]) for o in self.seen)


IDENTITY_PATCHES = {
    "attn1_patch": lambda n, context, value: (n, context, value),
    "attn2_patch": lambda n, context, value: (n, context, value),
    "attn1_output_patch": lambda n: n,
    "attn2_output_patch": lambda n: n,
    "middle_patch": lambda x: x,
}


@pytest.mark.parametrize("kind", sorted(IDENTITY_PATCHES))
def test_an_identity_patch_gives_the_latents_of_no_patch_and_runs_in_every_block(model, conds, reference, kind):
    recorder = Recorder(IDENTITY_PATCHES[kind])
    patched = model.clone()
    patched.set_model_patch(recorder, kind)
    assert torch.equal(run(patched, conds), reference)
    calls = recorder.blocks()
    assert set(calls) == set(transformer_keys(model.unet)) and len(set(calls.values())) == 1  # each, as often
    options = recorder.seen[0]
    assert options["cond_or_uncond"] == [0, 1] and options["original_shape"] == [2, 4, 4, 4]
    assert options["n_heads"] == 8 and options["dim_head"] == 8 and options["attn_precision"] is None
    assert options["activations_shape"] == [2, 64, 4, 4] and torch.is_tensor(options["sigmas"])
    assert "patches" not in options and "patches_replace" not in options


@pytest.mark.parametrize("kind", ["attn1", "attn2"])
def test_a_replacement_computing_standard_attention_equals_no_patch(model, conds, reference, kind):
    recorder = Recorder(lambda q, k, v: attention(q, k, v, 8))
    patched = model.clone()
    for block_kind, number, index in transformer_keys(model.unet):
        patched.set_model_patch_replace(recorder, kind, block_kind, number, index)
    assert torch.equal(run(patched, conds), reference)
    assert set(recorder.blocks()) == set(transformer_keys(model.unet))


@pytest.mark.parametrize("kind", ["attn1", "attn2"])
def test_a_replacement_written_out_equals_no_patch_in_float32(deep_unet, kind):
    # The digits model computes in bfloat16, where a written-out softmax rounds differently from SDPA's.
    patches = dict.fromkeys(transformer_keys(deep_unet), standard_attention)
    result, plain = forward(deep_unet, replacing(kind, patches)), forward(deep_unet)
    assert torch.allclose(result, plain, atol=1e-5) and not torch.equal(result, plain)  # it ran


@pytest.mark.parametrize(("kind", "weights"), [
    ("attn1_patch", ("attn1.to_v.weight",)),
    ("attn2_patch", ("attn2.to_v.weight",)),
    ("attn1_output_patch", ("attn1.to_out.0.weight", "attn1.to_out.0.bias")),
    ("attn2_output_patch", ("attn2.to_out.0.weight", "attn2.to_out.0.bias")),
])
def test_a_patch_that_scales_values_equals_the_weights_scaled_by_hand(model, conds, reference, kind, weights):
    if kind.endswith("output_patch"):
        def scale(n, extra_options):
            return n * 0.5
    else:
        def scale(n, context, value, extra_options):
            return n, context, value * 0.5
    patched = model.clone()
    patched.set_model_patch(scale, kind)
    result = run(patched, conds)
    assert torch.equal(result, run(weights_scaled(model, weights, 0.5), conds))
    assert not torch.allclose(result, reference, atol=1e-3)


def test_a_middle_replacement_hits_only_the_middle_block(model, conds, reference):
    recorder = Recorder(lambda q, k, v: torch.zeros_like(q))
    patched = model.clone()
    patched.set_model_patch_replace(recorder, "attn1", "middle", 0, 0)
    result = run(patched, conds)
    assert recorder.blocks() == Counter({("middle", 0, 0): 2})  # once per step (cond and uncond in one call)
    silenced = model.clone()  # to_out of zeros is its bias, as with zero weights
    silenced.add_patch("middle_block.1.transformer_blocks.0.attn1.to_out.0.weight", torch.zeros_like)
    assert torch.equal(result, run(silenced, conds)) and not torch.allclose(result, reference, atol=1e-3)


def test_set_model_attn_replace_names_match_set_model_patch_replace(model, conds):
    recorder = Recorder(lambda q, k, v: torch.zeros_like(q))
    patched = model.clone()
    patched.set_model_attn2_replace(recorder, "output", 2)  # (kind, id): every index of that block
    patched.set_model_attn1_replace(recorder, "input", 3, 0)
    run(patched, conds, steps=1)
    assert recorder.blocks() == Counter({("output", 2, 0): 1, ("input", 3, 0): 1})


@pytest.fixture(scope="module")
def deep_unet() -> UNetModel:
    return random_module(UNetModel, DEEP_UNET, seed=4)


def forward(unet: UNetModel, options: dict | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    x, context = torch.randn(2, 4, 8, 8, generator=gen), torch.randn(2, 5, 32, generator=gen)
    with torch.no_grad():
        return unet(x, torch.tensor([500.0, 20.0]), context, transformer_options=options)


def replacing(kind: str, patches: dict[Any, Callable]) -> dict:
    options = new_model_options()
    for key, patch in patches.items():
        add_replace_patch(options, kind, patch, *key)
    return options["transformer_options"]


def test_block_keys_address_their_own_transformer_block(deep_unet):
    keys = transformer_keys(deep_unet)
    assert ("middle", 0, 1) in keys and ("input", 3, 1) in keys and ("input", 1, 1) not in keys
    recorders = {key: Recorder(lambda q, k, v: attention(q, k, v, 8)) for key in keys}
    assert torch.equal(forward(deep_unet, replacing("attn1", recorders)), forward(deep_unet))
    for key, recorder in recorders.items():
        assert recorder.blocks() == Counter({key: 1}), key
    transformers = [recorder.seen[0]["transformer_index"] for recorder in recorders.values()]
    assert transformers == sorted(transformers) and transformers[-1] == len(set(transformers)) - 1
    middle = recorders[("middle", 0, 1)].seen[0]
    assert middle["activations_shape"] == [2, 64, 4, 4] and middle["original_shape"] == [2, 4, 8, 8]
    assert middle["n_heads"] == 8 and middle["dim_head"] == 8


def test_a_replacement_that_changes_the_keys_equals_the_keys_changed_by_hand(deep_unet):
    def doubled_keys(q, k, v, extra_options):
        return attention(q, k * 2, v, extra_options["n_heads"])

    result = forward(deep_unet, replacing("attn2", {("output", 1, 1): doubled_keys}))
    by_hand = copy.deepcopy(deep_unet)
    weight = by_hand.output_blocks[1][1].transformer_blocks[1].attn2.to_k.weight
    weight.data = weight * 2
    assert torch.equal(result, forward(by_hand)) and not torch.allclose(result, forward(deep_unet), atol=1e-4)


def test_a_key_with_an_index_wins_over_one_without(deep_unet):
    every, first = Recorder(lambda q, k, v: attention(q, k, v, 8)), Recorder(lambda q, k, v: attention(q, k, v, 8))
    forward(deep_unet, replacing("attn1", {("middle", 0): every, ("middle", 0, 0): first}))
    assert first.blocks() == Counter({("middle", 0, 0): 1}) and every.blocks() == Counter({("middle", 0, 1): 1})


def test_patches_run_in_comfyui_order_and_feed_the_replacement(deep_unet):
    order = []

    def before(n, context, value, extra_options):
        order.append("attn2_patch")
        return n, context, value * 3

    def replace(q, k, v, extra_options):
        order.append("attn2")
        return attention(q, k, v, extra_options["n_heads"])

    def after(n, extra_options):
        order.append("attn2_output_patch")
        return n

    options = replacing("attn2", {("middle", 0, 0): replace})
    options["patches"] = {"attn2_patch": [before], "attn2_output_patch": [after]}
    result = forward(deep_unet, options)
    at = order.index("attn2")
    assert order.count("attn2") == 1 and order[at - 1:at + 2] == ["attn2_patch", "attn2", "attn2_output_patch"]
    by_hand = copy.deepcopy(deep_unet)  # the value patch runs in every block, before the replacement too
    for key, weight in by_hand.state_dict().items():
        if key.endswith("attn2.to_v.weight"):
            weight.mul_(3)
    assert torch.allclose(result, forward(by_hand), atol=1e-5)


@pytest.mark.parametrize(("setup", "named"), [
    (lambda m: m.set_model_forward_timestep_embed_patch((torch.nn.Conv2d, lambda *a: a[1])),
     "forward_timestep_embed_patch"),
    (lambda m: m.set_model_patch_replace(lambda *a: a[0], "dit", "double_block", 0), "'dit'"),
    (lambda m: m.set_model_patch(lambda *a: a[0], "double_block_patch"), "double_block_patch"),
])
def test_patches_atelier_cannot_honour_still_raise_before_sampling(model, conds, setup, named):
    patched = model.clone()
    setup(patched)
    patched.set_model_attn1_patch(Recorder(IDENTITY_PATCHES["attn1_patch"]))
    with pytest.raises(NotImplementedError, match=named) as raised:
        run(patched, conds, steps=1)
    assert "attn1_patch" not in str(raised.value).split("(")[0]  # honoured patches are not named as missing


def diff_lora(model: DiffusionModel, suffix: str, scale: float) -> dict[str, torch.Tensor]:
    """A LoRA of full weight differences (``.diff``) that multiplies every UNet weight ending in ``suffix`` by
    ``scale``, under kohya's names."""
    lora = {}
    for key, weight in model.unet.state_dict().items():
        if key.endswith(suffix):
            name = "lora_unet_" + key[: -len(".weight")].replace(".", "_")
            lora[name + ".diff"] = (weight.float() * (scale - 1)).contiguous()
    return lora


@pytest.fixture(scope="module")
def pack_server(tmp_path_factory, model):
    running = serve_packs(tmp_path_factory.mktemp("attention_pack"), "attention_pack", digits=True, loras={
        "self_values.safetensors": diff_lora(model, "attn1.to_v.weight", 0.5),
        "cross_values.safetensors": diff_lora(model, "attn2.to_v.weight", 0.5)})
    yield running
    stop_server(running)


def test_a_pack_attention_patch_and_replacement_equal_the_same_change_by_atelier_lora_loader(pack_server):
    sampling = {"seed": 21, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0]}
    patched = {  # sampler node: the MODEL it samples
        "20": ["1", 0],
        "21": ["2", 0], "22": ["3", 0], "23": ["9", 0], "24": ["10", 0], "25": ["11", 0], "26": ["12", 0],
    }
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": DIGITS_CHECKPOINT.name}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a handwritten digit 3", "clip": ["1", 1]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "strength_model": 1.0,
                                                     "lora_name": "self_values.safetensors", "strength_clip": 0.0}},
        "3": {"class_type": "AttentionValueScale|attention_pack",
              "inputs": {"model": ["1", 0], "attention": "self", "scale": 0.5}},
        "9": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "strength_model": 1.0,
                                                     "lora_name": "cross_values.safetensors", "strength_clip": 0.0}},
        "10": {"class_type": "AttentionValueScale|attention_pack",
               "inputs": {"model": ["1", 0], "attention": "cross", "scale": 0.5}},
        "11": {"class_type": "ExtraAttentionApply|attention_pack", "inputs": {"model": ["1", 0], "weight": -0.5}},
        "12": {"class_type": "ExtraAttentionApply|attention_pack", "inputs": {"model": ["1", 0], "weight": 0.0}},
    }
    for node, model_input in patched.items():
        prompt[node] = {"class_type": "KSampler", "inputs": {**sampling, "model": model_input}}
        prompt[f"decode{node}"] = {"class_type": "VAEDecode", "inputs": {"samples": [node, 0], "vae": ["1", 2]}}
        prompt[f"save{node}"] = {"class_type": "SaveImage",
                                 "inputs": {"images": [f"decode{node}", 0], "filename_prefix": f"n{node}"}}
    prompt_id, _, _ = run_ok(pack_server, prompt)
    image = {node: saved_pixels(pack_server, prompt_id, f"save{node}") for node in patched}
    assert image["20"].shape == (1, 32, 32, 3)
    assert np.array_equal(image["22"], image["21"])  # attn1 values halved by the pack, and by Atelier's LoRA
    assert np.array_equal(image["24"], image["23"])  # attn2 values, likewise
    assert np.array_equal(image["25"], image["23"])  # the pack's IPAdapter-like replacement, weight -0.5
    assert np.array_equal(image["26"], image["20"])  # ... and with weight 0: the plain model's picture
    assert not np.array_equal(image["21"], image["20"]) and not np.array_equal(image["23"], image["20"])
