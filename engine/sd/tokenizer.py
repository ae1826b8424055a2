"""CLIP tokenization with weights, in 77-token windows, as ComfyUI's SD tokenizer does it.

The BPE vocabulary is OpenAI's ``bpe_simple_vocab_16e6``, compiled into the ``instant-clip-tokenizer`` package
(so nothing is downloaded). Each window is ``[BOS, up to 75 tokens, EOS, padding]``; a weighted segment of
fewer than 8 tokens is kept whole in one window, a longer one may be split across windows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from instant_clip_tokenizer import Tokenizer

from engine.sd.prompt_weights import parse_prompt

BOS, EOS = 49406, 49407
MAX_LENGTH = 77
MAX_WORD_LENGTH = 8

Token = tuple[int, float]  # (token id, weight)


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

    def tokenize(self, text: str) -> list[list[Token]]:
        """Windows of ``max_length`` (token, weight) pairs."""
        groups = [[(token, weight) for token in encode_text(segment)] for segment, weight in parse_prompt(text)]
        return self._windows([group for group in groups if group])

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
