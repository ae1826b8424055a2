"""Which plug-in usually provides a node type this server lacks: a small table of well-known ones, plus the
naming habits of a few packs, so an error or a placeholder can say what to install."""

from __future__ import annotations

from typing import Any

from core.errors import error

NODE_SOURCES = {
    "UltimateSDUpscale": "ComfyUI_UltimateSDUpscale",
    "UltimateSDUpscaleNoUpscale": "ComfyUI_UltimateSDUpscale",
    "IPAdapterAdvanced": "ComfyUI_IPAdapter_plus",
    "IPAdapterUnifiedLoader": "ComfyUI_IPAdapter_plus",
    "IPAdapterModelLoader": "ComfyUI_IPAdapter_plus",
    "IPAdapter": "ComfyUI_IPAdapter_plus",
    "IPAdapterFaceID": "ComfyUI_IPAdapter_plus",
    "ADE_AnimateDiffLoaderWithContext": "ComfyUI-AnimateDiff-Evolved",
    "ADE_AnimateDiffLoaderGen1": "ComfyUI-AnimateDiff-Evolved",
    "ADE_UseEvolvedSampling": "ComfyUI-AnimateDiff-Evolved",
    "ADE_StandardStaticContextOptions": "ComfyUI-AnimateDiff-Evolved",
    "VHS_VideoCombine": "ComfyUI-VideoHelperSuite",
    "VHS_LoadVideo": "ComfyUI-VideoHelperSuite",
    "VHS_LoadVideoPath": "ComfyUI-VideoHelperSuite",
    "FaceDetailer": "ComfyUI-Impact-Pack",
    "UltralyticsDetectorProvider": "ComfyUI-Impact-Subpack",
    "SAMLoader": "ComfyUI-Impact-Pack",
    "DetailerForEach": "ComfyUI-Impact-Pack",
    "ImpactWildcardProcessor": "ComfyUI-Impact-Pack",
    "Image Rembg (Remove Background)": "was-node-suite-comfyui",
    "Text Multiline": "was-node-suite-comfyui",
    "Text Concatenate": "was-node-suite-comfyui",
    "Image Resize": "was-node-suite-comfyui",
    "Power Lora Loader (rgthree)": "rgthree-comfy",
    "Seed (rgthree)": "rgthree-comfy",
    "Image Comparer (rgthree)": "rgthree-comfy",
    "Display Any (rgthree)": "rgthree-comfy",
    "Context Big (rgthree)": "rgthree-comfy",
    "ImageResize+": "ComfyUI_essentials",
    "GetImageSize+": "ComfyUI_essentials",
    "ImageCrop+": "ComfyUI_essentials",
    "SetNode": "ComfyUI-KJNodes",
    "GetNode": "ComfyUI-KJNodes",
    "ImageResizeKJ": "ComfyUI-KJNodes",
    "ColorMatch": "ComfyUI-KJNodes",
    "GrowMaskWithBlur": "ComfyUI-KJNodes",
    "ImageConcanate": "ComfyUI-KJNodes",
    "ShowText|pysssss": "ComfyUI-Custom-Scripts",
    "MathExpression|pysssss": "ComfyUI-Custom-Scripts",
    "CheckpointLoader|pysssss": "ComfyUI-Custom-Scripts",
    "ControlNetPreprocessorSelector": "comfyui_controlnet_aux",
    "AIO_Preprocessor": "comfyui_controlnet_aux",
    "CannyEdgePreprocessor": "comfyui_controlnet_aux",
    "DepthAnythingPreprocessor": "comfyui_controlnet_aux",
    "OpenposePreprocessor": "comfyui_controlnet_aux",
    "DWPreprocessor": "comfyui_controlnet_aux",
    "ACN_AdvancedControlNetApply": "ComfyUI-Advanced-ControlNet",
    "UnetLoaderGGUF": "ComfyUI-GGUF",
    "DualCLIPLoaderGGUF": "ComfyUI-GGUF",
    "CLIPLoaderGGUF": "ComfyUI-GGUF",
    "BNK_CLIPTextEncodeAdvanced": "ComfyUI_ADV_CLIP_emb",
    "BNK_NoisyLatentImage": "ComfyUI_Noise",
    "smZ CLIPTextEncode": "ComfyUI_smZNodes",
    "Efficient Loader": "efficiency-nodes-comfyui",
    "KSampler (Efficient)": "efficiency-nodes-comfyui",
    "ReActorFaceSwap": "comfyui-reactor-node",
    "LayerMask: RemBgUltra": "ComfyUI_LayerStyle",
    "easy fullLoader": "ComfyUI-Easy-Use",
    "Anything Everywhere": "cg-use-everywhere",
}

# (test, plug-in) for packs whose node names follow a pattern.
NAME_PATTERNS = (
    (lambda name: name.startswith("CR "), "ComfyUI_Comfyroll_CustomNodes"),
    (lambda name: name.endswith(" +"), "ComfyUI_essentials"),
    (lambda name: name.endswith("(rgthree)"), "rgthree-comfy"),
    (lambda name: name.endswith("|pysssss"), "ComfyUI-Custom-Scripts"),
    (lambda name: name.endswith("(mtb)"), "comfy_mtb"),
    (lambda name: name.startswith("VHS_"), "ComfyUI-VideoHelperSuite"),
    (lambda name: name.startswith("ADE_"), "ComfyUI-AnimateDiff-Evolved"),
    (lambda name: name.startswith("Impact"), "ComfyUI-Impact-Pack"),
    (lambda name: name.startswith("easy "), "ComfyUI-Easy-Use"),
    (lambda name: name.startswith("LayerStyle") or name.startswith("LayerMask:"), "ComfyUI_LayerStyle"),
)


def node_source(node_type: str) -> str | None:
    """The plug-in that usually provides ``node_type``, when it is a well-known one."""
    if node_type in NODE_SOURCES:
        return NODE_SOURCES[node_type]
    return next((source for matches, source in NAME_PATTERNS if matches(node_type)), None)


def missing_node_type_error(node_id: str, node: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI's ``missing_node_type`` error for prompt node ``node_id``, naming the plug-in that usually provides
    its type when it is a well-known one."""
    kind = node.get("class_type")
    source = node_source(str(kind))
    title = (node.get("_meta") or {}).get("title") or kind
    hint = f"It is usually provided by the plug-in {source}." if source else \
        "The plug-in that provides it may not be installed."
    return error("missing_node_type", f"Node '{title}' not found. {hint}", f"Node ID '#{node_id}', class_type {kind!r}",
                 node_id=node_id, class_type=kind, node_title=title, plugin=source)


def missing_node_errors(prompt: dict[str, dict[str, Any]], object_info: dict[str, Any]) -> dict[str, Any]:
    """ComfyUI's ``node_errors`` entries for the prompt's nodes whose type this server lacks."""
    return {node_id: {"errors": [missing_node_type_error(node_id, node)], "dependent_outputs": [],
                      "class_type": node.get("class_type")}
            for node_id, node in prompt.items() if node.get("class_type") not in object_info}
