"""GLIGEN against diffusers (``GatedSelfAttentionDense``, ``GLIGENTextBoundingboxProjection`` and a whole
``UNet2DConditionModel(attention_type="gated")``) on identical random weights, ComfyUI's file layout and its
conditioning rules.

Tolerance: 1e-4 of the reference's largest value (float32; the attention kernels differ), as the UNet tests.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.sd.gligen import (
    MAX_OBJECTS,
    GatedSelfAttentionDense,
    PositionNet,
    gligen_from_state_dict,
    negative_with_boxes,
    with_positions,
)
from engine.sd.unet import UNetModel
from engine.sd.unet_names import diffusers_to_ldm
from tests.engine.test_unet import SMALL, assert_close, diffusers_config, inputs
from tests.factories import random_module

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint  # noqa: E402
from diffusers.models import attention as diffusers_attention  # noqa: E402
from diffusers.models import embeddings as diffusers_embeddings  # noqa: E402


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Every parameter random (the gates and null features start at zero in both implementations)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            scale = 0.8 if "alpha" in name else 0.2
            parameter.copy_(torch.randn(parameter.shape, generator=gen) * scale)


def test_gated_self_attention_matches_diffusers():
    theirs = diffusers_attention.GatedSelfAttentionDense(64, 24, n_heads=8, d_head=8).eval()
    randomize(theirs, 0)
    ours = GatedSelfAttentionDense(64, 24)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(1)
    x, objects = torch.randn(2, 36, 64, generator=gen), torch.randn(2, MAX_OBJECTS, 24, generator=gen)
    with torch.no_grad():
        assert_close(ours(x, objects, heads=8), theirs(x, objects))


def test_position_net_matches_diffusers():
    theirs = diffusers_embeddings.GLIGENTextBoundingboxProjection(positive_len=24, out_dim=40).eval()
    randomize(theirs, 2)
    ours = PositionNet(24, 40)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(3)
    boxes = torch.rand(2, MAX_OBJECTS, 4, generator=gen)
    masks = (torch.rand(2, MAX_OBJECTS, generator=gen) > 0.5).float()
    embeddings = torch.randn(2, MAX_OBJECTS, 24, generator=gen)
    with torch.no_grad():
        assert_close(ours(boxes, masks, embeddings), theirs(boxes, masks, positive_embeddings=embeddings))


def gated_pair() -> tuple[UNetModel, dict[str, torch.Tensor], torch.nn.Module]:
    """Atelier's UNet, a GLIGEN file in ComfyUI's layout (LDM block names) and diffusers' gated UNet, all holding
    the same random weights."""
    ours = random_module(UNetModel, SMALL, 0)
    config = diffusers_config(SMALL)
    theirs = diffusers.UNet2DConditionModel(**config, attention_type="gated").eval()
    converted = convert_ldm_unet_checkpoint({"model.diffusion_model." + k: v for k, v in ours.state_dict().items()},
                                            config)
    missing, unexpected = theirs.load_state_dict(converted, strict=False)
    assert not unexpected and all(".fuser." in key or key.startswith("position_net.") for key in missing)
    for name, module in theirs.named_modules():
        if name.endswith(".fuser") or name == "position_net":
            randomize(module, len(name))
    grounding = {k: v for k, v in theirs.state_dict().items() if ".fuser." in k or k.startswith("position_net.")}
    renamed = diffusers_to_ldm(SMALL, list(grounding))
    gligen_file = {renamed.get(key, key): value for key, value in grounding.items()}
    return ours, gligen_file, theirs


def test_a_gated_unet_matches_diffusers():
    ours, gligen_file, theirs = gated_pair()
    assert "input_blocks.1.1.transformer_blocks.0.fuser.attn.to_q.weight" in gligen_file  # ComfyUI's layout
    gligen = gligen_from_state_dict(gligen_file)
    assert len(gligen.fusers) == 7  # SMALL's transformers: two down, the middle, four up
    x, t, context = inputs(SMALL, 16, 16)
    gen = torch.Generator().manual_seed(4)
    phrases = torch.randn(3, 24, generator=gen)
    positions = [(phrases[0:1], 8, 8, 0, 0), (phrases[1:2], 4, 12, 10, 2), (phrases[2:3], 16, 6, 0, 9)]
    boxes = torch.zeros(2, MAX_OBJECTS, 4)
    masks = torch.zeros(2, MAX_OBJECTS)
    embeddings = torch.zeros(2, MAX_OBJECTS, 24)
    for index, (phrase, height, width, top, left) in enumerate(positions):
        boxes[:, index] = torch.tensor([left / 16, top / 16, (left + width) / 16, (top + height) / 16])
        masks[:, index] = 1
        embeddings[:, index] = phrase
    gligen_args = {"boxes": boxes, "masks": masks, "positive_embeddings": embeddings}
    options = {"patches": {"middle_patch": [gligen.middle_patch(positions, 16, 16)]}}
    with torch.no_grad():
        expected = theirs(x, t, encoder_hidden_states=context, cross_attention_kwargs={"gligen": gligen_args}).sample
        got = ours(x, t, context, transformer_options=options)
        assert_close(got, expected)
        assert (got - ours(x, t, context)).abs().max() > 1e-2  # the boxes matter


def test_fusers_follow_the_unet_order_whatever_the_file_order():
    _, gligen_file, _ = gated_pair()
    reordered = dict(reversed(list(gligen_file.items())))
    prefixed = {"model.diffusion_model." + k if ".fuser." in k else k: v for k, v in gligen_file.items()}
    first = gligen_from_state_dict(gligen_file)
    for other in (gligen_from_state_dict(reordered), gligen_from_state_dict(prefixed)):
        for a, b in zip(first.fusers, other.fusers, strict=True):
            assert torch.equal(a.linear.weight, b.linear.weight)
    with pytest.raises(ValueError, match="not a GLIGEN file"):
        gligen_from_state_dict({k: v for k, v in gligen_file.items() if ".fuser." in k})


def test_the_published_sd1_layout_has_one_fuser_per_transformer():
    """SD1.x has 16 transformer blocks (input 1, 2, 4, 5, 7, 8; the middle; output 3 to 11): a published GLIGEN
    file holds 16 fusers, 320, 640 or 1280 wide, each reading 768-wide grounding tokens."""
    sd1 = replace(SMALL, model_channels=320, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                  transformer_depth=(1, 1, 1, 0), context_dim=768)
    with torch.device("meta"):
        unet = UNetModel(sd1)
    owners = sorted({key.split(".attn1.")[0] for key in unet.state_dict() if ".attn1.to_q." in key},
                    key=lambda k: ({"input_blocks": 0, "middle_block": 1, "output_blocks": 2}[k.split(".")[0]],
                                   int(k.split(".")[1])))
    assert [o.split(".transformer_blocks")[0] for o in owners] == [
        "input_blocks.1.1", "input_blocks.2.1", "input_blocks.4.1", "input_blocks.5.1", "input_blocks.7.1",
        "input_blocks.8.1", "middle_block.1", *(f"output_blocks.{i}.1" for i in range(3, 12))]


def test_text_boxes_append_and_the_negative_gets_the_positive_boxes():
    gligen, pooled = object(), torch.ones(1, 24)
    conditioning = [[torch.zeros(1, 77, 24), {"pooled_output": None}]]
    once = with_positions(conditioning, gligen, pooled, 64, 32, 16, 8)
    twice = with_positions(once, gligen, pooled, 8, 8, 0, 0)
    assert once[0][1]["gligen"][2] == [(pooled, 4, 8, 1, 2)]  # latent pixels: (h, w, y, x)
    assert [p[1:] for p in twice[0][1]["gligen"][2]] == [(4, 8, 1, 2), (1, 1, 0, 0)]
    assert "gligen" not in conditioning[0][1]
    negative = [[torch.zeros(1, 77, 24), {}]]
    filled = negative_with_boxes(twice, negative)
    assert filled[0][1]["gligen"] is twice[0][1]["gligen"] and "gligen" not in negative[0][1]
    own = [[torch.zeros(1, 77, 24), {"gligen": ("position", gligen, [])}]]
    assert negative_with_boxes(twice, own) is own  # a negative with boxes of its own keeps them
    in_area = [[torch.zeros(1, 77, 24), {"area": (8, 8, 0, 0)}]]
    assert negative_with_boxes(twice, in_area) is in_area  # entries with an area take no part
