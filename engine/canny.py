"""Canny edge detection in torch (ComfyUI's Canny node semantics: thresholds on the gradient magnitude of the
grayscale image in 0..1, Gaussian 5x5 with sigma 1, hysteresis), for ControlNet hints."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def _gaussian_kernel(size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    axis = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    kernel = torch.exp(-(axis**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return (kernel[:, None] * kernel[None, :])[None, None]


def _sobel(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])[None, None]
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kx), F.conv2d(padded, kx.transpose(-1, -2))


def _non_maximum_suppression(magnitude: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Keep pixels that are the maximum along their gradient direction (quantised to 4 directions)."""
    angle = torch.atan2(gy, gx) * (180.0 / math.pi) % 180.0
    sector = ((angle + 22.5) // 45).long() % 4  # 0: horizontal, 1: 45°, 2: vertical, 3: 135°
    offsets = [((0, 1), (0, -1)), ((1, 1), (-1, -1)), ((1, 0), (-1, 0)), ((1, -1), (-1, 1))]
    padded = F.pad(magnitude, (1, 1, 1, 1))
    height, width = magnitude.shape[-2:]
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for index, ((dy1, dx1), (dy2, dx2)) in enumerate(offsets):
        first = padded[..., 1 + dy1:1 + dy1 + height, 1 + dx1:1 + dx1 + width]
        second = padded[..., 1 + dy2:1 + dy2 + height, 1 + dx2:1 + dx2 + width]
        keep |= (sector == index) & (magnitude >= first) & (magnitude >= second)
    return magnitude * keep


def _hysteresis(strong: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """Grow the strong edges through 8-connected weak pixels until nothing changes."""
    edges = strong.float()
    candidates = (weak | strong).float()
    while True:
        grown = (F.max_pool2d(edges, 3, stride=1, padding=1) * candidates).clamp(max=1)
        if torch.equal(grown, edges):
            return edges
        edges = grown


def canny(image: torch.Tensor, low_threshold: float = 0.4, high_threshold: float = 0.8) -> torch.Tensor:
    """Edges of an IMAGE batch [B, H, W, C] in 0..1 as an IMAGE of white edges on black, 3 channels."""
    rgb = image[..., :3].movedim(-1, 1).float()
    gray = (rgb * torch.tensor(LUMA)[None, :, None, None]).sum(1, keepdim=True) if rgb.shape[1] == 3 else rgb
    blurred = F.conv2d(F.pad(gray, (2, 2, 2, 2), mode="reflect"), _gaussian_kernel())
    gx, gy = _sobel(blurred)
    magnitude = torch.sqrt(gx**2 + gy**2 + 1e-6)
    thin = _non_maximum_suppression(magnitude, gx, gy)
    edges = _hysteresis(thin > high_threshold, thin > low_threshold)
    return edges.movedim(1, -1).expand(*image.shape[:-1], 3).contiguous()
