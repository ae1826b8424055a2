"""Custom sampling: NOISE values (the noise a sample starts from), and the sampling of SamplerCustom and
SamplerCustomAdvanced, which also return the model's last prediction of the clean latent.

Torch is imported only when noise is drawn or a sample runs, so ComfyUI's ``comfy_extras.nodes_custom_sampler``
can name these classes without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from engine.sampling.guiders import CFGGuider

if TYPE_CHECKING:
    import torch

    from engine.conditioning import Conditioning
    from engine.sampling.ksampler import StepCallback


class Noise(Protocol):
    """A NOISE value (ComfyUI's protocol): the seed stochastic samplers draw their step noise from, and the noise a
    latent starts from."""

    seed: int

    def generate_noise(self, input_latent: dict) -> torch.Tensor: ...


class RandomNoise:
    """Noise of a seed, exactly as KSampler adds it (ComfyUI's CPU noise, honouring the latent's ``batch_index``;
    ComfyUI's ``Noise_RandomNoise``)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        from engine.sampling.noise import prepare_noise

        return prepare_noise(input_latent["samples"], self.seed, input_latent.get("batch_index"))


class EmptyNoise:
    """No noise: zeros shaped like the latent, on the CPU (ComfyUI's ``Noise_EmptyNoise``)."""

    def __init__(self) -> None:
        self.seed = 0

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        import torch

        samples = input_latent["samples"]
        return torch.zeros(samples.shape, dtype=samples.dtype, layout=samples.layout, device="cpu")


def sample_custom(model: Any, add_noise: bool, noise_seed: int, cfg: float, positive: Conditioning,
                  negative: Conditioning, sampler_name: Any, sigmas: torch.Tensor, latent_image: dict,
                  callback: StepCallback | None = None) -> tuple[dict, dict]:
    """SamplerCustom: (output, denoised output) latent dicts, the sampled latent and the model's last prediction
    of the clean latent (ComfyUI's ``denoised_output``), both in VAE space. Fewer than two sigmas leave the latent
    as it is."""
    if len(sigmas) < 2:
        return latent_image, latent_image
    guider = CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    noise = RandomNoise(noise_seed) if add_noise else EmptyNoise()
    return _sample(guider, noise, noise_seed, sampler_name, sigmas, latent_image, callback)


def sample_advanced(noise: Noise, guider: CFGGuider, sampler: Any, sigmas: torch.Tensor, latent_image: dict,
                    callback: StepCallback | None = None) -> tuple[dict, dict]:
    """SamplerCustomAdvanced: as ``sample_custom``, with the noise and guidance given as values. Any object with
    ComfyUI's guider ``sample`` method (a plug-in's guider) is sampled through it."""
    return _sample(guider, noise, noise.seed, sampler, sigmas, latent_image, callback)


def _sample(guider: Any, noise: Noise, seed: int, sampler: Any, sigmas: torch.Tensor, latent_image: dict,
            callback: StepCallback | None) -> tuple[dict, dict]:
    from engine.sampling.ksampler import fit_empty_latent_channels

    latent_format = guider.model_patcher.latent_format
    latent = {**latent_image, "samples": fit_empty_latent_channels(latent_image["samples"], latent_format.channels)}
    last: dict[str, torch.Tensor] = {}

    def keep_last(step: int, x0: torch.Tensor, x: Any, total: int) -> None:
        last["x0"] = x0
        if callback is not None:
            callback(step, total, x0)

    samples = guider.sample(noise.generate_noise(latent), latent["samples"], sampler, sigmas,
                            denoise_mask=latent.get("noise_mask"), callback=keep_last, disable_pbar=True, seed=seed)
    denoised = latent_format.process_out(last["x0"]) if "x0" in last else samples
    return {**latent, "samples": samples}, {**latent, "samples": denoised}
