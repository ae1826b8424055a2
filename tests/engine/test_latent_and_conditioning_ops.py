"""The latent and conditioning arithmetic behind ComfyUI's nodes, on hand-made tensors with hand-worked values."""

from __future__ import annotations

import torch

from engine import conditioning, latent_ops


def test_average_blends_tokens_pads_the_source_and_blends_or_takes_pooled_outputs():
    to = [[torch.ones(1, 3, 2), {"pooled_output": torch.full((1, 2), 4.0)}], [torch.ones(1, 3, 2), {}]]
    source = [[torch.full((1, 2, 2), 2.0), {"pooled_output": torch.full((1, 2), 8.0)}]]
    (first, first_options), (_, second_options) = conditioning.average(to, source, 0.25)
    assert torch.allclose(first[0, :2], torch.full((2, 2), 0.25 + 0.75 * 2))  # both have these tokens
    assert torch.allclose(first[0, 2], torch.full((2,), 0.25))  # the source is zero-padded to 3 tokens
    assert torch.allclose(first_options["pooled_output"], torch.full((1, 2), 0.25 * 4 + 0.75 * 8))
    assert torch.equal(second_options["pooled_output"], source[0][1]["pooled_output"])  # ComfyUI's rule


def test_concat_appends_the_source_tokens_and_zero_out_keeps_shapes():
    to = [[torch.ones(1, 3, 2), {"pooled_output": torch.ones(1, 2)}]]
    joined = conditioning.concat(to, [[torch.full((1, 2, 2), 5.0), {}]])
    assert joined[0][0].shape == (1, 5, 2) and joined[0][0][0, 3:].eq(5).all()
    zeroed = conditioning.zero_out(to)
    assert not zeroed[0][0].any() and not zeroed[0][1]["pooled_output"].any()
    assert to[0][0].eq(1).all()  # the input is not modified


def numbered_batch(size: int) -> dict:
    return {"samples": torch.arange(size, dtype=torch.float32).view(size, 1, 1, 1).expand(size, 4, 2, 2).clone()}


def test_from_batch_clamps_and_keeps_the_original_batch_indices():
    part = latent_ops.from_batch(numbered_batch(4), batch_index=2, length=5)
    assert part["samples"][:, 0, 0, 0].tolist() == [2, 3] and part["batch_index"] == [2, 3]
    given = {**numbered_batch(4), "batch_index": [10, 11, 12, 13], "noise_mask": torch.ones(1, 1, 2, 2)}
    part = latent_ops.from_batch(given, batch_index=9, length=1)  # clamped to the last
    assert part["batch_index"] == [13] and part["noise_mask"].shape[0] == 1


def test_repeat_batch_continues_the_batch_indices():
    repeated = latent_ops.repeat_batch({**numbered_batch(2), "batch_index": [3, 4]}, amount=3)
    assert repeated["samples"][:, 0, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]
    assert repeated["batch_index"] == [3, 4, 5, 6, 7, 8]


def test_paste_without_feather_replaces_exactly_the_region():
    target = {"samples": torch.zeros(1, 4, 8, 8)}
    source = {"samples": torch.ones(1, 4, 3, 3)}
    out = latent_ops.paste(target, source, x=8 * 6, y=8 * 2, feather=0)["samples"]
    expected = torch.zeros(1, 4, 8, 8)
    expected[:, :, 2:5, 6:8] = 1  # cut at the right edge
    assert torch.equal(out, expected) and not target["samples"].any()
