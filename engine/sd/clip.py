"""A CLIP text encoder (transformers' ``CLIPTextModel``) turning prompts into conditioning.

Sizes are read from the state dict's shapes. One class serves every family; what differs is the family's
``EncoderStyle`` (``engine.sd.families``): SD1's CLIP-L (last layer, padded with EOS, quick-GELU), SD2's
OpenCLIP-H (penultimate layer through the final norm, padded with 0, GELU) and SDXL's two encoders (penultimate
layer without the final norm; bigG's pooled output goes through its projection). Weighted tokens are applied as
ComfyUI applies them: ``z = (z - z_empty) * weight + z_empty``, where ``z_empty`` encodes an empty prompt. Clones
share the weights; LoRA patches live on a clone and replace weights only for its calls (``functional_call``).
The value also answers ComfyUI's ``CLIP`` methods (``engine.sd.comfy_clip``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch.func import functional_call
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from engine.device import AUTO, Devices
from engine.sd.comfy_clip import ComfyClipMethods, Tokens, windows_and_extra
from engine.sd.families import SD1_STYLE, EncoderStyle
from engine.sd.families import SD2_STYLE as SD2_STYLE  # the families' styles, re-exported for callers of this module
from engine.sd.families import SDXL_G_STYLE as SDXL_G_STYLE
from engine.sd.families import SDXL_L_STYLE as SDXL_L_STYLE
from engine.sd.materialize import shared_compute_copy
from engine.sd.memory import module_bytes
from engine.sd.tokenizer import EOS, ClipTokenizer, Token

WeightPatch = Callable[[torch.Tensor], torch.Tensor]
EmbeddingSource = Callable[[str, int], torch.Tensor]  # (embedding name, encoder width) -> vectors [n, width]


def heads_for(hidden: int) -> int:
    """Attention heads, which shapes do not show: real CLIP text towers use 64-wide heads (768 -> 12,
    1024 -> 16, 1280 -> 20); tiny test and demo models below 64 wide use 16-wide heads."""
    return hidden // 64 if hidden >= 64 and hidden % 64 == 0 else max(1, hidden // 16)


def clip_config(sd: Mapping[str, torch.Tensor], hidden_act: str = "quick_gelu") -> CLIPTextConfig:
    tokens = sd["text_model.embeddings.token_embedding.weight"]
    layers = {int(m.group(1)) for key in sd if (m := re.match(r"text_model\.encoder\.layers\.(\d+)\.", key))}
    hidden = int(tokens.shape[1])
    return CLIPTextConfig(
        vocab_size=int(tokens.shape[0]), hidden_size=hidden,
        intermediate_size=int(sd["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
        num_hidden_layers=max(layers) + 1, num_attention_heads=heads_for(hidden),
        max_position_embeddings=int(sd["text_model.embeddings.position_embedding.weight"].shape[0]),
        hidden_act=hidden_act, layer_norm_eps=1e-5,
        projection_dim=int(sd["text_projection.weight"].shape[0]) if "text_projection.weight" in sd else hidden,
        bos_token_id=49406, eos_token_id=EOS, pad_token_id=1,
    )


def normalise_keys(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF names with the ``text_model.`` prefix; ``position_ids`` (a buffer, not a weight) dropped."""
    out = {}
    for key, value in sd.items():
        if key.endswith("position_ids"):
            continue
        prefixed = key.startswith(("text_model.", "text_projection."))
        out[key if prefixed else "text_model." + key] = value
    return out


