"""A well-behaved pack: it reads files anywhere, writes its settings in its own folder and makes its model folder
and a folder in the user's output folder through ComfyUI's folder_paths. Nothing of this is reported."""

import os
from pathlib import Path

import folder_paths

HERE = Path(__file__).resolve().parent
LICENSE_TEXT = Path(os.__file__).read_text()[:100]
(HERE / "settings.json").write_text("{}")
os.makedirs(os.path.join(folder_paths.models_dir, "quiet"), exist_ok=True)
os.makedirs(os.path.join(folder_paths.get_output_directory(), "quiet"), exist_ok=True)


class QuietEcho:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        return (value,)


NODE_CLASS_MAPPINGS = {"QuietEcho": QuietEcho}
