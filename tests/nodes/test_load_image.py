"""LoadImage reads ComfyUI's annotated names ("x.png [output]") from the folder they name, and nowhere else."""

from __future__ import annotations

import pytest
from PIL import Image

from nodes.builtin.image import LoadImage
from nodes.folders import Folders, PathEscapeError, set_folders


def test_annotated_names_pick_the_folder(tmp_path) -> None:
    folders = Folders.under(tmp_path)
    folders.create()
    set_folders(folders)
    (folders.input_dir / "clipspace").mkdir()
    Image.new("RGBA", (8, 6), (10, 20, 30, 0)).save(folders.input_dir / "clipspace" / "mask.png")
    Image.new("RGB", (4, 4), (255, 0, 0)).save(folders.output_dir / "result.png")
    image, mask = LoadImage().execute("clipspace/mask.png [input]")
    assert image.shape == (1, 6, 8, 3) and float(mask.min()) == 1.0  # transparent everywhere: all masked
    image, _ = LoadImage().execute("result.png [output]")
    assert image.shape == (1, 4, 4, 3) and float(image[0, 0, 0, 0]) == 1.0
    assert LoadImage.validate(image="result.png [output]") is True
    assert "Invalid image file" in str(LoadImage.validate(image="result.png [input]"))
    with pytest.raises(PathEscapeError):
        LoadImage().execute("../../etc/passwd [output]")
