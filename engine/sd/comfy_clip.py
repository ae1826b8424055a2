"""ComfyUI's method names on the CLIP value (``comfy.sd.CLIP``), over Atelier's text encoders.

Plug-ins call ``clip.tokenize(text)`` and ``clip.encode_from_tokens(tokens, return_pooled=True)``, reach for
``clip.cond_stage_model`` / ``clip.tokenizer`` / ``clip.patcher``, and patch weights with ``add_patches``. Here the
CLIP value plays all of those roles itself: ``ClipTextModel`` (one encoder) and ``DualClip`` (SDXL's pair) inherit
``ComfyClipMethods`` and implement the few hooks it names.

ComfyUI's token structure is a dict of encoder letter -> windows of ``(token, weight)`` pairs (``(token, weight,
word_id)`` with ``return_word_ids``): ``{"l": [[(49406, 1.0), ...]]}`` for SD1, ``{"g": ..., "l": ...}`` for SDXL,
``"h"`` for SD2's OpenCLIP-H. A token is an id, or a vector (one row of a textual-inversion embedding), as in ComfyUI.
Weight keys use ComfyUI's names, ``clip_l.transformer.text_model...``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch

from engine.sd.prompt_weights import parse_prompt
from engine.sd.tokenizer import BOS, EMBEDDING, EOS, MAX_LENGTH, encode_text
from engine.sd.weight_patches import EntryPatch, entry_of

if TYPE_CHECKING:
    from engine.sd.clip import ClipTextModel

Tokens = dict[str, list[list[tuple]]]  # encoder letter -> windows of (token, weight[, word id])


class ComfyClipMethods:
    """ComfyUI's ``CLIP`` API. Subclasses provide ``encoders_by_letter()``, ``encode_windows(tokens)``, ``clone()``,
    ``set_last_layer``, ``add_patch``, ``patched_state_dict`` and ``weight_keys`` (Atelier's own API)."""

    def encoders_by_letter(self) -> dict[str, ClipTextModel]:
        raise NotImplementedError

    def encode_windows(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    # The roles ComfyUI splits over several objects
    @property
    def cond_stage_model(self) -> ComfyClipMethods:
        """ComfyUI's text-encoder module: the CLIP value itself (``encode_token_weights``, ``clip_l`` ...)."""
        return self

    @property
    def tokenizer(self) -> ComfyTokenizer:
        return ComfyTokenizer(self)

    @property
    def patcher(self) -> ClipPatcher:
        return ClipPatcher(self)

    @property
    def clip_l(self) -> ClipTextModel:
        return self._encoder("l")

    @property
    def clip_g(self) -> ClipTextModel:
        return self._encoder("g")

    @property
    def clip_h(self) -> ClipTextModel:
        return self._encoder("h")

    def _encoder(self, letter: str) -> ClipTextModel:
        try:
            return self.encoders_by_letter()[letter]
        except KeyError:
            raise AttributeError(f"this CLIP has no clip_{letter} encoder") from None

    # Tokens and encoding
    def tokenize(self, text: str, return_word_ids: bool = False, **kwargs: Any) -> Tokens:
        """ComfyUI's tokens for ``text``: Atelier's windows (same prompt weighting), per encoder letter."""
        return {letter: comfy_windows(encoder, text, return_word_ids)
                for letter, encoder in sorted(self.encoders_by_letter().items())}

    def encode_token_weights(self, token_weight_pairs: Tokens | list) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, pooled) for ComfyUI's tokens: a dict by encoder letter, or one encoder's windows."""
        if not isinstance(token_weight_pairs, Mapping):
            letters = list(self.encoders_by_letter())
            if len(letters) != 1:
                raise ValueError("SDXL's text encoders need tokens by encoder ({'g': ..., 'l': ...})")
            token_weight_pairs = {letters[0]: token_weight_pairs}
        return self.encode_windows(dict(token_weight_pairs))

    def encode_from_tokens(self, tokens: Tokens, return_pooled: bool | str = False,
                           return_dict: bool = False) -> Any:
        if return_pooled == "unprojected" and any(e.projected for e in self.encoders_by_letter().values()):
            raise NotImplementedError("Atelier's text encoders give only the projected pooled output")
        cond, pooled = self.encode_token_weights(tokens)
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        return (cond, pooled) if return_pooled else cond

    def encode_from_tokens_scheduled(self, tokens: Tokens, unprojected: bool = False,
                                     add_dict: Mapping[str, Any] | None = None, show_pbar: bool = True) -> list:
        """A CONDITIONING of one entry (Atelier has no CLIP hook schedules)."""
        out = self.encode_from_tokens(tokens, return_pooled="unprojected" if unprojected else True,
                                      return_dict=True)
        cond = out.pop("cond")
        return [[cond, {**out, **(add_dict or {})}]]

    def encode(self, text: str) -> torch.Tensor:
        """ComfyUI's ``CLIP.encode``: the cond tensor alone (Atelier's ``encode_text`` also gives the pooled)."""
        return self.encode_from_tokens(self.tokenize(text))

    def clip_layer(self, layer_idx: int) -> None:
        self.set_last_layer(layer_idx)  # type: ignore[attr-defined]

    # Weights
    def comfy_weight_names(self) -> dict[str, str]:
        """ComfyUI's weight names (``clip_l.transformer.text_model.X``) -> this value's (``add_patch`` keys)."""
        return {f"clip_{letter}.transformer.{key}": self.patch_prefix(letter) + key
                for letter, encoder in self.encoders_by_letter().items() for key in encoder.weight_keys()}

    def patch_prefix(self, letter: str) -> str:
        """What this value's ``add_patch`` keys start with for the encoder ``letter`` (SDXL's ``clip_l.``)."""
        raise NotImplementedError

    def add_patches(self, patches: Mapping[Any, Any], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[Any]:
        """ComfyUI's weight patches by ComfyUI key (or ``(key, offset[, function])``); returns the keys taken."""
        names = self.comfy_weight_names()
        taken = []
        for key, value in patches.items():
            name, offset, function = (key, None, None) if isinstance(key, str) else (*key, None)[:3]
            if name in names:
                entry = (strength_patch, value, strength_model, offset, function)
                self.add_patch(names[name], EntryPatch(entry, name))  # type: ignore[attr-defined]
                taken.append(key)
        return taken

    def get_key_patches(self, filter_prefix: str | None = None) -> dict[str, list]:
        """ComfyUI key -> ``[(weight, convert)] + patch entries`` (what ComfyUI's CLIPMergeSimple reads)."""
        out = {}
        for letter, encoder in self.encoders_by_letter().items():
            for key, (weight, patches) in encoder.weights_and_patches().items():
                name = f"clip_{letter}.transformer.{key}"
                if filter_prefix is None or name.startswith(filter_prefix):
                    out[name] = [(weight, _identity)] + [entry_of(patch) for patch in patches]
        return out

    def get_sd(self) -> dict[str, torch.Tensor]:
        """The encoders' weights (patches applied) under ComfyUI's names."""
        return {f"clip_{letter}.transformer.{key}": value for letter, encoder in self.encoders_by_letter().items()
                for key, value in encoder.patched_state_dict().items()}

    def load_sd(self, sd: Mapping[str, torch.Tensor], full_model: bool = False) -> tuple[list[str], list[str]]:
        """Replace weights on this value only (a ``set`` patch each; clones and the cached model keep theirs);
        returns (missing, unexpected) ComfyUI keys as ``load_state_dict`` does."""
        names = self.comfy_weight_names()
        for key, value in sd.items():
            if key in names:
                self.add_patch(names[key], EntryPatch((1.0, ("set", (value,)), 1.0, None, None), key))  # type: ignore[attr-defined]
        return [key for key in names if key not in sd], [key for key in sd if key not in names]

    def load_model(self) -> ClipPatcher:
        """Atelier moves encoders to their device when they run; nothing to load ahead."""
        return self.patcher


