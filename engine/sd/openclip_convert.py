"""OpenCLIP text-tower names (SD2's ``cond_stage_model.model.*``, SDXL's ``conditioner.embedders.1.model.*``) to
transformers' CLIP names and back.

The two layouts hold the same tensors except for attention: OpenCLIP stores q, k and v as one ``in_proj``
tensor, transformers as three. ``text_projection`` is ``x @ P`` in OpenCLIP and a bias-free linear layer
(weight ``P.T``) in transformers.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

# OpenCLIP name -> transformers name, for the parts of one residual block that map one to one.
_BLOCK = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "attn.out_proj": "self_attn.out_proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}
_TOP = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
}
_IGNORED = ("logit_scale", "attn_mask")
_QKV = ("q_proj", "k_proj", "v_proj")


def is_openclip(sd: Mapping[str, torch.Tensor]) -> bool:
    return "token_embedding.weight" in sd and any(key.startswith("transformer.resblocks.") for key in sd)


def openclip_to_hf(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers-named tensors (``text_model.*``, ``text_projection.weight``); q/k/v are views, not copies."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key in _TOP:
            out[_TOP[key]] = value
        elif key == "text_projection":
            out["text_projection.weight"] = value.T
        elif key.startswith("transformer.resblocks."):
            out.update(resblock_to_hf(key.removeprefix("transformer.resblocks."), value, "text_model"))
        elif not key.endswith(_IGNORED):
            raise KeyError(f"unexpected OpenCLIP tensor {key!r}")
    return out


def resblock_to_hf(key: str, value: torch.Tensor, tower: str) -> dict[str, torch.Tensor]:
    """One residual-block tensor ``transformer.resblocks.<key>`` under transformers' names in ``tower``
    ("text_model" or "vision_model"); q/k/v are views of the ``in_proj`` tensor, not copies."""
    index, rest = key.split(".", 1)
    prefix = f"{tower}.encoder.layers.{index}."
    module, kind = rest.rsplit(".", 1)
    if module == "attn" and kind in ("in_proj_weight", "in_proj_bias"):
        suffix = kind.removeprefix("in_proj_")
        return {f"{prefix}self_attn.{name}.{suffix}": part
                for name, part in zip(_QKV, value.chunk(3, dim=0), strict=True)}
    if module not in _BLOCK:
        raise KeyError(f"unexpected OpenCLIP tensor 'transformer.resblocks.{key}'")
    return {f"{prefix}{_BLOCK[module]}.{kind}": value}


def hf_to_openclip(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``openclip_to_hf`` (for saving checkpoints in the layout other tools read)."""
    top = {hf: oc for oc, hf in _TOP.items()}
    block = {hf: oc for oc, hf in _BLOCK.items()}
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        if key in top:
            out[top[key]] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        elif key.startswith("text_model.encoder.layers."):
            index, rest = key.removeprefix("text_model.encoder.layers.").split(".", 1)
            module, kind = rest.rsplit(".", 1)
            prefix = f"transformer.resblocks.{index}."
            if module.removeprefix("self_attn.") in _QKV:
                qkv.setdefault(f"{prefix}attn.in_proj_{kind}", {})[module.removeprefix("self_attn.")] = value
            elif module in block:
                out[f"{prefix}{block[module]}.{kind}"] = value
    for key, parts in qkv.items():
        out[key] = torch.cat([parts[name] for name in _QKV])
    return out
