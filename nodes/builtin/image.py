"""Loading, saving and simple transforms of images."""

from __future__ import annotations

import hashlib
import random
import re
import string
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from core.folders import PathEscapeError, safe_join
from engine.image_names import RESAMPLE_METHODS
from nodes.api import Combo, ExecutionContext, Float, Folders, Hidden, Int, Node, NodeResult, Output, Socket, String

if TYPE_CHECKING:
    import torch

MAX_RESOLUTION = 16384
UPSCALE_METHODS = list(RESAMPLE_METHODS)


def input_image_choices(folders: Folders) -> list[str]:
    return folders.list_input_images()


def _check_image(folders: Folders, image: str | None) -> bool | str:
    """LoadImage's own check of its choice, so files not in the input list (annotated names) are accepted."""
    try:
        if image is None or folders.annotated_path(image).is_file():
            return True
    except PathEscapeError as error:
        return f"Invalid image file: {image} ({error})"
    return f"Invalid image file: {image}"


def _file_digest(folders: Folders, name: str | None) -> str:
    if not name:
        return ""
    # ComfyUI's annotated names ("clipspace/mask.png [input]", "x.png [output]") say which folder a file is in.
    path = folders.annotated_path(name)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


class LoadImage(Node):
    """Loads an image from the input folder (upload with the button); the mask is 1 - alpha."""

    display_name = "Load Image"
    category = "image"
    inputs = [Combo("image", input_image_choices, image_upload=True)]
    outputs = [Output("IMAGE"), Output("MASK")]

    def execute(self, image: str, context: ExecutionContext) -> tuple:
        from PIL import Image

        from engine.image_ops import load_image_frames

        with Image.open(context.folders.annotated_path(image)) as opened:
            return load_image_frames(opened)

    @classmethod
    def fingerprint(cls, folders: Folders, image: str | None = None, **_: Any) -> str:
        return _file_digest(folders, image)

    validates = ("image",)

    @classmethod
    def validate(cls, folders: Folders, image: str | None = None, **_: Any) -> bool | str:
        return _check_image(folders, image)


class LoadImageMask(Node):
    display_name = "Load Image (as Mask)"
    category = "mask"
    inputs = [Combo("image", input_image_choices, image_upload=True),
              Combo("channel", ["alpha", "red", "green", "blue"])]
    outputs = [Output("MASK")]

    def execute(self, image: str, channel: str, context: ExecutionContext) -> tuple:
        from PIL import Image

        from engine.image_ops import load_mask_channel

        with Image.open(context.folders.annotated_path(image)) as opened:
            return (load_mask_channel(opened, channel),)

    @classmethod
    def fingerprint(cls, folders: Folders, image: str | None = None, **_: Any) -> str:
        return _file_digest(folders, image)

    validates = ("image",)

    @classmethod
    def validate(cls, folders: Folders, image: str | None = None, **_: Any) -> bool | str:
        return _check_image(folders, image)


def _expand_prefix(prefix: str, width: int, height: int) -> str:
    now = time.localtime()
    replacements = {"%width%": str(width), "%height%": str(height), "%year%": f"{now.tm_year}",
                    "%month%": f"{now.tm_mon:02}", "%day%": f"{now.tm_mday:02}", "%hour%": f"{now.tm_hour:02}",
                    "%minute%": f"{now.tm_min:02}", "%second%": f"{now.tm_sec:02}"}
    for key, value in replacements.items():
        prefix = prefix.replace(key, value)
    return prefix


def next_counter(folder: Path, stem: str) -> int:
    """One more than the highest ``<stem>_<NNNNN>_`` file in ``folder``."""
    pattern = re.compile(re.escape(stem) + r"_(\d{5,})_")
    numbers = [int(m.group(1)) for p in folder.glob(f"{glob_escape(stem)}_*") if (m := pattern.match(p.name))]
    return max(numbers, default=0) + 1


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def save_images(images: torch.Tensor, base: Path, prefix: str, kind: str, prompt: dict | None,
                extra_pnginfo: dict | None, compress_level: int) -> list[dict[str, str]]:
    """Write a batch as ``<prefix>_<00001>_.png`` with the prompt/workflow chunks; returns ui entries."""
    from engine.image_ops import to_pil
    from nodes.png import png_info

    prefix = _expand_prefix(prefix, images.shape[2], images.shape[1])
    target = safe_join(base, prefix)
    folder, stem = target.parent, target.name
    folder.mkdir(parents=True, exist_ok=True)
    subfolder = folder.relative_to(base.resolve()).as_posix()
    counter = next_counter(folder, stem)
    results = []
    for batch_number, image in enumerate(images):
        name = stem.replace('%batch_num%', str(batch_number))
        file, counter = claim_numbered_file(folder, name, counter, ".png")
        with file:
            to_pil(image).save(file, format="PNG", pnginfo=png_info(prompt, extra_pnginfo),
                               compress_level=compress_level)
        results.append({"filename": Path(file.name).name, "subfolder": "" if subfolder == "." else subfolder,
                        "type": kind})
        counter += 1
    return results


