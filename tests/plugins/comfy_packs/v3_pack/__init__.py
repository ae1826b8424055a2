"""A test pack written the way KJNodes mixes its nodes: ComfyUI V3 ``io.ComfyNode`` classes registered in
``NODE_CLASS_MAPPINGS`` next to V1 classes, with a model folder listed inside the declarations."""

import asyncio
import os

import folder_paths
from comfy_api.latest import io, ui


class InvertImageV3(io.ComfyNode):
    """Inverts an image; its execute is async, as V3 nodes may be."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="InvertImageV3", display_name="Invert Image (V3)", category="testing/v3",
                         description="Inverts the colours of an image.",
                         inputs=[io.Image.Input("image", tooltip="The image to invert.")],
                         outputs=[io.Image.Output(display_name="inverted")])

    @classmethod
    async def execute(cls, image):
        await asyncio.sleep(0)
        return io.NodeOutput(1.0 - image)


class PickImageV3(io.ComfyNode):
    """Passes one of two images; only the chosen branch is evaluated (lazy inputs)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="PickImageV3", category="testing/v3",
                         inputs=[io.Boolean.Input("use_first", default=True),
                                 io.Image.Input("first", lazy=True, optional=True),
                                 io.Image.Input("second", lazy=True, optional=True)],
                         outputs=[io.Image.Output()])

    @classmethod
    def check_lazy_status(cls, use_first, first=None, second=None):
        wanted = "first" if use_first else "second"
        return [wanted] if (first if use_first else second) is None else []

    @classmethod
    def execute(cls, use_first, first=None, second=None):
        return io.NodeOutput(first if use_first else second)


class PreviewWithIdV3(io.ComfyNode):
    """Shows images on the node and says which node it is (a hidden value)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="PreviewWithIdV3", category="testing/v3", is_output_node=True,
                         inputs=[io.Image.Input("images")], hidden=[io.Hidden.unique_id])

    @classmethod
    def execute(cls, images):
        preview = ui.PreviewImage(images, cls=cls).as_dict()
        return io.NodeOutput(ui={**preview, "text": [f"node {cls.hidden.unique_id}"]})


class EvenNumberV3(io.ComfyNode):
    """Refuses odd numbers in validation; its output changes only when the number does."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="EvenNumberV3", category="testing/v3", is_output_node=True,
                         inputs=[io.Int.Input("number", default=0, min=0, max=100,
                                              display_mode=io.NumberDisplay.slider)],
                         outputs=[io.Int.Output()])

    @classmethod
    def validate_inputs(cls, number):
        return True if number % 2 == 0 else f"number must be even, got {number}"

    @classmethod
    def fingerprint_inputs(cls, number):
        return number

    @classmethod
    def execute(cls, number):
        return io.NodeOutput(number, ui=ui.PreviewText(str(number)))


class CheckpointNameV3(io.ComfyNode):
    """The name of a checkpoint file, chosen among those installed (listed when the schema is read)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="CheckpointNameV3", category="testing/v3", is_output_node=True,
                         inputs=[io.Combo.Input("ckpt_name", options=folder_paths.get_filename_list("checkpoints"))],
                         outputs=[io.String.Output()])

    @classmethod
    def execute(cls, ckpt_name):
        return io.NodeOutput(ckpt_name, ui=ui.PreviewText(ckpt_name))


class CheckpointNameV1:
    """The same as a V1 class: INPUT_TYPES lists the checkpoints folder."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "name"
    OUTPUT_NODE = True
    CATEGORY = "testing/v1"

    def name(self, ckpt_name):
        return {"ui": {"text": [ckpt_name]}, "result": (ckpt_name,)}


class FlakyInputsV1:
    """Declares its inputs from a folder; INPUT_TYPES fails while ``break_inputs`` exists in the input folder."""

    @classmethod
    def INPUT_TYPES(cls):
        if os.path.exists(os.path.join(folder_paths.get_input_directory(), "break_inputs")):
            raise RuntimeError("cannot list the inputs now")
        return {"required": {"value": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing/v1"

    def run(self, value):
        return (value,)


NODE_CLASS_MAPPINGS = {
    "InvertImageV3": InvertImageV3,
    "PickImageV3": PickImageV3,
    "PreviewWithIdV3": PreviewWithIdV3,
    "EvenNumberV3": EvenNumberV3,
    "CheckpointNameV3": CheckpointNameV3,
    "CheckpointNameV1": CheckpointNameV1,
    "FlakyInputsV1": FlakyInputsV1,
}
NODE_DISPLAY_NAME_MAPPINGS = {"CheckpointNameV1": "Checkpoint Name (V1)"}
