"""LoRA patches: each adapter's formula, naming schemes, and parity with diffusers + PEFT on the same UNet."""

from __future__ import annotations

import pytest
import torch

from engine.lora import WeightUpdate, key_map, parse_lora
from engine.sd.unet import UNetModel
from engine.sd.unet_config import UNetConfig
from engine.sd.unet_names import ldm_to_diffusers
from tests.engine.test_unet import diffusers_config
from tests.factories import random_module

CONFIG = UNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, transformer_depth=(1, 1),
                    context_dim=32, num_heads=2)
Q_KEY = "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"
CONV_KEY = "input_blocks.1.0.in_layers.2.weight"


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def names() -> dict:
    with torch.device("meta"):
        keys = list(UNetModel(CONFIG).state_dict())
    return key_map(ldm_to_diffusers(CONFIG, keys), ["text_model.encoder.layers.0.self_attn.q_proj.weight"])


def test_lora_formula_with_alpha_in_kohya_ldm_and_diffusers_names():
    weight = torch.randn(32, 32, generator=gen())
    up, down = torch.randn(32, 4, generator=gen(1)), torch.randn(4, 32, generator=gen(2))
    expected = weight + 0.7 * (8.0 / 4) * up @ down
    for prefix in ["lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q",
                   "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"]:
        lora = parse_lora({f"{prefix}.lora_up.weight": up, f"{prefix}.lora_down.weight": down,
                           f"{prefix}.alpha": torch.tensor(8.0)}, names())
        assert lora.unmatched == []
        patched = lora.updates[("unet", Q_KEY)].patch(0.7)(weight)
        torch.testing.assert_close(patched, expected, rtol=1e-5, atol=1e-5)


def test_locon_convolution_and_tucker_core():
    weight = torch.randn(32, 32, 3, 3, generator=gen())
    up, down = torch.randn(32, 4, 1, 1, generator=gen(1)), torch.randn(4, 32, 3, 3, generator=gen(2))
    update = WeightUpdate("lora", {"up": up, "down": down}, alpha=2.0)
    expected = weight - 1.5 * 0.5 * (up.flatten(1) @ down.flatten(1)).reshape(weight.shape)
    torch.testing.assert_close(update.patch(-1.5)(weight), expected, rtol=1e-5, atol=1e-5)
    mid = torch.randn(4, 4, 3, 3, generator=gen(3))
    tucker = WeightUpdate("lora", {"up": up, "down": torch.randn(4, 32, 1, 1, generator=gen(4)), "mid": mid})
    manual = torch.zeros(32, 32, 3, 3)
    down1 = tucker.tensors["down"].flatten(1)
    for p in range(32):
        for r in range(32):
            manual[p, r] = sum(up[p, i, 0, 0] * down1[j, r] * mid[i, j] for i in range(4) for j in range(4))
    torch.testing.assert_close(tucker.delta(weight.shape), manual, rtol=1e-4, atol=1e-4)


def test_loha_and_lokr_formulas():
    weight = torch.randn(16, 24, generator=gen())
    w1a, w1b = torch.randn(16, 2, generator=gen(1)), torch.randn(2, 24, generator=gen(2))
    w2a, w2b = torch.randn(16, 2, generator=gen(3)), torch.randn(2, 24, generator=gen(4))
    loha = WeightUpdate("loha", {"w1_a": w1a, "w1_b": w1b, "w2_a": w2a, "w2_b": w2b}, alpha=1.0)
    torch.testing.assert_close(loha.patch(1.0)(weight), weight + 0.5 * (w1a @ w1b) * (w2a @ w2b))
    w1 = torch.randn(4, 4, generator=gen(5))
    k2a, k2b = torch.randn(4, 3, generator=gen(6)), torch.randn(3, 6, generator=gen(7))
    lokr = WeightUpdate("lokr", {"w1": w1, "w2_a": k2a, "w2_b": k2b}, alpha=6.0)
    torch.testing.assert_close(lokr.patch(0.5)(weight), weight + 0.5 * 2.0 * torch.kron(w1, k2a @ k2b))


