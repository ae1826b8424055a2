"""ComfyUI's ``comfy.k_diffusion``: k-diffusion's sampler functions as views of Atelier's samplers."""