def claim_numbered_file(folder: Path, stem: str, counter: int, suffix: str) -> tuple[BinaryIO, int]:
    """``<stem>_<counter>_<suffix>`` opened for writing, created only if no one has it (several workers may save
    into one folder at once), with the next counter when it is taken; the file and its counter."""
    while True:
        try:
            return open(folder / f"{stem}_{counter:05}_{suffix}", "xb"), counter
        except FileExistsError:
            counter += 1


class SaveImage(Node):
    """Saves images to the output folder as PNG, with the prompt and workflow embedded."""

    display_name = "Save Image"
    category = "image"
    output_node = True
    inputs = [Socket("images", "IMAGE", tooltip="The images to save."),
              String("filename_prefix", "ComfyUI", tooltip="Prefix of the file names; may contain folders and "
                     "%year%, %month%, %day%, %width%, %height%."),
              Hidden("prompt", "PROMPT"), Hidden("extra_pnginfo", "EXTRA_PNGINFO")]
    outputs = []

    def execute(self, images: torch.Tensor, filename_prefix: str, prompt: dict | None, extra_pnginfo: dict | None,
                context: ExecutionContext) -> NodeResult:
        saved = save_images(images, context.folders.output_dir, filename_prefix, "output", prompt, extra_pnginfo, 4)
        return NodeResult((), {"images": saved})


class PreviewImage(Node):
    """Shows images in the editor without keeping them (they go to the temp folder)."""

    display_name = "Preview Image"
    category = "image"
    output_node = True
    inputs = [Socket("images", "IMAGE"), Hidden("prompt", "PROMPT"), Hidden("extra_pnginfo", "EXTRA_PNGINFO")]
    outputs = []

    def execute(self, images: torch.Tensor, prompt: dict | None, extra_pnginfo: dict | None,
                context: ExecutionContext) -> NodeResult:
        suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        saved = save_images(images, context.folders.temp_dir, f"ComfyUI_temp_{suffix}", "temp", prompt,
                            extra_pnginfo, 1)
        return NodeResult((), {"images": saved})


class ImageScale(Node):
    display_name = "Upscale Image"
    category = "image/upscaling"
    inputs = [Socket("image", "IMAGE"), Combo("upscale_method", UPSCALE_METHODS),
              Int("width", 512, min=0, max=MAX_RESOLUTION, step=1),
              Int("height", 512, min=0, max=MAX_RESOLUTION, step=1), Combo("crop", ["disabled", "center"])]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor, upscale_method: str, width: int, height: int, crop: str) -> tuple:
        from engine.image_ops import keep_aspect, resize

        width, height = keep_aspect(width, height, image.shape[2], image.shape[1])
        return (resize(image, width, height, upscale_method, crop),)


class ImageScaleBy(Node):
    display_name = "Upscale Image By"
    category = "image/upscaling"
    inputs = [Socket("image", "IMAGE"), Combo("upscale_method", UPSCALE_METHODS),
              Float("scale_by", 1.0, min=0.01, max=8.0, step=0.01)]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor, upscale_method: str, scale_by: float) -> tuple:
        from engine.image_ops import scale_by_factor

        return (scale_by_factor(image, upscale_method, scale_by),)


class ImageInvert(Node):
    display_name = "Invert Image"
    category = "image"
    inputs = [Socket("image", "IMAGE")]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor) -> tuple:
        return (1.0 - image,)


class ImageBatch(Node):
    """Joins two image batches; the second is resized to the first's size when they differ."""

    display_name = "Batch Images"
    category = "image"
    inputs = [Socket("image1", "IMAGE"), Socket("image2", "IMAGE")]
    outputs = [Output("IMAGE")]

    def execute(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple:
        from engine.image_ops import join_batches

        return (join_batches(image1, image2),)


class EmptyImage(Node):
    display_name = "EmptyImage"
    category = "image"
    inputs = [Int("width", 512, min=1, max=MAX_RESOLUTION, step=1), Int("height", 512, min=1, max=MAX_RESOLUTION,
              step=1), Int("batch_size", 1, min=1, max=4096), Int("color", 0, min=0, max=0xFFFFFF, step=1,
                                                                  display="color")]
    outputs = [Output("IMAGE")]

    def execute(self, width: int, height: int, batch_size: int, color: int) -> tuple:
        from engine.image_ops import solid_image

        return (solid_image(width, height, batch_size, color),)


class ImageCrop(Node):
    display_name = "Image Crop"
    category = "image/transform"
    inputs = [Socket("image", "IMAGE"), Int("width", 512, min=1, max=MAX_RESOLUTION, step=8),
              Int("height", 512, min=1, max=MAX_RESOLUTION, step=8), Int("x", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("y", 0, min=0, max=MAX_RESOLUTION, step=8)]
    outputs = [Output("IMAGE")]

    def execute(self, image: torch.Tensor, width: int, height: int, x: int, y: int) -> tuple:
        from engine.image_ops import crop_region

        return (crop_region(image, x, y, width, height),)


NODES = [LoadImage, LoadImageMask, SaveImage, PreviewImage, ImageScale, ImageScaleBy, ImageInvert, ImageBatch,
         EmptyImage, ImageCrop]