def test_unmatched_keys_are_reported_by_name():
    lora = parse_lora({"lora_unet_nothing_here.lora_up.weight": torch.zeros(1, 1),
                       "lora_unet_nothing_here.lora_down.weight": torch.zeros(1, 1),
                       "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.zeros(8, 2),
                       "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.zeros(2, 8)},
                      names())
    assert lora.unmatched == ["lora_unet_nothing_here.lora_down.weight", "lora_unet_nothing_here.lora_up.weight"]
    assert ("clip", "text_model.encoder.layers.0.self_attn.q_proj.weight") in lora.updates


def peft_file(weights: dict, targets: list[str], mapping: dict[str, str], seed: int) -> dict[str, torch.Tensor]:
    """A rank-4 PEFT/diffusers LoRA file (``unet.<diffusers name>.lora_A/B``) for the ``targets`` of ``weights``."""
    file = {}
    for index, key in enumerate(targets):
        weight = weights[key]
        name = "unet." + mapping[key][: -len(".weight")]
        file[name + ".lora_A.weight"] = torch.randn(4, *weight.shape[1:], generator=gen(seed + index)) * 0.3
        file[name + ".lora_B.weight"] = torch.randn(weight.shape[0], 4, *([1] * (weight.ndim - 2)),
                                                    generator=gen(seed + 100 + index)) * 0.3
    return file


def test_unet_with_peft_lora_matches_diffusers_loading_the_same_file():
    diffusers = pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    from engine.sd.latent_format import SD15
    from engine.sd.model import DiffusionModel

    ours = random_module(UNetModel, CONFIG, seed=0)
    ldm = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    reference = diffusers.UNet2DConditionModel(**diffusers_config(CONFIG))
    reference.load_state_dict(convert_ldm_unet_checkpoint(ldm, diffusers_config(CONFIG)))
    mapping = ldm_to_diffusers(CONFIG, list(ours.state_dict()))
    targets = [k for k in ours.state_dict() if k.endswith(("to_q.weight", "to_v.weight", "proj_in.weight"))
               and "input_blocks" in k]
    file = peft_file(ours.state_dict(), targets, mapping, seed=10)
    lora = parse_lora(file, names())
    assert lora.unmatched == [] and len(lora.updates) == len(targets)

    before = {key: ours.state_dict()[key].clone() for key in targets}
    model = DiffusionModel(ours, model_sampling=None, latent_format=SD15)
    patched = model.clone()
    for (_, key), update in lora.updates.items():
        patched.add_patch(key, update.patch(1.0))
    reference.load_lora_adapter(file, prefix="unet", adapter_name="test")

    x, t = torch.randn(1, 4, 16, 16, generator=gen(30)), torch.tensor([500])
    context = torch.randn(1, 7, CONFIG.context_dim, generator=gen(31))
    with torch.no_grad(), patched.patched_unet() as run:
        ours_out = run(x, t, context)
        theirs = reference(x, t, context).sample
        with model.patched_unet() as base:
            unpatched = base(x, t, context)
    scale = theirs.abs().max()
    assert (ours_out - theirs).abs().max() / scale < 1e-4
    assert (unpatched - theirs).abs().max() / scale > 1e-2  # the LoRA changed the output...
    assert all(torch.equal(model.unet.state_dict()[key], before[key]) for key in targets)  # ...not the base


def test_sdxl_text_encoder_loras_patch_the_encoder_they_name(tmp_path):
    from engine.lora import apply_lora, model_key_map
    from engine.sd.checkpoint import read_checkpoint
    from tests.factories import write_tiny_sdxl_checkpoint

    model, clip, _ = read_checkpoint(write_tiny_sdxl_checkpoint(tmp_path / "xl.safetensors"))
    up, down = torch.randn(32, 2, generator=gen(1)), torch.randn(2, 32, generator=gen(2))
    layer = "text_model_encoder_layers_1_self_attn_q_proj"
    file = {f"lora_te1_{layer}.lora_up.weight": up, f"lora_te1_{layer}.lora_down.weight": down,
            f"lora_te2_{layer}.lora_up.weight": 2 * up, f"lora_te2_{layer}.lora_down.weight": down,
            "lora_unet_input_blocks_3_1_proj_in.lora_up.weight": torch.randn(128, 2, generator=gen(3)),
            "lora_unet_input_blocks_3_1_proj_in.lora_down.weight": torch.randn(2, 128, generator=gen(4))}
    lora = parse_lora(file, model_key_map(model, clip))
    assert lora.unmatched == []
    patched_model, patched_clip = apply_lora(model, clip, lora, 0.5, 0.5)
    before, after = clip.patched_state_dict(), patched_clip.patched_state_dict()
    key = "text_model.encoder.layers.1.self_attn.q_proj.weight"
    for encoder, scale in (("clip_l", 1.0), ("clip_g", 2.0)):
        torch.testing.assert_close(after[f"{encoder}.{key}"], before[f"{encoder}.{key}"] + 0.5 * scale * up @ down)
    assert set(patched_model.patches) == {"input_blocks.3.1.proj_in.weight"}
    assert not torch.equal(patched_clip.encode_text("a cat")[0], clip.encode_text("a cat")[0])


def test_sdxl_unet_with_peft_lora_matches_diffusers():
    pytest.importorskip("peft")
    from engine.sd import families
    from engine.sd.components import unet_from_state_dict
    from tests.engine.test_families import sdxl_pair
    from tests.factories import TINY_SDXL_UNET

    ours, reference = sdxl_pair()
    mapping = ldm_to_diffusers(TINY_SDXL_UNET, list(ours.state_dict()))
    layers = ("attn2.to_k.weight", "attn1.to_out.0.weight", "ff.net.2.weight")
    targets = [k for k in ours.state_dict()
               if k.endswith(layers) and ("transformer_blocks.1." in k or "middle_block" in k)]
    file = peft_file(ours.state_dict(), targets, mapping, seed=40)
    lora = parse_lora(file, key_map(mapping, []))
    assert lora.unmatched == [] and len(lora.updates) == len(targets) > 4
    model = unet_from_state_dict(ours.state_dict(), families.SDXL)
    patched = model.clone()
    for (_, key), update in lora.updates.items():
        patched.add_patch(key, update.patch(1.0))
    reference.load_lora_adapter(file, prefix="unet", adapter_name="test")

    x, t = torch.randn(1, 4, 8, 8, generator=gen(80)), torch.tensor([500])
    context = torch.randn(1, 7, TINY_SDXL_UNET.context_dim, generator=gen(81))
    pooled = torch.randn(1, 32, generator=gen(82))
    y, _ = model.extra_inputs({"pooled_output": pooled, "width": 512, "height": 512}, torch.zeros_like(x), None, False)
    with torch.no_grad(), patched.patched_unet() as run:
        ours_out = run(x, t, context, y=y)
        theirs = reference(x, t, context, added_cond_kwargs={
            "text_embeds": pooled, "time_ids": torch.tensor([[512.0, 512.0, 0.0, 0.0, 512.0, 512.0]])}).sample
        with model.patched_unet() as base:
            unpatched = base(x, t, context, y=y)
    scale = theirs.abs().max()
    assert (ours_out - theirs).abs().max() / scale < 1e-4
    assert (unpatched - theirs).abs().max() / scale > 1e-2
