"""LoadImage reads ComfyUI's annotated names ("x.png [output]") from the folder they name, and nowhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from core.folders import Folders
from nodes.builtin import image
from tests.harness import Harness
from tests.nodes.graphs import harness_for, node


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    folders = Folders.under(tmp_path)
    folders.create()
    (folders.input_dir / "clipspace").mkdir()
    Image.new("RGBA", (8, 6), (10, 20, 30, 0)).save(folders.input_dir / "clipspace" / "mask.png")
    Image.new("RGB", (4, 4), (255, 0, 0)).save(folders.output_dir / "result.png")
    return harness_for(folders, image)


def load(name: str, class_type: str = "LoadImage", **inputs: Any) -> dict:
    return {"load": node(class_type, image=name, **inputs), "keep": node("Keep", value=("load", 0))}


def test_annotated_names_pick_the_folder(harness: Harness) -> None:
    pixels = harness.output(load("clipspace/mask.png [input]"), "load", 0)
    mask = harness.results["load"][1][0]
    assert pixels.shape == (1, 6, 8, 3) and float(mask.min()) == 1.0  # transparent everywhere: all masked
    pixels = harness.output(load("result.png [output]"), "load", 0)
    assert pixels.shape == (1, 4, 4, 3) and float(pixels[0, 0, 0, 0]) == 1.0


def test_names_are_checked_against_the_folder_they_name(harness: Harness) -> None:
    assert harness.validate(load("result.png [output]")).ok
    refused = harness.validate(load("result.png [input]"))
    assert "Invalid image file" in str(refused.node_errors["load"])
    escaping = harness.validate(load("../../etc/passwd [output]"))
    assert "escapes its folder" in str(escaping.node_errors["load"])


def test_a_changed_file_is_loaded_again(harness: Harness) -> None:
    prompt = load("photo.png")
    path = harness.folders.input_dir / "photo.png"
    Image.new("RGB", (4, 4), (0, 0, 0)).save(path)
    harness.run(prompt)
    harness.run(prompt)
    assert "load" not in harness.recorded.executing()  # unchanged: cached
    Image.new("RGB", (4, 4), (255, 255, 255)).save(path)
    assert torch.equal(harness.output(prompt, "load"), torch.ones(1, 4, 4, 3))
    assert "load" in harness.recorded.executing()


def test_load_image_as_mask_reads_one_channel(harness: Harness) -> None:
    alpha = harness.output(load("clipspace/mask.png", "LoadImageMask", channel="alpha"), "load")
    assert alpha.shape == (1, 6, 8) and torch.equal(alpha, torch.ones(1, 6, 8))  # alpha 0: fully masked
    green = harness.output(load("clipspace/mask.png", "LoadImageMask", channel="green"), "load")
    torch.testing.assert_close(green, torch.full((1, 6, 8), 20 / 255))


def test_load_image_as_mask_reads_integer_greyscale_and_turns_photos_upright(harness: Harness) -> None:
    Image.new("I", (3, 2), 255 * 128).save(harness.folders.input_dir / "deep.tif")  # divided by 255, as ComfyUI does
    red = harness.output(load("deep.tif", "LoadImageMask", channel="red"), "load")
    torch.testing.assert_close(red, torch.full((1, 2, 3), 128 / 255))
    photo = Image.new("RGB", (3, 2), (255, 255, 255))
    exif = photo.getexif()
    exif[0x0112] = 6  # orientation: rotated 90°, so it is shown 2 wide and 3 high
    photo.save(harness.folders.input_dir / "photo.jpg", exif=exif)
    upright = harness.output(load("photo.jpg", "LoadImageMask", channel="red"), "load")
    image = harness.output(load("photo.jpg"), "load")
    assert upright.shape == (1, 3, 2) and image.shape[1:3] == upright.shape[1:]
