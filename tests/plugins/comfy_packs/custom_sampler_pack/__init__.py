"""A test plug-in for custom sampling, written as real sampler packs are: it registers a KSAMPLER wrapping its own
k-diffusion-style sampler function (for Atelier's SamplerCustom), and samples with any SAMPLER and SIGMAS itself
through ``comfy.sample.sample_custom`` with ``latent_preview``'s callback."""

import comfy.sample
import comfy.samplers
import latent_preview
import torch
from comfy.k_diffusion.sampling import to_d


@torch.no_grad()
def sample_pack_euler(model, x, sigmas, extra_args=None, callback=None, disable=None, churn_scale=1.0):
    """Plain Euler steps of the probability-flow ODE."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i]) * churn_scale
    return x


class PackEulerSampler:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    CATEGORY = "tests"

    def get_sampler(self):
        return (comfy.samplers.KSAMPLER(sample_pack_euler, extra_options={"churn_scale": 1.0}),)


class PackSamplerCustom:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "noise_seed": ("INT", {"default": 0, "min": 0, "max": 0xffffffffffffffff}),
            "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0}),
            "positive": ("CONDITIONING",),
            "negative": ("CONDITIONING",),
            "sampler": ("SAMPLER",),
            "sigmas": ("SIGMAS",),
            "latent_image": ("LATENT",),
        }}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "tests"

    def sample(self, model, noise_seed, cfg, positive, negative, sampler, sigmas, latent_image):
        latent = latent_image.copy()
        samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
        noise = comfy.sample.prepare_noise(samples, noise_seed, latent.get("batch_index"))
        x0_output = {}
        callback = latent_preview.prepare_callback(model, sigmas.shape[-1] - 1, x0_output)
        latent["samples"] = comfy.sample.sample_custom(model, noise, cfg, sampler, sigmas, positive, negative, samples,
                                                       noise_mask=latent.get("noise_mask"), callback=callback,
                                                       disable_pbar=True, seed=noise_seed)
        return (latent,)


NODE_CLASS_MAPPINGS = {
    "PackEulerSampler|custom_sampler_pack": PackEulerSampler,
    "PackSamplerCustom|custom_sampler_pack": PackSamplerCustom,
}
