"""A pack that, as older ComfyUI packs did, copies its JavaScript into the web app's ``web/extensions`` folder next
to ``custom_nodes/`` at import (a write outside its own folder), keeps its settings in its own folder and a scratch
file in the system temp folder (both fine)."""

import json
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # the folder holding custom_nodes/, as ComfyUI's own folder would

settings = HERE / "settings.json"
if not settings.exists():
    settings.write_text(json.dumps({"theme": "dark"}))
extensions = ROOT / "web" / "extensions" / "leaky_pack"
extensions.mkdir(parents=True, exist_ok=True)
shutil.copy(HERE / "js" / "leaky.js", extensions / "leaky.js")
with tempfile.NamedTemporaryFile("w", suffix=".txt") as scratch:
    scratch.write("scratch")


class LeakyEcho:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        return (value,)


NODE_CLASS_MAPPINGS = {"LeakyEcho": LeakyEcho}
