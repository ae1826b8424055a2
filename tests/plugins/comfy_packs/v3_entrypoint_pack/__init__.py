"""A test pack written the way cg-use-everywhere and Advanced-ControlNet are: only an async ``comfy_entrypoint``
returning a ``ComfyExtension``."""

from comfy_api.latest import ComfyExtension, io


class SolidImageV3(io.ComfyNode):
    """A batch of one colour, as Atelier's EmptyImage makes it."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="SolidImageV3", display_name="Solid Image (V3)", category="testing/v3",
                         inputs=[io.Int.Input("width", default=64, min=1, max=4096),
                                 io.Int.Input("height", default=64, min=1, max=4096),
                                 io.Int.Input("batch_size", default=1, min=1, max=64),
                                 io.Int.Input("color", default=0, min=0, max=0xFFFFFF)],
                         outputs=[io.Image.Output()])

    @classmethod
    def execute(cls, width, height, batch_size, color):
        import torch

        rgb = torch.tensor([(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF], dtype=torch.float32) / 255.0
        return io.NodeOutput(rgb.expand(batch_size, height, width, 3).clone())


class MarkerTypeV3(io.ComfyNode):
    """Passes a value of a pack's own socket type."""

    Marker = io.Custom("TEST_MARKER")

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="MarkerTypeV3", category="testing/v3",
                         inputs=[io.String.Input("text", default="mark")], outputs=[cls.Marker.Output("marker")])

    @classmethod
    def execute(cls, text):
        return io.NodeOutput({"marker": text})


class TestV3Extension(ComfyExtension):
    loaded = False

    async def on_load(self):
        TestV3Extension.loaded = True

    async def get_node_list(self):
        return [SolidImageV3, MarkerTypeV3]


async def comfy_entrypoint() -> ComfyExtension:
    return TestV3Extension()
