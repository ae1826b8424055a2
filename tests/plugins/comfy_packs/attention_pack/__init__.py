"""A test plug-in that patches a MODEL's attention the way real packs do: one node clones the model and sets an
``attn1_patch`` / ``attn2_patch`` that scales the attention's values (as StyleAligned-like packs edit q/k/v); the
other sets an ``attn2`` replacement on every cross-attention block by its block key, as IPAdapter does, computing
attention with ``comfy.ldm.modules.attention.optimized_attention`` and adding a weighted second attention."""

from comfy.ldm.modules.attention import optimized_attention


class ValueScale:
    """An attention patch ``(n, context, value, extra_options) -> (n, context, value)``."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, n, context, value, extra_options):
        return n, context, value * self.scale


class AttentionValueScale:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "attention": (["self", "cross"],),
            "scale": ("FLOAT", {"default": 1.0, "min": -4.0, "max": 4.0, "step": 0.01}),
        }}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "tests"

    def patch(self, model, attention, scale):
        patched = model.clone()
        if attention == "self":
            patched.set_model_attn1_patch(ValueScale(scale))
        else:
            patched.set_model_attn2_patch(ValueScale(scale))
        return (patched,)


class ExtraAttention:
    """An attention replacement ``(q, k, v, extra_options) -> out``: attention over the text tokens plus
    ``weight`` times a second attention (IPAdapter attends over image tokens there; this pack reuses k and v)."""

    def __init__(self, weight):
        self.weight = weight
        self.blocks = []

    def __call__(self, q, k, v, extra_options):
        self.blocks.append(extra_options["block"])
        heads = extra_options["n_heads"]
        out = optimized_attention(q, k, v, heads)
        if self.weight:
            out = out + self.weight * optimized_attention(q, k, v, heads)
        return out


def cross_attention_blocks(diffusion_model):
    """(block kind, block id, index) of every transformer block of a UNet in ComfyUI's layout."""
    blocks = [("input", i, block) for i, block in enumerate(diffusion_model.input_blocks)]
    blocks.append(("middle", 0, diffusion_model.middle_block))
    blocks += [("output", i, block) for i, block in enumerate(diffusion_model.output_blocks)]
    keys = []
    for kind, number, block in blocks:
        for layer in block:
            for index, _ in enumerate(getattr(layer, "transformer_blocks", [])):
                keys.append((kind, number, index))
    return keys


class ExtraAttentionApply:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "weight": ("FLOAT", {"default": 0.0, "min": -4.0, "max": 4.0, "step": 0.01}),
        }}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "apply"
    CATEGORY = "tests"

    def apply(self, model, weight):
        patched = model.clone()
        replacement = ExtraAttention(weight)
        for kind, number, index in cross_attention_blocks(patched.model.diffusion_model):
            patched.set_model_attn2_replace(replacement, kind, number, index)
        return (patched,)


NODE_CLASS_MAPPINGS = {
    "AttentionValueScale|attention_pack": AttentionValueScale,
    "ExtraAttentionApply|attention_pack": ExtraAttentionApply,
}
