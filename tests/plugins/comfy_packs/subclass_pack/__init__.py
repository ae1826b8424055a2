"""A test plug-in written the way Custom-Scripts and rgthree use ComfyUI's core nodes: it subclasses
``nodes.LoraLoader`` with its own ``INPUT_TYPES`` and calls the parent's ``load_lora``, and it calls
``nodes.CLIPTextEncode().encode(clip, text)``."""

from nodes import MAX_RESOLUTION, CLIPTextEncode, LoraLoader


class LoraLoaderWithNote(LoraLoader):
    RETURN_TYPES = (*LoraLoader.RETURN_TYPES, "STRING")
    RETURN_NAMES = (*getattr(LoraLoader, "RETURN_NAMES", LoraLoader.RETURN_TYPES), "note")

    @classmethod
    def INPUT_TYPES(cls):
        types = super().INPUT_TYPES()
        types["optional"] = {"note": ("STRING", {"default": ""})}
        return types

    def load_lora(self, note="", **kwargs):
        return (*super().load_lora(**kwargs), note)


class PromptPair:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",), "positive": ("STRING", {"multiline": True}),
                             "negative": ("STRING", {"multiline": True}),
                             "size": ("INT", {"default": 32, "min": 8, "max": MAX_RESOLUTION})}}

    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "INT")
    FUNCTION = "encode_pair"
    CATEGORY = "tests"

    def encode_pair(self, clip, positive, negative, size):
        encoder = CLIPTextEncode()
        return encoder.encode(clip, positive)[0], encoder.encode(clip, negative)[0], size


NODE_CLASS_MAPPINGS = {"LoraLoaderWithNote|subclass_pack": LoraLoaderWithNote, "PromptPair|subclass_pack": PromptPair}
