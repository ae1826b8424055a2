"""Noise: the initial latent noise (exactly as ComfyUI draws it) and the per-step noise of stochastic samplers."""

from __future__ import annotations

import torch


def prepare_noise(latent: torch.Tensor, seed: int, batch_index: list[int] | None = None) -> torch.Tensor:
    """ComfyUI's initial noise: the CPU generator seeded with ``seed``, one draw of the latent's shape.

    With ``batch_index`` (latents split off a batch), image ``i`` gets the noise it would have had at
    position ``batch_index[i]`` of the full batch, so a picked image reproduces exactly.
    """
    generator = torch.manual_seed(seed)
    if batch_index is None:
        return torch.randn(latent.size(), dtype=latent.dtype, layout=latent.layout, generator=generator,
                           device="cpu")
    unique = sorted(set(batch_index))
    drawn = []
    for index in range(unique[-1] + 1):
        noise = torch.randn([1, *latent.shape[1:]], dtype=latent.dtype, layout=latent.layout,
                            generator=generator, device="cpu")
        if index in unique:
            drawn.append(noise)
    by_index = dict(zip(unique, drawn, strict=True))
    return torch.cat([by_index[index] for index in batch_index], dim=0)


class GaussianNoise:
    """Fresh standard normal noise each step from a seeded generator (ancestral samplers, as ComfyUI)."""

    def __init__(self, like: torch.Tensor, seed: int) -> None:
        self.like = like
        self.generator = torch.Generator(device=like.device).manual_seed(seed)

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        x = self.like
        return torch.randn(x.size(), dtype=x.dtype, layout=x.layout, device=x.device, generator=self.generator)


class BrownianTreeNoise:
    """Brownian-motion increments over sigma, the same for a given interval whatever the steps around it.

    SDE samplers scale this noise by the interval they cover, so using one Brownian path makes results
    converge as steps grow. ComfyUI uses torchsde's tree; this is our own: the path's value at any sigma is
    found by dyadic bisection of [sigma_min, sigma_max], each midpoint drawn from the Brownian bridge with a
    generator seeded by its position in the tree. Values differ from torchsde's, the statistics do not.

    The tree is drawn on the CPU, as ComfyUI's; ``on_device`` draws it on ``like``'s device instead (ComfyUI's
    ``_gpu`` samplers), which on the CPU is the same noise.
    """

    def __init__(self, like: torch.Tensor, sigma_min: float, sigma_max: float, seed: int,
                 depth: int = 16, on_device: bool = False) -> None:
        self.like = like
        self.t0, self.t1 = float(sigma_min), float(sigma_max)
        self.seed = seed
        self.depth = depth
        self.device = like.device if on_device else torch.device("cpu")
        self._cache: dict[tuple[int, int], torch.Tensor] = {}
        self._end = self._normal(0, 1) * (self.t1 - self.t0) ** 0.5  # W(t1); W(t0) = 0

    def _normal(self, level: int, index: int) -> torch.Tensor:
        generator = torch.Generator(self.device).manual_seed(hash((self.seed, level, index)) & 0x7FFFFFFFFFFFFFFF)
        x = self.like
        return torch.randn(x.shape, dtype=torch.float64, generator=generator, device=self.device).to(x.device)

    def _point(self, level: int, index: int) -> torch.Tensor:
        """W at the dyadic point index / 2**level of the interval."""
        if index == 0:
            return torch.zeros_like(self._end)
        if index == 2**level:
            return self._end
        if index % 2 == 0:
            return self._point(level - 1, index // 2)
        key = (level, index)
        if key not in self._cache:
            left, right = self._point(level, index - 1), self._point(level, index + 1)
            width = (self.t1 - self.t0) / 2**level
            self._cache[key] = (left + right) / 2 + self._normal(level, index) * (width / 2) ** 0.5
        return self._cache[key]

    def value(self, t: float) -> torch.Tensor:
        t = min(max(t, self.t0), self.t1)
        position = (t - self.t0) / (self.t1 - self.t0) * 2**self.depth
        index = min(int(position), 2**self.depth - 1)
        weight = position - index
        return self._point(self.depth, index) * (1 - weight) + self._point(self.depth, index + 1) * weight

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        a, b = float(sigma), float(sigma_next)
        increment = self.value(max(a, b)) - self.value(min(a, b))
        return (increment / abs(b - a) ** 0.5).to(self.like.dtype)
