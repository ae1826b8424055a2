"""Where ComfyUI keeps each core node and what it calls its method: the facts ``compat.v1_classes`` needs to give
Atelier's nodes ComfyUI's V1 class shape (read from ComfyUI 0.3.64's ``nodes.py`` and ``comfy_extras``).

Only names live here; behaviour comes from Atelier's registry. A node of the registry missing from this table gets
``FUNCTION = "execute"`` and its declared input order; a node here that the registry lacks becomes a stand-in class
that says so when it is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ComfyName:
    """How ComfyUI exposes one node type to Python code."""

    function: str  # V1 FUNCTION; for ComfyUI's V3 nodes the name their V1 class had, which older packs still call
    params: tuple[str, ...] | None = None  # ComfyUI's positional order, where it is not Atelier's input order
    module: str = "nodes"  # the module ComfyUI defines the class in
    class_name: str | None = None  # ComfyUI's class name, where it is not the node id
    v3: bool = False  # ComfyUI's class is an ``io.ComfyNode``: it also has a classmethod ``execute``
    attributes: dict[str, str] = field(default_factory=dict)  # class attribute -> the combo input it lists


SCALE = {"upscale_methods": "upscale_method", "crop_methods": "crop"}
SAVE = ("images", "filename_prefix", "prompt", "extra_pnginfo")
CUSTOM_SAMPLER = "comfy_extras.nodes_custom_sampler"
MASK = "comfy_extras.nodes_mask"
MERGING = "comfy_extras.nodes_model_merging"
MERGING_MODEL_SPECIFIC = "comfy_extras.nodes_model_merging_model_specific"
POST = "comfy_extras.nodes_post_processing"
ADVANCED = "comfy_extras.nodes_model_advanced"
STRINGS = "comfy_extras.nodes_string"
PRIMITIVES = "comfy_extras.nodes_primitive"
TILED = ("tile_size", "overlap", "temporal_size", "temporal_overlap")

COMFY_NAMES: dict[str, ComfyName] = {
    # nodes.py
    "CheckpointLoaderSimple": ComfyName("load_checkpoint"),
    "CheckpointLoader": ComfyName("load_checkpoint", ("config_name", "ckpt_name")),
    "DiffusersLoader": ComfyName("load_checkpoint", ("model_path", "output_vae", "output_clip")),
    "unCLIPCheckpointLoader": ComfyName("load_checkpoint", ("ckpt_name", "output_vae", "output_clip")),
    "VAELoader": ComfyName("load_vae"),
    "UNETLoader": ComfyName("load_unet"),
    "CLIPLoader": ComfyName("load_clip"),
    "DualCLIPLoader": ComfyName("load_clip"),
    "CLIPVisionLoader": ComfyName("load_clip"),
    "StyleModelLoader": ComfyName("load_style_model"),
    "GLIGENLoader": ComfyName("load_gligen"),
    "LoraLoader": ComfyName("load_lora"),
    "LoraLoaderModelOnly": ComfyName("load_lora_model_only"),
    "ControlNetLoader": ComfyName("load_controlnet"),
    "DiffControlNetLoader": ComfyName("load_controlnet"),
    "CLIPTextEncode": ComfyName("encode", ("clip", "text")),
    "CLIPSetLastLayer": ComfyName("set_last_layer"),
    "CLIPVisionEncode": ComfyName("encode", ("clip_vision", "image", "crop")),
    "StyleModelApply": ComfyName("apply_stylemodel"),
    "unCLIPConditioning": ComfyName("apply_adm"),
    "GLIGENTextBoxApply": ComfyName("append"),
    "HypernetworkLoader": ComfyName("load_hypernetwork", module="comfy_extras.nodes_hypernetwork"),
    "InstructPixToPixConditioning": ComfyName("encode", ("positive", "negative", "pixels", "vae"),
                                              module="comfy_extras.nodes_ip2p", v3=True),
    "ConditioningCombine": ComfyName("combine"),
    "ConditioningAverage": ComfyName("addWeighted"),
    "ConditioningConcat": ComfyName("concat"),
    "ConditioningSetArea": ComfyName("append"),
    "ConditioningSetAreaPercentage": ComfyName("append"),
    "ConditioningSetAreaStrength": ComfyName("append"),
    "ConditioningSetMask": ComfyName("append", ("conditioning", "mask", "set_cond_area", "strength")),
    "ConditioningZeroOut": ComfyName("zero_out"),
    "ConditioningSetTimestepRange": ComfyName("set_range"),
    "ControlNetApply": ComfyName("apply_controlnet"),
    "ControlNetApplyAdvanced": ComfyName("apply_controlnet", (
        "positive", "negative", "control_net", "image", "strength", "start_percent", "end_percent", "vae",
        "extra_concat")),
    "KSampler": ComfyName("sample"),
    "KSamplerAdvanced": ComfyName("sample", (
        "model", "add_noise", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
        "latent_image", "start_at_step", "end_at_step", "return_with_leftover_noise", "denoise")),
    "VAEDecode": ComfyName("decode", ("vae", "samples")),
    "VAEEncode": ComfyName("encode", ("vae", "pixels")),
    "VAEDecodeTiled": ComfyName("decode", ("vae", "samples", *TILED)),
    "VAEEncodeTiled": ComfyName("encode", ("vae", "pixels", *TILED)),
    "VAEEncodeForInpaint": ComfyName("encode", ("vae", "pixels", "mask", "grow_mask_by")),
    "InpaintModelConditioning": ComfyName("encode", ("positive", "negative", "pixels", "vae", "mask", "noise_mask")),
    "SetLatentNoiseMask": ComfyName("set_mask"),
    "EmptyLatentImage": ComfyName("generate"),
    "LatentUpscale": ComfyName("upscale", attributes=SCALE),
    "LatentUpscaleBy": ComfyName("upscale", attributes={"upscale_methods": "upscale_method"}),
    "LatentFromBatch": ComfyName("frombatch"),
    "RepeatLatentBatch": ComfyName("repeat"),
    "LatentComposite": ComfyName("composite", ("samples_to", "samples_from", "x", "y", "composite_method", "feather")),
    "LatentBlend": ComfyName("blend", ("samples1", "samples2", "blend_factor", "blend_mode")),
    "LatentRotate": ComfyName("rotate"),
    "LatentFlip": ComfyName("flip"),
    "LatentCrop": ComfyName("crop"),
    "LoadLatent": ComfyName("load"),
    "SaveLatent": ComfyName("save", ("samples", "filename_prefix", "prompt", "extra_pnginfo")),
    "LoadImage": ComfyName("load_image"),
    "LoadImageMask": ComfyName("load_image", attributes={"_color_channels": "channel"}),
    "LoadImageOutput": ComfyName("load_image"),
    "SaveImage": ComfyName("save_images", SAVE),
    "PreviewImage": ComfyName("save_images", SAVE),
    "ImageScale": ComfyName("upscale", attributes=SCALE),
    "ImageScaleBy": ComfyName("upscale", attributes={"upscale_methods": "upscale_method"}),
    "ImageInvert": ComfyName("invert"),
    "ImageBatch": ComfyName("batch"),
    "EmptyImage": ComfyName("generate"),
    "ImagePadForOutpaint": ComfyName("expand_image"),
    # comfy_extras
    "SamplerCustom": ComfyName("sample", module=CUSTOM_SAMPLER),
    "SamplerCustomAdvanced": ComfyName("sample", ("noise", "guider", "sampler", "sigmas", "latent_image"),
                                       module=CUSTOM_SAMPLER),
    "BasicScheduler": ComfyName("get_sigmas", module=CUSTOM_SAMPLER),
    "KarrasScheduler": ComfyName("get_sigmas", module=CUSTOM_SAMPLER),
    "KSamplerSelect": ComfyName("get_sampler", module=CUSTOM_SAMPLER),
    "BasicGuider": ComfyName("get_guider", ("model", "conditioning"), module=CUSTOM_SAMPLER),
    "CFGGuider": ComfyName("get_guider", ("model", "positive", "negative", "cfg"), module=CUSTOM_SAMPLER),
    "DualCFGGuider": ComfyName("get_guider", module=CUSTOM_SAMPLER),
    "RandomNoise": ComfyName("get_noise", ("noise_seed",), module=CUSTOM_SAMPLER),
    "DisableNoise": ComfyName("get_noise", (), module=CUSTOM_SAMPLER),
    "SDTurboScheduler": ComfyName("get_sigmas", module=CUSTOM_SAMPLER),
    "UpscaleModelLoader": ComfyName("load_model", module="comfy_extras.nodes_upscale_model", v3=True),
    "ImageUpscaleWithModel": ComfyName("upscale", module="comfy_extras.nodes_upscale_model", v3=True),
    "LatentBatch": ComfyName("batch", module="comfy_extras.nodes_latent", v3=True),
    "CLIPTextEncodeSDXL": ComfyName("encode", module="comfy_extras.nodes_clip_sdxl", v3=True),
    "CLIPTextEncodeSDXLRefiner": ComfyName("encode", ("clip", "ascore", "width", "height", "text"),
                                           module="comfy_extras.nodes_clip_sdxl", v3=True),
    "ImageToMask": ComfyName("image_to_mask", module=MASK),
    "MaskToImage": ComfyName("mask_to_image", module=MASK),
    "InvertMask": ComfyName("invert", module=MASK),
    "SolidMask": ComfyName("solid", module=MASK),
    "GrowMask": ComfyName("expand_mask", module=MASK),
    "FeatherMask": ComfyName("feather", module=MASK),
    "ThresholdMask": ComfyName("image_to_mask", module=MASK),
    "CropMask": ComfyName("crop", module=MASK),
    "MaskComposite": ComfyName("combine", module=MASK),
    "ImageCompositeMasked": ComfyName("composite", module=MASK),
    "ModelMergeSimple": ComfyName("merge", module=MERGING),
    "ModelMergeSubtract": ComfyName("merge", module=MERGING, class_name="ModelSubtract"),
    "ModelMergeAdd": ComfyName("merge", module=MERGING, class_name="ModelAdd"),
    "ModelMergeBlocks": ComfyName("merge", module=MERGING),
    "CLIPMergeSimple": ComfyName("merge", module=MERGING),
    "CLIPMergeSubtract": ComfyName("merge", module=MERGING, class_name="CLIPSubtract"),
    "CLIPMergeAdd": ComfyName("merge", module=MERGING, class_name="CLIPAdd"),
    "ModelMergeSD1": ComfyName("merge", module=MERGING_MODEL_SPECIFIC),
    "ModelMergeSD2": ComfyName("merge", module=MERGING_MODEL_SPECIFIC),  # ComfyUI's class is ModelMergeSD1's
    "ModelMergeSDXL": ComfyName("merge", module=MERGING_MODEL_SPECIFIC),
    "CheckpointSave": ComfyName("save", ("model", "clip", "vae", "filename_prefix", "prompt", "extra_pnginfo"),
                                module=MERGING),
    "ImageCrop": ComfyName("crop", module="comfy_extras.nodes_images"),
    "ImageBlend": ComfyName("blend_images", module=POST, class_name="Blend", v3=True),
    "ImageScaleToTotalPixels": ComfyName("upscale", module=POST, v3=True, attributes=SCALE),
    "Canny": ComfyName("detect_edge", module="comfy_extras.nodes_canny", v3=True),
    "ModelSamplingDiscrete": ComfyName("patch", module=ADVANCED),
    "ModelSamplingContinuousEDM": ComfyName("patch", module=ADVANCED),
    "RescaleCFG": ComfyName("patch", module=ADVANCED),
    "ModelSamplingFlux": ComfyName("patch", module=ADVANCED),
    "ModelSamplingAuraFlow": ComfyName("patch_aura", module=ADVANCED),
    "StringConcatenate": ComfyName("execute", module=STRINGS, v3=True),
    "StringReplace": ComfyName("execute", module=STRINGS, v3=True),
    "StringLength": ComfyName("execute", module=STRINGS, v3=True),
    "PrimitiveString": ComfyName("execute", module=PRIMITIVES, class_name="String", v3=True),
    "PrimitiveStringMultiline": ComfyName("execute", module=PRIMITIVES, class_name="StringMultiline", v3=True),
    "PrimitiveInt": ComfyName("execute", module=PRIMITIVES, class_name="Int", v3=True),
    "PrimitiveFloat": ComfyName("execute", module=PRIMITIVES, class_name="Float", v3=True),
    "PrimitiveBoolean": ComfyName("execute", module=PRIMITIVES, class_name="Boolean", v3=True),
    "ImageOnlyCheckpointLoader": ComfyName("load_checkpoint", ("ckpt_name", "output_vae", "output_clip"),
                                           module="comfy_extras.nodes_video_model"),
}
"""ComfyUI's names for the core nodes Atelier has, and for those packs import that it lacks (stand-ins)."""

DEFAULT = ComfyName("execute")


def comfy_name(node: str) -> ComfyName:
    return COMFY_NAMES.get(node, DEFAULT)


def classes_of_module(module: str) -> dict[str, str]:
    """ComfyUI's class names in ``module`` -> node ids, for the node types this table places there."""
    return {name.class_name or node: node for node, name in COMFY_NAMES.items() if name.module == module}
