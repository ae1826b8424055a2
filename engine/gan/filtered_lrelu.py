"""StyleGAN3's resampling ops in plain torch: ``upfirdn2d``, ``filtered_lrelu`` and the low-pass filters they use.

``filtered_lrelu`` is the alias-free nonlinearity of "Alias-Free Generative Adversarial Networks": add the bias,
upsample by zero insertion and low-pass filter (``fu``), leaky ReLU with gain and clamp at the higher rate, then
low-pass filter again (``fd``) and keep every ``down``-th sample. NVlabs fuse this into a CUDA kernel; the math here
is their reference path (``_filtered_lrelu_ref``), written out. Filters are 1-D (separable, applied along x then y)
or 2-D (StyleGAN3-R's radially symmetric downsampling filter).

``lowpass_filter`` designs the filters as NVlabs do with ``scipy.signal.firwin`` (Kaiser window) and their jinc
formula, in NumPy/torch only, so building a network needs no SciPy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

Padding = tuple[int, int, int, int]  # x0, x1, y0, y1; negative values crop


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, padding: Padding = (0, 0, 0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad (or crop), convolve with ``f`` (true convolution), keep every ``down``-th."""
    batch, channels, height, width = x.shape
    if up > 1:
        spread = x.new_zeros(batch, channels, height * up, width * up)
        spread[:, :, ::up, ::up] = x
        x = spread
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    if f is None:
        return (x * gain if gain != 1 else x)[:, :, ::down, ::down]
    # A true convolution; every channel gets the same filter (a depthwise convolution), strided where it downsamples.
    f = (f * gain ** (f.ndim / 2)).to(x).flip(list(range(f.ndim)))
    if f.ndim == 2:
        return F.conv2d(x, f[None, None].expand(channels, 1, *f.shape), stride=down, groups=channels)
    kernel = f[None, None].expand(channels, 1, len(f))
    x = F.conv2d(x, kernel[:, :, None, :], stride=(1, down), groups=channels)
    return F.conv2d(x, kernel[:, :, :, None], stride=(down, 1), groups=channels)


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None, bias: torch.Tensor | None,
                   up: int = 1, down: int = 1, padding: Padding = (0, 0, 0, 0), gain: float = math.sqrt(2),
                   slope: float = 0.2, clamp: float | None = None) -> torch.Tensor:
    """bias -> upsample and filter ``fu`` (gain up**2) -> leaky ReLU * gain, clamp -> filter ``fd`` and downsample."""
    if bias is not None:
        x = x + bias.to(x)[None, :, None, None]
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2)
    x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


def kaiser_beta(numtaps: int, width: float, fs: float) -> float:
    """The Kaiser window's beta for a transition band ``width`` (scipy.signal.kaiser_atten, then kaiser_beta)."""
    attenuation = 2.285 * (numtaps - 1) * math.pi * (width / (fs / 2)) + 7.95
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """NVlabs' ``design_lowpass_filter``: None for one tap, a separable Kaiser-windowed sinc (``firwin``), or a
    radially symmetric Kaiser-windowed jinc [numtaps, numtaps] summing to one."""
    if numtaps == 1:
        return None
    window = np.kaiser(numtaps, kaiser_beta(numtaps, width, fs))
    if not radial:
        positions = np.arange(numtaps) - (numtaps - 1) / 2
        relative = cutoff / (fs / 2)
        taps = relative * np.sinc(relative * positions) * window
        return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = torch.as_tensor(np.hypot(*np.meshgrid(x, x)), dtype=torch.float64)
    jinc = torch.special.bessel_j1(2 * cutoff * math.pi * r) / (math.pi * r)
    taps = jinc.numpy() * np.outer(window, window)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)
