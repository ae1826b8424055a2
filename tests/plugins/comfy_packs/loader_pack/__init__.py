"""A test plug-in that loads models itself, as Comfyroll, WAS and Efficiency-style loader packs do: a checkpoint with
``comfy.sd.load_checkpoint_guess_config`` and prompts encoded with ``clip.tokenize``/``encode_from_tokens``, and a
LoRA read with ``comfy.utils.load_torch_file`` and applied with ``comfy.sd.load_lora_for_models``."""

import comfy.sd
import comfy.utils
import folder_paths


class PackCheckpointLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),)}}

    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"
    CATEGORY = "tests"

    def load(self, ckpt_name):
        path = folder_paths.get_full_path("checkpoints", ckpt_name)
        model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(
            path, output_vae=True, output_clip=True, embedding_directory=folder_paths.get_folder_paths("embeddings"))
        return (model, clip, vae)


class PackTextEncode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",), "text": ("STRING", {"multiline": True})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    CATEGORY = "tests"

    def encode(self, clip, text):
        cond, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
        return ([[cond, {"pooled_output": pooled}]],)


class PackLoraLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",),
                             "lora_name": (folder_paths.get_filename_list("loras"),),
                             "strength_model": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0}),
                             "strength_clip": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0})}}

    RETURN_TYPES = ("MODEL", "CLIP")
    FUNCTION = "load_lora"
    CATEGORY = "tests"

    def load_lora(self, model, clip, lora_name, strength_model, strength_clip):
        lora = comfy.utils.load_torch_file(folder_paths.get_full_path("loras", lora_name), safe_load=True)
        return comfy.sd.load_lora_for_models(model, clip, lora, strength_model, strength_clip)


NODE_CLASS_MAPPINGS = {"PackCheckpointLoader|loader_pack": PackCheckpointLoader,
                       "PackTextEncode|loader_pack": PackTextEncode, "PackLoraLoader|loader_pack": PackLoraLoader}
