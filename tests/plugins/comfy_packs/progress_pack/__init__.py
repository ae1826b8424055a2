"""A test plug-in written the way ComfyUI packs are: a long loop that reports with ``comfy.utils.ProgressBar``
and stops when ``comfy.model_management`` says the user interrupted."""

import time

import comfy.model_management
import comfy.utils
import folder_paths  # noqa: F401 (imported at module level, as packs do)


class PackSlowCount:
    """Counts to ``steps``, sleeping between steps; a small preview image every ``preview_every`` steps."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 5, "min": 1, "max": 100000}),
                             "seconds": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 10.0}),
                             "preview_every": ("INT", {"default": 0, "min": 0, "max": 100000})}}

    RETURN_TYPES = ("INT",)
    OUTPUT_NODE = True
    FUNCTION = "count"
    CATEGORY = "testing/comfy packs"

    def count(self, steps, seconds, preview_every):
        from PIL import Image

        bar = comfy.utils.ProgressBar(steps)
        done = 0
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(seconds)
            done += 1
            preview = None
            if preview_every and done % preview_every == 0:
                preview = ("JPEG", Image.new("RGB", (64, 32), (255, 0, 0)), 16)
            bar.update_absolute(done, steps, preview) if preview else bar.update(1)
        return {"ui": {"count": [done]}, "result": (done,)}


NODE_CLASS_MAPPINGS = {"PackSlowCount": PackSlowCount}
NODE_DISPLAY_NAME_MAPPINGS = {"PackSlowCount": "Pack: slow count"}
