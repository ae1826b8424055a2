"""SDXL's CLIP value: CLIP-L and OpenCLIP-bigG side by side.

A prompt is encoded by both; the conditioning is their hidden states joined along the feature axis
(768 + 1280 = 2048 wide) and the pooled output is bigG's projected one, as SDXL was trained. Weight names are
those of the two encoders under ``clip_l.`` and ``clip_g.``, so LoRA files and merges address either. The value also
answers ComfyUI's ``CLIP`` methods (``engine.sd.comfy_clip``).
"""

from __future__ import annotations

import logging

import torch

from engine.sd.clip import ClipTextModel, EmbeddingSource, WeightPatch
from engine.sd.comfy_clip import ComfyClipMethods, Tokens, windows_and_extra
from engine.sd.embeddings import EmbeddingMismatch
from engine.sd.tokenizer import Token

Windows = tuple[list[list[Token]], torch.Tensor | None]
log = logging.getLogger(__name__)


class DualClip(ComfyClipMethods):
    def __init__(self, clip_l: ClipTextModel, clip_g: ClipTextModel) -> None:
        self.encoders = {"clip_l": clip_l, "clip_g": clip_g}

    def clone(self) -> DualClip:
        return DualClip(self.encoders["clip_l"].clone(), self.encoders["clip_g"].clone())

    def set_last_layer(self, layer: int) -> None:
        for encoder in self.encoders.values():
            encoder.set_last_layer(layer)

    @property
    def width(self) -> int:
        return sum(encoder.width for encoder in self.encoders.values())

    def memory_bytes(self) -> int:
        return sum(encoder.memory_bytes() for encoder in self.encoders.values())

    def weight_keys(self) -> list[str]:
        return [f"{name}.{key}" for name, encoder in self.encoders.items() for key in encoder.weight_keys()]

    def add_patch(self, key: str, patch: WeightPatch) -> None:
        name, _, inner = key.partition(".")
        if name not in self.encoders:
            raise KeyError(f"the SDXL text encoders have no weight named {key!r} (expected clip_l.* or clip_g.*)")
        self.encoders[name].add_patch(inner, patch)

    def patched_state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{key}": value for name, encoder in self.encoders.items()
                for key, value in encoder.patched_state_dict().items()}

    def encode_text(self, text: str, embeddings: EmbeddingSource | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_pair(text, text, embeddings)

    def encode_pair(self, text_g: str, text_l: str, embeddings: EmbeddingSource | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIPTextEncodeSDXL: bigG reads ``text_g``, CLIP-L ``text_l``; the shorter is padded with empty windows.

        An embedding made for one of the two encoders (an SD1.x embedding is CLIP-L's width) is used by that one and
        left out of the other, with a warning, as ComfyUI does; one that fits neither is an error."""
        clip_l, clip_g = self.encoders["clip_l"], self.encoders["clip_g"]
        misfits: dict[str, list[EmbeddingMismatch]] = {}
        lookup = _tolerant(embeddings, misfits) if embeddings else None
        windows_l, extra_l = clip_l.tokenize_windows(text_l, lookup)
        windows_g, extra_g = clip_g.tokenize_windows(text_g, lookup)
        for name, errors in misfits.items():
            if len(errors) == 2 or (name not in text_l or name not in text_g):
                raise errors[0]
            log.warning("embedding %s fits only one of SDXL's text encoders; the other leaves it out", name)
        return self._encode_both(windows_l, extra_l, windows_g, extra_g)

    def _encode_both(self, windows_l: list[list[Token]], extra_l: torch.Tensor | None, windows_g: list[list[Token]],
                     extra_g: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        clip_l, clip_g = self.encoders["clip_l"], self.encoders["clip_g"]
        windows_l = windows_l + [clip_l.text_tokenizer.empty()] * (len(windows_g) - len(windows_l))
        windows_g = windows_g + [clip_g.text_tokenizer.empty()] * (len(windows_l) - len(windows_g))
        cond_l, _ = clip_l.encode_tokens(windows_l, extra_l)
        cond_g, pooled = clip_g.encode_tokens(windows_g, extra_g)
        return torch.cat([cond_l, cond_g], dim=-1), pooled

    # ComfyUI's CLIP (engine.sd.comfy_clip)
    @property
    def embeddings(self) -> EmbeddingSource | None:
        return self.encoders["clip_l"].embeddings

    @embeddings.setter
    def embeddings(self, source: EmbeddingSource | None) -> None:
        for encoder in self.encoders.values():
            encoder.embeddings = source

    def encoders_by_letter(self) -> dict[str, ClipTextModel]:
        return {"g": self.encoders["clip_g"], "l": self.encoders["clip_l"]}

    def patch_prefix(self, letter: str) -> str:
        return f"clip_{letter}."

    def encode_windows(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        """SDXL's cond from ComfyUI's ``{"g": ..., "l": ...}`` tokens; the longer is cut to the shorter's windows, as
        ComfyUI's SDXLClipModel cuts (its CLIPTextEncodeSDXL pads the tokens itself first)."""
        clip_l, clip_g = self.encoders["clip_l"], self.encoders["clip_g"]
        windows = min(len(tokens["l"]), len(tokens["g"]))
        return self._encode_both(*windows_and_extra(tokens["l"][:windows], clip_l.vocab_size),
                                 *windows_and_extra(tokens["g"][:windows], clip_g.vocab_size))


def _tolerant(embeddings: EmbeddingSource, misfits: dict[str, list[EmbeddingMismatch]]) -> EmbeddingSource:
    """``embeddings``, except that one made for another width gives no vectors (the failure is recorded)."""
    def lookup(name: str, width: int) -> torch.Tensor:
        try:
            return embeddings(name, width)
        except EmbeddingMismatch as error:
            misfits.setdefault(name, []).append(error)
            return torch.zeros(0, width)
    return lookup