class ComfyTokenizer:
    """ComfyUI's ``clip.tokenizer`` (``SD1Tokenizer``/``SDXLTokenizer``/``SDTokenizer``) for one CLIP value."""

    max_length = MAX_LENGTH
    start_token = BOS
    end_token = EOS
    pad_to_max_length = True

    def __init__(self, clip: ComfyClipMethods) -> None:
        self.clip = clip

    def tokenize_with_weights(self, text: str, return_word_ids: bool = False, **kwargs: Any) -> Tokens | list:
        tokens = self.clip.tokenize(text, return_word_ids)
        return tokens if len(tokens) > 1 or not self.single else next(iter(tokens.values()))

    @property
    def single(self) -> bool:
        """One encoder's tokenizer (``clip.tokenizer.clip_l``) answers a list of windows, not a dict."""
        return False

    @property
    def pad_with_end(self) -> bool:
        return all(e.text_tokenizer.pad_token == EOS for e in self.clip.encoders_by_letter().values())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("clip_") and len(name) == 6:
            return _EncoderTokenizer(getattr(self.clip, name))
        raise AttributeError(name)

    def untokenize(self, token_weight_pair: list) -> list:
        return [(pair, _decode(pair[0])) for pair in token_weight_pair]

    def state_dict(self) -> dict:
        return {}


