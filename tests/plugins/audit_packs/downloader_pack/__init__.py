"""A pack that fetches a list of models from the network at import and falls back to a built-in list when it
cannot (the test points it, with DOWNLOADER_PACK_URL, at a local port where nothing listens)."""

import json
import os
import urllib.request

URL = os.environ.get("DOWNLOADER_PACK_URL", "http://127.0.0.1:9/model-list.json")
try:
    with urllib.request.urlopen(URL, timeout=2) as answer:
        MODELS = json.load(answer)
except OSError:
    MODELS = ["builtin-model"]


class DownloaderModels:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": (MODELS,)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, model):
        return (model,)


NODE_CLASS_MAPPINGS = {"DownloaderModels": DownloaderModels}
