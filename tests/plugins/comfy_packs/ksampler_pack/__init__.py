"""A test plug-in that samples through ``nodes.common_ksampler``, as essentials and UltimateSDUpscale do."""

import nodes
from nodes import common_ksampler


class PackSampler:
    @classmethod
    def INPUT_TYPES(cls):
        required = dict(nodes.KSampler.INPUT_TYPES()["required"])  # the core sampler's widgets and choices
        required["disable_noise"] = ("BOOLEAN", {"default": False})
        return {"required": required}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "tests"

    def sample(self, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise,
               disable_noise):
        return (common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
                                denoise=denoise, disable_noise=disable_noise)[0],)


NODE_CLASS_MAPPINGS = {"PackSampler|ksampler_pack": PackSampler}
