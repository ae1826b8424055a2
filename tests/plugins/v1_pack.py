"""A plug-in written against ComfyUI's V1 class API, used by the tests."""

import time

from core.context import current_context


def progress(value, total, preview=None):
    """What ComfyUI's ProgressBar does for a V1 node: report through the running node's context."""
    current_context().progress(value, total, preview)


class TestSleep:
    """Waits ``steps`` times ``seconds``, reporting progress each step (so it can be interrupted)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": 0, "max": 1000}),
                             "steps": ("INT", {"default": 5, "min": 1, "max": 10000}),
                             "seconds": ("FLOAT", {"default": 0.01, "min": 0.0, "max": 10.0})}}

    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("value",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value, steps, seconds):
        for step in range(steps):
            time.sleep(seconds)
            progress(step + 1, steps)
        return (value,)


class TestFail:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, image):
        raise ValueError("this node always fails")


class TestEven:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"number": ("INT", {"default": 0})}}

    @classmethod
    def VALIDATE_INPUTS(cls, number=None):  # linked inputs are not passed
        return True if number is None or number % 2 == 0 else f"number must be even, got {number}"

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "testing"

    def run(self, number):
        return {"ui": {"text": [str(number)]}, "result": (number,)}


class TestPreview:
    """Reports three steps, each with a small preview image."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, value):
        from PIL import Image

        for step in range(3):
            progress(step + 1, 3, Image.new("RGB", (8, 8), (step * 100, 0, 0)))
        return (value,)


NODE_CLASS_MAPPINGS = {"TestSleep": TestSleep, "TestFail": TestFail, "TestEven": TestEven,
                       "TestPreview": TestPreview}
NODE_DISPLAY_NAME_MAPPINGS = {"TestSleep": "Test Sleep"}
