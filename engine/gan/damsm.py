"""AttnGAN's DAMSM text encoder (``RNN_ENCODER``), shared by DF-GAN and AttnGAN, with its tokenizer.

The encoder is a word embedding and a bidirectional LSTM (taoxugit/AttnGAN ``code/model.py``): the LSTM's outputs
are the word features ``words [B, 2 * hidden, T]`` (what AttnGAN's word attention reads) and its final hidden states
the sentence embedding ``[B, 2 * hidden]`` (the condition of both generators). At inference dropout is off and one
caption runs unpadded, so no packing or mask is needed. Parameter names are the reference's (``encoder.weight``,
``rnn.weight_ih_l0``, ...). The vocabulary (``wordtoix``) is a dataset file, not part of the weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn


class TextEncoder(nn.Module):
    """DAMSM's RNN_ENCODER at inference: word embedding, then a (bidirectional) LSTM."""

    def __init__(self, vocabulary_size: int, embedding_dim: int, hidden_per_direction: int, layers: int = 1,
                 bidirectional: bool = True) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocabulary_size, embedding_dim)
        self.rnn = nn.LSTM(embedding_dim, hidden_per_direction, layers, batch_first=True,
                           bidirectional=bidirectional)

    def encode(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """token_ids [B, T] (unpadded) -> (words [B, directions * hidden, T], sentence [B, directions * hidden])."""
        outputs, (hidden, _) = self.rnn(self.encoder(token_ids))
        directions = 2 if self.rnn.bidirectional else 1
        last_layer = hidden[-directions:]  # [directions, B, hidden]: forward ends last, backward first
        return outputs.transpose(1, 2), last_layer.transpose(0, 1).reshape(len(token_ids), -1)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """The sentence embedding only (DF-GAN's condition)."""
        return self.encode(token_ids)[1]


def tokenize(text: str, wordtoix: Mapping[str, int]) -> list[int]:
    """As AttnGAN's and DF-GAN's example scripts: lower-cased ``\\w+`` words kept to ASCII, unknown words dropped."""
    words = (word.encode("ascii", "ignore").decode("ascii") for word in re.findall(r"\w+", text.lower()))
    ids = [wordtoix[word] for word in words if word in wordtoix]
    if not ids:
        raise ValueError(f"none of the words of {text!r} is in this model's vocabulary")
    return ids


def detect_text_encoder(sd: Mapping[str, torch.Tensor], prefix: str = "text_encoder.") -> dict[str, object]:
    """TextEncoder's sizes from the tensors under ``prefix``; KeyError when they are missing."""
    embedding = sd[f"{prefix}encoder.weight"]
    layers = sum(1 for key in sd if re.fullmatch(re.escape(prefix) + r"rnn\.weight_ih_l\d+", key))
    return {"vocabulary_size": int(embedding.shape[0]), "embedding_dim": int(embedding.shape[1]),
            "hidden_per_direction": int(sd[f"{prefix}rnn.weight_hh_l0"].shape[1]), "layers": layers,
            "bidirectional": f"{prefix}rnn.weight_ih_l0_reverse" in sd}


def check_vocabulary(wordtoix: object, sd: Mapping[str, torch.Tensor], name: str) -> dict[str, int]:
    """The vocabulary from a file's settings, checked against the encoder's embedding (ValueError if unusable)."""
    if not isinstance(wordtoix, dict):
        raise ValueError(f"{name}'s vocabulary is missing: put {{\"wordtoix\": {{...}}}} in "
                         f"{name.rsplit('.', 1)[0]}.json beside it (the DAMSM captions' wordtoix)")
    if max(wordtoix.values(), default=0) >= sd["text_encoder.encoder.weight"].shape[0]:
        raise ValueError(f"{name}: the vocabulary (wordtoix) has more words than the text encoder's embedding")
    return {str(word): int(index) for word, index in wordtoix.items()}
