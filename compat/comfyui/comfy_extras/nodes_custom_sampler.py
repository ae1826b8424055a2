"""ComfyUI's ``comfy_extras.nodes_custom_sampler``: the custom-sampling nodes (SamplerCustom, BasicScheduler,
KarrasScheduler, KSamplerSelect, and SamplerCustomAdvanced, BasicGuider, CFGGuider, RandomNoise, DisableNoise where
Atelier has them), and the NOISE objects packs make directly.

Each class is a view of the Atelier node with that id, built by ``compat.v1_classes``; a node Atelier lacks is a
stand-in that raises ``NotImplementedError`` when run.
"""

from typing import Any

from compat.v1_classes import ExtrasModule

_classes = ExtrasModule(__name__)
NODE_CLASS_MAPPINGS = _classes.mappings()
__getattr__ = _classes.attribute


class Noise_RandomNoise:
    """ComfyUI's NOISE object for a seed: ``generate_noise(latent)`` is Atelier's ``prepare_noise`` (the noise
    KSampler adds), honouring the latent's ``batch_index``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def generate_noise(self, input_latent: dict) -> Any:
        from engine.sampling.noise import prepare_noise

        return prepare_noise(input_latent["samples"], self.seed, input_latent.get("batch_index"))


class Noise_EmptyNoise:
    """ComfyUI's NOISE object that adds none: zeros shaped like the latent, on the CPU."""

    def __init__(self) -> None:
        self.seed = 0

    def generate_noise(self, input_latent: dict) -> Any:
        import torch

        samples = input_latent["samples"]
        return torch.zeros(samples.shape, dtype=samples.dtype, layout=samples.layout, device="cpu")
