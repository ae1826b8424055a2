"""CLIP tokenization with weights, in 77-token windows, as ComfyUI's SD tokenizer does it.

The BPE vocabulary is OpenAI's ``bpe_simple_vocab_16e6``, compiled into the ``instant-clip-tokenizer`` package
(so nothing is downloaded). Each window is ``[BOS, up to 75 tokens, EOS, padding]``; a weighted segment of
fewer than 8 tokens is kept whole in one window, a longer one may be split across windows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from instant_clip_tokenizer import Tokenizer

from engine.sd.prompt_weights import parse_prompt

BOS, EOS = 49406, 49407
MAX_LENGTH = 77
MAX_WORD_LENGTH = 8

Token = tuple[int, float]  # (token id, weight)
# Textual-inversion embeddings are written ``embedding:NAME`` in prompts, as in ComfyUI; the caller turns a name
# into placeholder token ids (beyond the vocabulary) that the text encoder maps to the embedding's vectors.
EMBEDDING = re.compile(r"embedding:([^\s,()]+)")
EmbeddingIds = Callable[[str], list[int]]


@functools.cache
def _bpe() -> Tokenizer:
    return Tokenizer()


def encode_text(text: str) -> list[int]:
    """BPE ids of ``text`` without start/end tokens."""
    return list(_bpe().encode(text)) if text else []


@dataclass(frozen=True)
class ClipTokenizer:
    pad_token: int = EOS  # SD1's CLIP-L pads with EOS; OpenCLIP (SD2, SDXL's bigG) pads with 0
    max_length: int = MAX_LENGTH

    def tokenize(self, text: str, embedding_ids: EmbeddingIds | None = None) -> list[list[Token]]:
        """Windows of ``max_length`` (token, weight) pairs."""
        groups = [[(token, weight) for token in self._ids(segment, embedding_ids)]
                  for segment, weight in parse_prompt(text)]
        return self._windows([group for group in groups if group])

    @staticmethod
    def _ids(segment: str, embedding_ids: EmbeddingIds | None) -> list[int]:
        if embedding_ids is None:
            return encode_text(segment)
        ids: list[int] = []
        for index, part in enumerate(EMBEDDING.split(segment)):  # odd parts are embedding names
            if index % 2:
                name = part.rstrip(".")  # a sentence's full stop is not part of the name
                ids.extend(embedding_ids(name) + encode_text(part[len(name):]))
            else:
                ids.extend(encode_text(part))
        return ids

    def _windows(self, groups: list[list[Token]]) -> list[list[Token]]:
        windows: list[list[Token]] = []
        window: list[Token] = [(BOS, 1.0)]
        for group in groups:
            splittable = len(group) >= MAX_WORD_LENGTH
            while group:
                if len(group) + len(window) > self.max_length - 1:
                    room = self.max_length - len(window) - 1
                    if splittable:
                        window.extend(group[:room])
                        group = group[room:]
                    window = self._close(window)
                    windows.append(window)
                    window = [(BOS, 1.0)]
                else:
                    window.extend(group)
                    group = []
        windows.append(self._close(window))
        return windows

    def _close(self, window: list[Token]) -> list[Token]:
        window = window + [(EOS, 1.0)]
        return window + [(self.pad_token, 1.0)] * (self.max_length - len(window))

    def empty(self) -> list[Token]:
        return self._close([(BOS, 1.0)])
