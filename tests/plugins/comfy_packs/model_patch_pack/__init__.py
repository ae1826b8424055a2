"""A test plug-in that patches a MODEL the way real packs do: it clones the model, reads a LoRA file with
``comfy.utils.load_torch_file`` and ``comfy.lora``, adds its weights with ``add_patches`` and wraps the UNet call
with ``set_model_unet_function_wrapper``."""

import comfy.lora
import comfy.utils
import folder_paths


class UNetWrapper:
    """Scales the denoised prediction, and counts the cond/uncond chunks it sees (as a pack's wrapper object)."""

    def __init__(self, scale):
        self.scale = scale
        self.chunks = []

    def __call__(self, apply_model, args):
        self.chunks.append(list(args["cond_or_uncond"]))
        return apply_model(args["input"], args["timestep"], **args["c"]) * self.scale


class PatchedModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "lora_name": (folder_paths.get_filename_list("loras"),),
            "strength": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01}),
            "output_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.01}),
        }}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "tests"

    def patch(self, model, lora_name, strength, output_scale):
        lora = comfy.utils.load_torch_file(folder_paths.get_full_path_or_raise("loras", lora_name), safe_load=True)
        patches = comfy.lora.load_lora(lora, comfy.lora.model_lora_keys_unet(model.model), log_missing=False)
        patched = model.clone()
        patched.add_patches(patches, strength)
        patched.set_model_unet_function_wrapper(UNetWrapper(output_scale))
        return (patched,)


NODE_CLASS_MAPPINGS = {"PatchedModel|model_patch_pack": PatchedModel}
