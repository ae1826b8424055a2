"""IMAGE tensors ([B, H, W, C] float 0..1) to and from PIL, and resampling as ComfyUI does it."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image [H, W, C] (C = 1, 3 or 4) or [H, W] (greyscale) 0..1 as an 8-bit PIL image. Levels are truncated,
    ``clip(255 * x).astype(uint8)``, as ComfyUI converts them, so saved pixels match ComfyUI's exactly."""
    array = np.clip(image.detach().float().cpu().numpy() * 255.0, 0, 255).astype(np.uint8)
    if array.ndim == 2 or array.shape[-1] == 1:
        return Image.fromarray(array.reshape(array.shape[:2]), mode="L")
    return Image.fromarray(array, mode="RGBA" if array.shape[-1] == 4 else "RGB")


def from_pil(image: Image.Image, mode: str = "RGB") -> torch.Tensor:
    """A PIL image as a single-image batch [1, H, W, C] 0..1."""
    array = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.copy())[None]


def load_image_frames(image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """All frames of an opened image as (IMAGE [B,H,W,3], MASK [B,H,W]); the mask is 1 - alpha."""
    frames, masks = [], []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frame = ImageOps.exif_transpose(image.copy()) or image.copy()
        if frame.mode == "I":
            frame = frame.point(lambda value: value * (1 / 255))
        rgb = from_pil(frame, "RGB")
        if frames and rgb.shape[1:] != frames[0].shape[1:]:
            break
        frames.append(rgb)
        if "A" in frame.getbands():
            masks.append(1.0 - from_pil(frame.getchannel("A"), "L")[..., 0])
        else:
            masks.append(torch.zeros(1, 64, 64))
        if getattr(image, "format", None) == "MPO":
            break
    mask_shapes_agree = all(mask.shape == masks[0].shape for mask in masks)
    mask = torch.cat(masks) if mask_shapes_agree else masks[0]
    return torch.cat(frames), mask


def load_mask_channel(image: Image.Image, channel: str) -> torch.Tensor:
    """One channel (red, green, blue or alpha) of an opened image as a MASK [1, H, W], upright as LoadImage loads
    it; alpha is inverted (1 where transparent), as ComfyUI's LoadImageMask does."""
    frame = ImageOps.exif_transpose(image) or image
    if frame.mode == "I":  # 16-bit greyscale
        frame = frame.point(lambda value: value * (1 / 255))
    frame = frame.convert("RGBA")
    band = channel[0].upper()
    mask = from_pil(frame.getchannel(band), "L")[..., 0]
    return 1.0 - mask if band == "A" else mask


def solid_image(width: int, height: int, batch_size: int, color: int) -> torch.Tensor:
    """A batch of images of one colour, given as 0xRRGGBB."""
    rgb = torch.tensor([(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF], dtype=torch.float32) / 255
    return rgb.expand(batch_size, height, width, 3).clone()


def crop_region(image: torch.Tensor, x: int, y: int, width: int, height: int) -> torch.Tensor:
    """The region at (x, y) of ``width`` x ``height``; the corner stays inside the image and the region ends at its
    edges (ComfyUI's ImageCrop)."""
    x, y = min(x, image.shape[2] - 1), min(y, image.shape[1] - 1)
    return image[:, y:y + height, x:x + width, :]


def join_batches(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``second`` appended to ``first``, resized (centre-cropped to the aspect) to its size when they differ."""
    if second.shape[1:3] != first.shape[1:3]:
        second = resize(second, first.shape[2], first.shape[1], "bilinear", "center")
    return torch.cat((first, second))


def scale_by_factor(image: torch.Tensor, method: str, factor: float) -> torch.Tensor:
    width, height = round(image.shape[2] * factor), round(image.shape[1] * factor)
    return resize(image, max(1, width), max(1, height), method)


def scale_to_total_pixels(image: torch.Tensor, method: str, megapixels: float) -> torch.Tensor:
    """Scaled to about ``megapixels`` x 1024² pixels, keeping the aspect ratio."""
    height, width = image.shape[1:3]
    factor = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    return resize(image, max(1, round(width * factor)), max(1, round(height * factor)), method)


def resize(image: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled") -> torch.Tensor:
    """Resize an IMAGE batch; ``crop="center"`` first crops to the target aspect ratio."""
    if crop == "center":
        image = _center_crop_to_aspect(image, width / height)
    if method == "lanczos":
        return torch.cat([from_pil(to_pil(frame).resize((width, height), Image.LANCZOS),
                                   "RGBA" if frame.shape[-1] == 4 else "RGB") for frame in image])
    samples = image.movedim(-1, 1)
    kwargs = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
    resized = F.interpolate(samples, size=(height, width), mode=method, **kwargs)
    return resized.movedim(1, -1).clamp(0, 1)


def resize_samples(samples: torch.Tensor, width: int, height: int, method: str, crop: str) -> torch.Tensor:
    """Resize a channels-first batch [B, C, H, W] (latents); ``bislerp`` falls back to bilinear."""
    if crop == "center":
        samples = _center_crop_to_aspect(samples.movedim(1, -1), width / height).movedim(-1, 1)
    mode = "bilinear" if method == "bislerp" else method
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(samples, size=(height, width), mode=mode, **kwargs)


def _center_crop_to_aspect(image: torch.Tensor, aspect: float) -> torch.Tensor:
    height, width = image.shape[1], image.shape[2]
    if width / height > aspect:
        new_width = round(height * aspect)
        x = (width - new_width) // 2
        return image[:, :, x:x + new_width]
    new_height = round(width / aspect)
    y = (height - new_height) // 2
    return image[:, y:y + new_height]


def keep_aspect(width: int, height: int, source_width: int, source_height: int) -> tuple[int, int]:
    """ComfyUI's rule: a size of 0 follows the other dimension's scale."""
    if width == 0 and height == 0:
        return source_width, source_height
    if width == 0:
        width = max(1, round(source_width * height / source_height))
    elif height == 0:
        height = max(1, round(source_height * width / source_width))
    return width, height
