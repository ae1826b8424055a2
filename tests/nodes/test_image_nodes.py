"""Saving images: names are claimed, so workers saving into one folder at once never overwrite each other."""

from __future__ import annotations

import torch

import nodes.builtin.image as image_nodes


def test_a_name_another_worker_took_after_the_count_is_not_overwritten(tmp_path, monkeypatch):
    (tmp_path / "digits_00001_.png").write_bytes(b"another worker's image")
    monkeypatch.setattr(image_nodes, "next_counter", lambda folder, stem: 1)  # counted before that file appeared
    saved = image_nodes.save_images(torch.rand(2, 8, 8, 3), tmp_path, "digits", "output", None, None, 1)
    assert [entry["filename"] for entry in saved] == ["digits_00002_.png", "digits_00003_.png"]
    assert (tmp_path / "digits_00001_.png").read_bytes() == b"another worker's image"
    assert (tmp_path / "digits_00003_.png").read_bytes().startswith(b"\x89PNG")
