"""Merging arithmetic on patchable stand-ins: each combine rule, the float32 computation, and what is left alone."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import torch

from engine import merge

WeightPatch = Callable[[torch.Tensor], torch.Tensor]


class Weights:
    """A MODEL/CLIP stand-in: stored weights and, per clone, patches applied when the weights are read."""

    def __init__(self, stored: dict[str, torch.Tensor]) -> None:
        self.stored = stored
        self.patches: dict[str, list[WeightPatch]] = {}

    def clone(self) -> Weights:
        other = Weights(self.stored)
        other.patches = {key: list(patches) for key, patches in self.patches.items()}
        return other

    def add_patch(self, key: str, patch: WeightPatch) -> None:
        self.patches.setdefault(key, []).append(patch)

    def patched_state_dict(self) -> dict[str, torch.Tensor]:
        weights = dict(self.stored)
        for key, patches in self.patches.items():
            for patch in patches:
                weights[key] = patch(weights[key])
        return weights


def pair(dtype: torch.dtype = torch.float32) -> tuple[Weights, Weights]:
    return (Weights({"w": torch.full((2, 2), 1.0, dtype=dtype), "logit_scale": torch.tensor(1.0)}),
            Weights({"w": torch.full((2, 2), 3.0, dtype=dtype), "logit_scale": torch.tensor(5.0)}))


@pytest.mark.parametrize(("combine", "expected"), [
    (merge.weighted(0.25), 0.25 * 1 + 0.75 * 3), (merge.added, 4.0), (merge.subtracted(0.5), -0.5)])
def test_combine_rules(combine: merge.Combine, expected: float) -> None:
    own, other = pair()
    merged = merge.merge_text_encoders(own, other, combine)
    weights = merged.patched_state_dict()
    assert torch.equal(weights["w"], torch.full((2, 2), expected))
    assert weights["logit_scale"] == 1.0  # text encoders' bookkeeping tensors are not merged
    assert not own.patches, "the merged model is a clone"


def test_fp8_weights_are_combined_in_float32() -> None:
    own, other = pair(torch.float8_e4m3fn)  # fp8 has no arithmetic on the CPU
    merged = merge.merge_text_encoders(own, other, merge.weighted(0.5)).patched_state_dict()["w"]
    assert merged.dtype == torch.float8_e4m3fn and torch.equal(merged.float(), torch.full((2, 2), 2.0))


def test_other_models_patches_count_and_mismatched_shapes_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    own, other = pair()
    own.stored["conv"] = torch.zeros(4, 9)
    other.stored["conv"] = torch.ones(4, 4)
    other.add_patch("w", lambda w: w * 2)
    with caplog.at_level(logging.WARNING):
        merged = merge.merge_text_encoders(own, other, merge.weighted(0.5)).patched_state_dict()
    assert torch.equal(merged["w"], torch.full((2, 2), 0.5 * 1 + 0.5 * 6))
    assert torch.equal(merged["conv"], torch.zeros(4, 9))
    assert "conv (4, 9) vs (4, 4)" in caplog.text
