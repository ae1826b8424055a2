"""GLIGEN: text-described boxes that place objects, through gated self-attention inside the UNet's transformers.

A GLIGEN file (ComfyUI's ``comfy/gligen.py`` reads the same layout) holds

- one "fuser" per transformer block, under the block's UNet key: ``input_blocks.1.1.transformer_blocks.0.fuser.*``
  (``linear`` from the text width to the block's width, ``attn.to_q/to_k/to_v/to_out.0``, ``ff.net.0.proj`` and
  ``ff.net.2`` (GEGLU), ``norm1``, ``norm2``, and the gates ``alpha_attn``, ``alpha_dense``), in UNet order;
- ``position_net.*``: each box's four corners (fractions of the image) as a Fourier embedding (8 frequencies, sin
  and cos), concatenated with its phrase's pooled text embedding and mapped by an MLP (``linears.0/2/4``, SiLU) to
  one grounding token; up to 30 boxes, the unused slots filled with the learned ``null_*_feature``.

While sampling, the fuser of each transformer block runs between its self- and cross-attention (ComfyUI's
``middle_patch``): ``x += tanh(alpha_attn) * attn(norm1([x, linear(tokens)]))[:, :len(x)]`` then
``x += tanh(alpha_dense) * ff(norm2(x))``, with the attention heads of the block it sits in (8 for SD1.x, as the
published files were trained). GLIGENTextBoxApply adds ``("position", gligen, [(pooled, h, w, y, x) ...])`` to a
conditioning (sizes in latent pixels); the sampler gives the negative prompt the positive's boxes when it has none
of its own (ComfyUI's ``apply_empty_x_to_equal_area``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.sd.attention import CrossAttention, FeedForward, attention
from engine.sd.state_dict import load_state_dict

MAX_OBJECTS = 30
FOURIER_TEMPERATURE = 100
FUSER = ".fuser."
POSITION_NET = "position_net."
BLOCKS = ("input_blocks", "middle_block", "output_blocks")

Position = tuple[torch.Tensor, int, int, int, int]  # (pooled text [1, dim], height, width, y, x) in latent pixels
MiddlePatch = Callable[[torch.Tensor, dict[str, Any]], torch.Tensor]


class GatedSelfAttentionDense(nn.Module):
    """The fuser of one transformer block (LDM and diffusers share its names)."""

    def __init__(self, query_dim: int, context_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(context_dim, query_dim)
        self.attn = CrossAttention(query_dim, None, heads=1, dim_head=query_dim)  # heads come from the block
        self.ff = FeedForward(query_dim)
        self.norm1 = nn.LayerNorm(query_dim)
        self.norm2 = nn.LayerNorm(query_dim)
        self.alpha_attn = nn.Parameter(torch.tensor(0.0))
        self.alpha_dense = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor, objects: torch.Tensor, heads: int) -> torch.Tensor:
        visual = x.shape[1]
        h = self.norm1(torch.cat([x, self.linear(objects)], dim=1))
        attended = self.attn.to_out(attention(self.attn.to_q(h), self.attn.to_k(h), self.attn.to_v(h), heads))
        x = x + torch.tanh(self.alpha_attn) * attended[:, :visual]
        return x + torch.tanh(self.alpha_dense) * self.ff(self.norm2(x))


def fourier_embedding(boxes: torch.Tensor, frequencies: int) -> torch.Tensor:
    """[..., 4] corners -> [..., frequencies * 2 * 4]: for each frequency ``100 ** (i / n)``, sin then cos."""
    bands = FOURIER_TEMPERATURE ** (torch.arange(frequencies, dtype=boxes.dtype) / frequencies)
    angles = boxes.unsqueeze(-2) * bands[:, None]  # [..., frequencies, 4]
    return torch.stack([angles.sin(), angles.cos()], dim=-2).flatten(-3)


class PositionNet(nn.Module):
    """Boxes and phrase embeddings -> grounding tokens [B, N, out_dim]."""

    def __init__(self, in_dim: int, out_dim: int, frequencies: int = 8) -> None:
        super().__init__()
        self.frequencies = frequencies
        position_dim = frequencies * 2 * 4
        self.linears = nn.Sequential(nn.Linear(in_dim + position_dim, 512), nn.SiLU(), nn.Linear(512, 512),
                                     nn.SiLU(), nn.Linear(512, out_dim))
        self.null_positive_feature = nn.Parameter(torch.zeros(in_dim))
        self.null_position_feature = nn.Parameter(torch.zeros(position_dim))

    def forward(self, boxes: torch.Tensor, masks: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        masks = masks.unsqueeze(-1)
        corners = fourier_embedding(boxes, self.frequencies)
        embeddings = embeddings * masks + (1 - masks) * self.null_positive_feature
        corners = corners * masks + (1 - masks) * self.null_position_feature
        return self.linears(torch.cat([embeddings, corners], dim=-1))


class Gligen(nn.Module):
    """The GLIGEN value: fusers in transformer order and the position net. ``middle_patch(positions)`` is what the
    sampler sets for a conditioning entry carrying boxes."""

    def __init__(self, fusers: list[GatedSelfAttentionDense], position_net: PositionNet) -> None:
        super().__init__()
        self.fusers = nn.ModuleList(fusers)
        self.position_net = position_net
        self.key_dim = position_net.null_positive_feature.shape[0]
        self._copies: dict[tuple[torch.device, torch.dtype], Gligen] = {}
        self.eval()

    def objects(self, positions: list[Position], latent_height: int, latent_width: int) -> torch.Tensor:
        """Grounding tokens [1, 30, dim] for boxes given in latent pixels (unused slots masked)."""
        if len(positions) > MAX_OBJECTS:
            raise ValueError(f"GLIGEN places at most {MAX_OBJECTS} boxes; the conditioning holds {len(positions)}")
        boxes = torch.zeros(1, MAX_OBJECTS, 4)
        masks = torch.zeros(1, MAX_OBJECTS)
        embeddings = torch.zeros(1, MAX_OBJECTS, self.key_dim)
        for index, (pooled, height, width, y, x) in enumerate(positions):
            boxes[0, index] = torch.tensor([x / latent_width, y / latent_height, (x + width) / latent_width,
                                            (y + height) / latent_height])
            masks[0, index] = 1.0
            embeddings[0, index] = pooled.float().reshape(-1, self.key_dim)[0]
        with torch.no_grad():
            return self.position_net(boxes, masks, embeddings)

    def middle_patch(self, positions: list[Position], latent_height: int, latent_width: int) -> MiddlePatch:
        """``p(x, extra_options) -> x`` running the fuser of block ``extra_options["transformer_index"]``."""
        objects = self.objects(positions, latent_height, latent_width)

        def patch(x: torch.Tensor, extra_options: dict[str, Any]) -> torch.Tensor:
            fuser = self._on(x).fusers[extra_options["transformer_index"]]
            tokens = objects.to(x).expand(x.shape[0], -1, -1)
            with torch.no_grad():
                return fuser(x, tokens, extra_options["n_heads"])

        return patch

    def _on(self, like: torch.Tensor) -> Gligen:
        place = (like.device, like.dtype)
        first = next(self.parameters())
        if (first.device, first.dtype) == place:
            return self
        if place not in self._copies:
            fusers = [copy.deepcopy(fuser) for fuser in self.fusers]
            self._copies[place] = Gligen(fusers, copy.deepcopy(self.position_net)).to(*place)
        return self._copies[place]

    # ComfyUI's names: its GLIGEN value is a ModelPatcher whose ``model`` has ``set_position``.
    @property
    def model(self) -> Gligen:
        return self

    def set_position(self, latent_image_shape: tuple[int, ...], position_params: list[Position],
                     device: Any = None) -> MiddlePatch:
        return self.middle_patch(position_params, latent_image_shape[-2], latent_image_shape[-1])


def gligen_from_state_dict(sd: Mapping[str, torch.Tensor]) -> Gligen:
    """A GLIGEN model from a file's tensors; widths from shapes, fusers ordered as the UNet runs its transformers."""
    fusers = [_fuser(tensors) for tensors in _fuser_groups(sd)]
    position = {key[len(POSITION_NET):]: value for key, value in sd.items() if key.startswith(POSITION_NET)}
    if not fusers or "null_positive_feature" not in position:
        raise ValueError("not a GLIGEN file: it needs '...transformer_blocks.N.fuser.*' and 'position_net.*' keys")
    net = PositionNet(position["null_positive_feature"].shape[0], position["linears.4.weight"].shape[0],
                      position["null_position_feature"].shape[0] // 8)
    net.load_state_dict({k: v.float() for k, v in position.items()})
    return Gligen(fusers, net)


def _fuser_groups(sd: Mapping[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Each transformer block's fuser tensors, by ``(block kind, block index, transformer block)``."""
    groups: dict[tuple[int, int, str], dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        if FUSER not in key:
            continue
        owner, name = key.split(FUSER, 1)
        parts = owner.split(".")
        kind = next((i for i, part in enumerate(parts) if part in BLOCKS), None)
        if kind is None:
            raise ValueError(f"GLIGEN key {key!r} names no UNet block")
        block = int(parts[kind + 1]) if parts[kind] != "middle_block" else 0
        groups.setdefault((BLOCKS.index(parts[kind]), block, owner), {})[name] = value
    return [groups[key] for key in sorted(groups)]


def _fuser(tensors: dict[str, torch.Tensor]) -> GatedSelfAttentionDense:
    query_dim, context_dim = tensors["linear.weight"].shape
    fuser = GatedSelfAttentionDense(query_dim, context_dim)
    fuser.load_state_dict({k: v.float() for k, v in tensors.items()})
    return fuser


def read_gligen(path: str | Path) -> Gligen:
    """A GLIGEN model from a ``.safetensors`` or weights-only ``.pth``/``.ckpt`` file."""
    sd = load_state_dict(path)  # its errors name the file
    try:
        return gligen_from_state_dict(sd)
    except (KeyError, ValueError) as e:
        raise ValueError(f"{Path(path).name}: {e}") from e


def with_positions(conditioning: list, gligen: Gligen, pooled: torch.Tensor, width: int, height: int, x: int,
                   y: int) -> list:
    """GLIGENTextBoxApply: each entry gets one more box (pixel sizes, stored in latent pixels as ComfyUI stores
    them) for the phrase whose pooled embedding is ``pooled``."""
    out = []
    for cond, options in conditioning:
        previous = options["gligen"][2] if "gligen" in options else []
        position = (pooled, height // 8, width // 8, y // 8, x // 8)
        out.append([cond, {**options, "gligen": ("position", gligen, [*previous, position])}])
    return out


def negative_with_boxes(positive: list, negative: list) -> list:
    """The negative prompt's entries with the positive's boxes where it has none (ComfyUI's
    ``apply_empty_x_to_equal_area`` for "gligen": only entries without an area take part)."""
    boxes = [options["gligen"] for _, options in positive if "area" not in options and options.get("gligen")]
    others = [i for i, (_, options) in enumerate(negative) if "area" not in options and not options.get("gligen")]
    if len(others) < sum(1 for _, o in negative if "area" not in o) or not boxes or not others:
        return negative  # the negative prompt has boxes of its own, or nothing to give them to
    out = list(negative)
    for number, gligen in enumerate(boxes):
        index = others[number % len(others)]
        cond, options = negative[index]
        out[index] = [cond, {**options, "gligen": gligen}]
    return out


def gligen_patch(options: dict[str, Any], latent_height: int, latent_width: int) -> MiddlePatch | None:
    """The middle patch for a conditioning entry's ``gligen`` option, if it has one."""
    gligen = options.get("gligen")
    if not gligen:
        return None
    kind, model, positions = (*gligen, [])[:3]
    model = getattr(model, "model", model)
    return model.middle_patch(positions if kind == "position" else [], latent_height, latent_width)
