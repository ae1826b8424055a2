"""The names of the resampling, blending and mask operations nodes offer, in ComfyUI's order; plain data, so
declaring the nodes needs no torch."""

RESAMPLE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
LATENT_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
BLEND_MODES = ("normal", "multiply", "screen", "overlay", "soft_light", "difference")
MASK_OPERATIONS = ("multiply", "add", "subtract", "and", "or", "xor")
