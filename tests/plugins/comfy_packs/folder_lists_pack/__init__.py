"""A test plug-in written the way ComfyUI packs are: it registers its own model folder kind at import through
``folder_paths``, lists model folders inside ``INPUT_TYPES``, loads a checkpoint with ``comfy.utils`` and resizes
images with ``comfy.utils.common_upscale``."""

import os

import comfy.model_management
import comfy.utils
import folder_paths

KIND = "pack_models"

# Both registration styles packs use: assigning a (paths, extensions) pair, then adding a folder to the kind.
folder_paths.folder_names_and_paths[KIND] = ([os.path.join(folder_paths.models_dir, "pack_models")], {".pack"})
folder_paths.add_model_folder_path(KIND, os.path.join(folder_paths.models_dir, "pack_models_extra"))
# And appending to a built-in kind's live list.
folder_paths.folder_names_and_paths["checkpoints"][0].append(os.path.join(folder_paths.models_dir, "more_checkpoints"))

DEVICE_AT_IMPORT = comfy.model_management.get_torch_device()


class PackModelLists:
    """Shows which files it was given, and where they are."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),),
                             "pack_model": (folder_paths.get_filename_list(KIND),)}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "show"
    CATEGORY = "testing/comfy packs"

    def show(self, ckpt_name, pack_model):
        paths = [folder_paths.get_full_path_or_raise("checkpoints", ckpt_name),
                 folder_paths.get_full_path_or_raise(KIND, pack_model)]
        return {"ui": {"text": paths}}


class PackCheckpointStats:
    """Reads a checkpoint's tensors and counts the UNet's parameters."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),)}}

    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("unet_parameters",)
    OUTPUT_NODE = True
    FUNCTION = "count"
    CATEGORY = "testing/comfy packs"

    def count(self, ckpt_name):
        path = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        sd, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
        count = comfy.utils.calculate_parameters(sd, "model.diffusion_model.")
        dtype = comfy.utils.weight_dtype(sd, "model.diffusion_model.")
        return {"ui": {"text": [str(count), str(dtype), str(sorted(metadata or {}))]}, "result": (count,)}


class PackUpscale:
    """Resizes an image as ComfyUI's ImageScale does."""

    upscale_methods = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "upscale_method": (cls.upscale_methods,),
                             "width": ("INT", {"default": 64, "min": 1, "max": 4096}),
                             "height": ("INT", {"default": 64, "min": 1, "max": 4096}),
                             "crop": (["disabled", "center"],)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    CATEGORY = "testing/comfy packs"

    def upscale(self, image, upscale_method, width, height, crop):
        samples = image.movedim(-1, 1)
        resized = comfy.utils.common_upscale(samples, width, height, upscale_method, crop)
        return (resized.movedim(1, -1),)


NODE_CLASS_MAPPINGS = {"PackModelLists": PackModelLists, "PackCheckpointStats": PackCheckpointStats,
                       "PackUpscale": PackUpscale}
NODE_DISPLAY_NAME_MAPPINGS = {"PackModelLists": "Pack: model lists", "PackCheckpointStats": "Pack: checkpoint stats",
                              "PackUpscale": "Pack: upscale image"}
