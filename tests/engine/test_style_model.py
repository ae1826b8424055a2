"""T2I-Adapter style models (engine.style_model) against the published network written out as plain tensor math
(no package ships it), their key layout, and StyleModelApply's conditioning."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

from engine.style_model import (
    StyleModelError,
    apply_style,
    read_style_model,
    style_adapter_config,
    style_model_from_state_dict,
)
from tests.vision_factories import TINY_STYLE, tiny_style_adapter

TOLERANCE = 1e-5  # float32: measured max abs difference 1e-6


def reference_style_tokens(sd: dict[str, torch.Tensor], hidden: torch.Tensor, heads: int = 8) -> torch.Tensor:
    """TencentARC's StyleAdapter.forward: style tokens appended, ln_pre, CLIP blocks, ln_post on them, @ proj."""
    def norm(x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], 1e-5)

    tokens = sd["style_embedding"].shape[1]
    x = norm(torch.cat([hidden, sd["style_embedding"].expand(hidden.shape[0], -1, -1)], dim=1), "ln_pre")
    layers = 1 + max(int(key.split(".")[1]) for key in sd if key.startswith("transformer_layes."))
    for i in range(layers):
        p = f"transformer_layes.{i}."
        h = norm(x, p + "ln_1")
        q, k, v = F.linear(h, sd[p + "attn.in_proj_weight"], sd[p + "attn.in_proj_bias"]).chunk(3, dim=-1)
        split = [t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v)]
        weights = torch.softmax(split[0] @ split[1].transpose(-1, -2) / split[0].shape[-1] ** 0.5, dim=-1)
        attended = (weights @ split[2]).transpose(1, 2).flatten(2)
        x = x + F.linear(attended, sd[p + "attn.out_proj.weight"], sd[p + "attn.out_proj.bias"])
        inner = F.linear(norm(x, p + "ln_2"), sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])
        x = x + F.linear(inner * torch.sigmoid(1.702 * inner), sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    return norm(x[:, -tokens:], "ln_post") @ sd["proj"]


def test_style_tokens_match_the_published_network():
    sd = tiny_style_adapter(seed=4).state_dict()
    model = style_model_from_state_dict(sd)
    hidden = torch.randn(2, 5, TINY_STYLE.width, generator=torch.Generator().manual_seed(0))
    ours = model.get_cond({"last_hidden_state": hidden})
    assert ours.shape == (2, TINY_STYLE.tokens, TINY_STYLE.context_dim)
    assert (ours - reference_style_tokens(sd, hidden)).abs().max() < TOLERANCE


def test_the_published_layout_is_read_from_shapes():
    """t2iadapter_style_sd14v1: 1024 wide (ViT-L/14's hidden states), 768 out, three blocks, eight tokens."""
    keys = {"style_embedding": torch.empty(1, 8, 1024, device="meta"),
            "proj": torch.empty(1024, 768, device="meta"),
            "transformer_layes.2.ln_1.weight": torch.empty(1024, device="meta")}
    config = style_adapter_config(keys)
    assert (config.width, config.context_dim, config.layers, config.tokens, config.heads) == (1024, 768, 3, 8, 8)


def test_redux_and_other_files_are_refused_by_name(tmp_path):
    safetensors.torch.save_file({"redux_down.weight": torch.zeros(2, 2)}, str(tmp_path / "redux.safetensors"))
    with pytest.raises(StyleModelError, match="redux.safetensors: Flux Redux"):
        read_style_model(tmp_path / "redux.safetensors")
    with pytest.raises(StyleModelError, match="not a style model"):
        style_model_from_state_dict({"conv_in.weight": torch.zeros(1)})


def test_a_clip_vision_output_of_another_width_is_refused():
    model = style_model_from_state_dict(tiny_style_adapter().state_dict())
    with pytest.raises(ValueError, match="reads a 64-wide CLIP vision encoder"):
        model.get_cond({"last_hidden_state": torch.zeros(1, 5, 32)})


def test_apply_appends_every_image_s_tokens_scaled_by_strength():
    conditioning = [[torch.zeros(1, 77, 32), {"pooled_output": torch.ones(1, 32)}], [torch.ones(1, 154, 32), {}]]
    tokens = torch.randn(2, 3, 32)
    out = apply_style(conditioning, tokens, 0.5)
    assert [cond.shape[1] for cond, _ in out] == [83, 160]
    assert torch.equal(out[0][0][:, 77:], 0.5 * tokens.flatten(0, 1)[None])
    assert out[0][1] == conditioning[0][1] and out[0][1] is not conditioning[0][1]
    assert torch.equal(apply_style(conditioning, tokens, 1.0, "attn_bias")[1][0][:, 154:], tokens.flatten(0, 1)[None])
    with pytest.raises(NotImplementedError, match="attn_bias"):
        apply_style(conditioning, tokens, 0.5, "attn_bias")