class ClipTextModel(ComfyClipMethods):
    def __init__(self, model: CLIPTextModel, style: EncoderStyle = SD1_STYLE, devices: Devices = AUTO) -> None:
        self.model = model  # storage copy; never modified
        self.style = style
        self.devices = devices  # where and in which dtype it computes (kept by clones)
        self.text_tokenizer = ClipTokenizer(pad_token=style.pad_token)
        self.layer_idx = style.layer
        # Where ComfyUI's ``tokenize`` finds ``embedding:NAME`` (ComfyUI's CLIP keeps an embedding directory); None:
        # the words are read as text. Atelier's nodes pass their own source to ``encode_text`` instead.
        self.embeddings: EmbeddingSource | None = None
        self.patches: dict[str, list[WeightPatch]] = {}
        self.file_dtype: torch.dtype | None = None  # the dtype its weights had in their file; saving writes that
        self._shared: dict[str, Any] = {"compute": None}

    def clone(self) -> ClipTextModel:
        other = copy.copy(self)  # shares the model and its compute copy
        other.patches = {key: list(value) for key, value in self.patches.items()}
        return other

    def with_style(self, style: EncoderStyle) -> ClipTextModel:
        """The same weights read the way another family reads them (e.g. a standalone file used as SDXL's CLIP-L)."""
        other = self.clone()
        other.style, other.layer_idx = style, style.layer
        other.text_tokenizer = ClipTokenizer(pad_token=style.pad_token)
        return other

    def set_last_layer(self, layer: int) -> None:
        """CLIPSetLastLayer: -1 is the last layer, -2 the penultimate ("clip skip 2"), ..."""
        self.layer_idx = layer

    def weight_keys(self) -> list[str]:
        """The encoder's weight names in the checkpoint convention (``text_model.encoder.layers...``)."""
        return [_external(key) for key in self.model.state_dict()]

    def _internal(self, key: str) -> str:
        """transformers 5 flattens CLIPTextModel (no ``text_model.`` level); older versions keep it."""
        own = self.model.state_dict()
        return key if key in own else key.removeprefix("text_model.")

    def add_patch(self, key: str, patch: WeightPatch) -> None:
        """Queue ``patch`` for a weight named in the checkpoint convention."""
        internal = self._internal(key)
        if internal not in self.model.state_dict():
            raise KeyError(f"the text encoder has no weight named {key!r}")
        self.patches.setdefault(internal, []).append(patch)

    def memory_bytes(self) -> int:
        return module_bytes(self.model)

    def patched_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoder's weights in the checkpoint convention (``text_model.*``), patches applied."""
        weights = dict(self.model.state_dict())
        for key, patches in self.patches.items():
            weights[key] = _apply(weights[key], patches)
        return {_external(key): value for key, value in weights.items()}

    def _compute_model(self) -> CLIPTextModel:
        return shared_compute_copy(self.model, self.devices, self._shared)

    def _forward(self, ids: torch.Tensor, extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states at the chosen layer and the pooled EOS states (projected where the encoder has a
        projection). Ids past the vocabulary stand for the rows of ``extra`` (textual-inversion vectors)."""
        model = self._compute_model()
        ids = ids.to(next(model.parameters()).device)
        layers = int(self.model.config.num_hidden_layers)
        # -1 with the final norm, or a layer deeper than the encoder (as ComfyUI), is the normed last layer.
        last = (self.layer_idx == -1 and self.style.norm_hidden) or -self.layer_idx > layers
        kwargs = {"input_ids": ids, "output_hidden_states": not last}
        tower = getattr(model, "text_model", model)
        with torch.no_grad(), _extra_tokens(tower.embeddings.token_embedding, ids, extra):
            if self.patches:
                weights = {key: _apply(model.state_dict()[key], patches) for key, patches in self.patches.items()}
                out = functional_call(model, weights, (), kwargs, strict=False)
            else:
                out = model(**kwargs)
            if last:
                hidden = out.last_hidden_state
            else:
                hidden = out.hidden_states[self.layer_idx]
                if self.style.norm_hidden:
                    hidden = tower.final_layer_norm(hidden)
        pooled = out.text_embeds if hasattr(out, "text_embeds") else out.pooler_output
        return hidden.float().cpu(), pooled.float().cpu()

    def encode_tokens(self, windows: list[list[Token]], extra: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond [1, 77 * windows, dim], pooled [1, dim]) for tokenized windows."""
        weighted = any(weight != 1.0 for window in windows for _, weight in window)
        batch = [[token for token, _ in window] for window in windows]
        if weighted:
            batch.append([token for token, _ in self.text_tokenizer.empty()])
        hidden, pooled = self._forward(torch.tensor(batch, dtype=torch.long), extra)
        outputs = []
        for index, window in enumerate(windows):
            z = hidden[index:index + 1]
            if weighted:
                weights = torch.tensor([weight for _, weight in window])[None, :, None]
                z = (z - hidden[-1:]) * weights + hidden[-1:]
            outputs.append(z)
        return torch.cat(outputs, dim=1), pooled[:1]

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    @property
    def projected(self) -> bool:
        """Whether the pooled output goes through a text projection (SDXL's bigG)."""
        return hasattr(self.model, "text_projection")

    def tokenize_windows(self, text: str, embeddings: EmbeddingSource | None = None
                         ) -> tuple[list[list[Token]], torch.Tensor | None]:
        """Token windows of ``text`` and the vectors of its ``embedding:NAME`` words (ids past the vocabulary)."""
        extra: list[torch.Tensor] = []

        def placeholder_ids(name: str) -> list[int]:
            vectors = embeddings(name, self.width)  # type: ignore[misc]
            start = int(self.model.config.vocab_size) + sum(len(v) for v in extra)
            extra.append(vectors)
            return list(range(start, start + len(vectors)))

        windows = self.text_tokenizer.tokenize(text, placeholder_ids if embeddings else None)
        return windows, torch.cat(extra) if extra else None

    def encode_text(self, text: str, embeddings: EmbeddingSource | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, pooled) of a prompt; ``embeddings`` gives the vectors of each ``embedding:NAME`` (or raises)."""
        return self.encode_tokens(*self.tokenize_windows(text, embeddings))

    def weights_and_patches(self) -> dict[str, tuple[torch.Tensor, list[WeightPatch]]]:
        """Each weight as read (checkpoint names) with the patches queued on it."""
        return {_external(key): (value, self.patches.get(key, [])) for key, value in self.model.state_dict().items()}

    # ComfyUI's CLIP (engine.sd.comfy_clip): this encoder is the only one, named by its family's letter
    @property
    def letter(self) -> str:
        """ComfyUI's name for this kind of encoder: ``l`` (CLIP-L), ``h`` (SD2's OpenCLIP-H), ``g`` (bigG)."""
        return {SD2_STYLE: "h", SDXL_G_STYLE: "g"}.get(self.style, "l")

    def encoders_by_letter(self) -> dict[str, ClipTextModel]:
        return {self.letter: self}

    def patch_prefix(self, letter: str) -> str:
        return ""

    def encode_windows(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        windows = tokens.get(self.letter) or next(iter(tokens.values()))
        return self.encode_tokens(*windows_and_extra(windows, self.vocab_size))


@contextmanager
def _extra_tokens(table: torch.nn.Embedding, ids: torch.Tensor, extra: torch.Tensor | None) -> Iterator[None]:
    """While active, ids past the vocabulary look up ``extra``'s rows instead of the embedding table."""
    if extra is None:
        yield
        return
    vocab = table.num_embeddings
    beyond = ids >= vocab

    def clamp(_: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return (args[0].clamp(max=vocab - 1), *args[1:])

    def substitute(_: torch.nn.Module, __: Any, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        out[beyond] = extra[ids[beyond] - vocab].to(out.device, out.dtype)
        return out

    handles = [table.register_forward_pre_hook(clamp), table.register_forward_hook(substitute)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _external(key: str) -> str:
    """A weight name in the checkpoint convention, whichever way transformers nests the model."""
    return key if key.startswith(("text_model.", "text_projection.")) else "text_model." + key


def _apply(weight: torch.Tensor, patches: list[WeightPatch]) -> torch.Tensor:
    for patch in patches:
        weight = patch(weight).to(weight.dtype)
    return weight


def load_clip_from_state_dict(sd: Mapping[str, torch.Tensor], style: EncoderStyle = SD1_STYLE,
                              hidden_act: str | None = None, devices: Devices = AUTO) -> ClipTextModel:
    """A CLIP text encoder from Hugging Face-named weights (``text_model.*``, and ``text_projection.weight``
    for encoders with a projection), without copying them. OpenAI's CLIP uses quick-GELU, OpenCLIP's GELU."""
    sd = normalise_keys(sd)
    config = clip_config(sd, hidden_act or ("gelu" if style.save_layout == "openclip" else "quick_gelu"))
    projected = "text_projection.weight" in sd
    with torch.device("meta"):
        model = CLIPTextModelWithProjection(config) if projected else CLIPTextModel(config)
    if not any(key.startswith("text_model.") for key in model.state_dict()):
        sd = {key.removeprefix("text_model."): value for key, value in sd.items()}
    model.load_state_dict(sd, strict=False, assign=True)
    missing = [name for name, param in model.named_parameters() if param.is_meta]
    if missing:
        raise KeyError(f"text encoder weights missing: {', '.join(missing[:5])}")
    embeddings = getattr(model, "text_model", model).embeddings
    embeddings.register_buffer("position_ids", torch.arange(config.max_position_embeddings)[None],
                               persistent=False)
    return ClipTextModel(model.eval().requires_grad_(False), style, devices)