class _EncoderTokenizer(ComfyTokenizer):
    @property
    def single(self) -> bool:
        return True


class ClipPatcher:
    """The little of ComfyUI's ``clip.patcher`` (a ModelPatcher) plug-ins touch, as a view of the CLIP value."""

    is_clip = True
    forced_hooks = None

    def __init__(self, clip: ComfyClipMethods) -> None:
        self.model = clip
        encoder = next(iter(clip.encoders_by_letter().values()))
        self.load_device = encoder.devices.compute_device()
        self.offload_device = encoder.devices.offload_device()
        self.model_options: dict[str, Any] = {"transformer_options": {}}

    @property
    def patches(self) -> dict[str, list]:
        return {name: value[1:] for name, value in self.model.get_key_patches().items() if len(value) > 1}

    def add_patches(self, patches: Mapping[Any, Any], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[Any]:
        return self.model.add_patches(patches, strength_patch, strength_model)

    def get_key_patches(self, filter_prefix: str | None = None) -> dict[str, list]:
        return self.model.get_key_patches(filter_prefix)

    def model_size(self) -> int:
        return int(self.model.memory_bytes())  # type: ignore[attr-defined]

    def clone(self) -> ClipPatcher:
        return self.model.clone().patcher  # type: ignore[attr-defined]


def comfy_windows(encoder: ClipTextModel, text: str, word_ids: bool) -> list[list[tuple]]:
    """One encoder's windows in ComfyUI's form: embedding placeholders become their vectors, and with ``word_ids``
    each content token carries the number of its word (1, 2 ...; 0 for start, end and padding)."""
    windows, extra = encoder.tokenize_windows(text, encoder.embeddings)
    vocab = encoder.vocab_size
    out = [[(_vector(token, vocab, extra), weight) for token, weight in window] for window in windows]
    if not word_ids:
        return out
    ids = iter(_word_ids(text, encoder))
    return [[(token, weight, next(ids, 0) if _is_content(window, i) else 0)
             for i, (token, weight) in enumerate(window)] for window in out]


def windows_and_extra(windows: list[list[tuple]], vocab: int
                      ) -> tuple[list[list[tuple[int, float]]], torch.Tensor | None]:
    """Atelier's windows from ComfyUI's: vector tokens get ids past the vocabulary and their rows in ``extra``."""
    extra: list[torch.Tensor] = []
    out = []
    for window in windows:
        row = []
        for token, weight, *_ in window:
            if isinstance(token, torch.Tensor):
                extra.append(token.reshape(1, -1).float())
                token = vocab + len(extra) - 1
            row.append((int(token), float(weight)))
        out.append(row)
    return out, torch.cat(extra) if extra else None


def _vector(token: int, vocab: int, extra: torch.Tensor | None) -> int | torch.Tensor:
    return extra[token - vocab] if extra is not None and token >= vocab else token


def _is_content(window: list[tuple], index: int) -> bool:
    end = next((i for i, (token, *_) in enumerate(window) if i > 0 and _is_int(token, EOS)), len(window))
    return 0 < index < end


def _is_int(token: Any, value: int) -> bool:
    return not isinstance(token, torch.Tensor) and token == value


def _word_ids(text: str, encoder: ClipTextModel) -> Iterator[int]:
    """A word number per content token, in order: ComfyUI numbers space-separated words; a segment whose words do
    not tokenize separately as they do together (rare punctuation) is numbered as one word, and from a segment with
    a textual-inversion embedding on, the rest of the prompt is one word."""
    word = 0
    for segment, _ in parse_prompt(text):
        if encoder.embeddings is not None and EMBEDDING.search(segment):
            yield from itertools.repeat(word + 1)
        lengths = [len(encode_text(w)) for w in segment.replace("\n", " ").split()]
        if sum(lengths) != len(encode_text(segment)):
            lengths = [len(encode_text(segment))]
        for length in lengths:
            word += 1
            yield from [word] * length


def _decode(token: Any) -> str:
    return "" if isinstance(token, torch.Tensor) else str(token)


def _identity(weight: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    return weight

