"""Model merging and saving: weights combined as patches on clones, and written back as one checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.definition import InputSpec
from core.folders import safe_join
from nodes.api import ExecutionContext, Float, Node, NodeResult, Output, Socket, String
from nodes.builtin.image import next_counter

if TYPE_CHECKING:
    from engine.sd.clip import ClipTextModel
    from engine.sd.dual_clip import DualClip
    from engine.sd.model import DiffusionModel
    from engine.sd.vae import VAE


class ModelMergeSimple(Node):
    """model1 * ratio + model2 * (1 - ratio)."""

    category = "advanced/model_merging"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL"), Float("ratio", 1.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model1: DiffusionModel, model2: DiffusionModel, ratio: float) -> tuple:
        from engine import merge

        return (merge.merge_models(model1, model2, merge.weighted(ratio)),)


class ModelMergeAdd(Node):
    category = "advanced/model_merging"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL")]
    outputs = [Output("MODEL")]

    def execute(self, model1: DiffusionModel, model2: DiffusionModel) -> tuple:
        from engine import merge

        return (merge.merge_models(model1, model2, merge.added),)


class ModelMergeSubtract(Node):
    category = "advanced/model_merging"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL"),
              Float("multiplier", 1.0, min=-10.0, max=10.0, step=0.01)]
    outputs = [Output("MODEL")]

    def execute(self, model1: DiffusionModel, model2: DiffusionModel, multiplier: float) -> tuple:
        from engine import merge

        return (merge.merge_models(model1, model2, merge.subtracted(multiplier)),)


class CLIPMergeSimple(Node):
    category = "advanced/model_merging"
    inputs = [Socket("clip1", "CLIP"), Socket("clip2", "CLIP"), Float("ratio", 1.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("CLIP")]

    def execute(self, clip1: ClipTextModel | DualClip, clip2: ClipTextModel | DualClip, ratio: float) -> tuple:
        from engine import merge

        return (merge.merge_text_encoders(clip1, clip2, merge.weighted(ratio)),)


class CLIPMergeSubtract(Node):
    """clip1 - clip2 * multiplier (e.g. a fine-tune's difference from its base, to add elsewhere)."""

    category = "advanced/model_merging"
    inputs = [Socket("clip1", "CLIP"), Socket("clip2", "CLIP"),
              Float("multiplier", 1.0, min=-10.0, max=10.0, step=0.01)]
    outputs = [Output("CLIP")]

    def execute(self, clip1: ClipTextModel | DualClip, clip2: ClipTextModel | DualClip, multiplier: float) -> tuple:
        from engine import merge

        return (merge.merge_text_encoders(clip1, clip2, merge.subtracted(multiplier)),)


class CLIPMergeAdd(Node):
    category = "advanced/model_merging"
    inputs = [Socket("clip1", "CLIP"), Socket("clip2", "CLIP")]
    outputs = [Output("CLIP")]

    def execute(self, clip1: ClipTextModel | DualClip, clip2: ClipTextModel | DualClip) -> tuple:
        from engine import merge

        return (merge.merge_text_encoders(clip1, clip2, merge.added),)


def block_ratio(name: str) -> InputSpec:
    return Float(name, 1.0, min=0.0, max=1.0, step=0.01)


class ModelMergeBlocks(Node):
    """model1 * ratio + model2 * (1 - ratio), the ratio chosen per UNet part: input blocks, middle block, output
    blocks and final layer (out); other weights take input's."""

    category = "advanced/model_merging"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL"), block_ratio("input"), block_ratio("middle"),
              block_ratio("out")]
    outputs = [Output("MODEL")]

    def execute(self, model1: DiffusionModel, model2: DiffusionModel, **ratios: float) -> tuple:
        from engine.merge import merge_models_by_blocks

        prefixes = [spec.name for spec in self.inputs[2:]]  # a weight takes the longest prefix of its name
        return (merge_models_by_blocks(model1, model2, [(prefix, ratios[prefix]) for prefix in prefixes]),)


class ModelMergeSD1(ModelMergeBlocks):
    """ModelMergeBlocks with a ratio for each block of an SD1.x/SD2.x UNet."""

    category = "advanced/model_merging/model_specific"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL"), block_ratio("time_embed."),
              block_ratio("label_emb."), *(block_ratio(f"input_blocks.{i}.") for i in range(12)),
              *(block_ratio(f"middle_block.{i}.") for i in range(3)),
              *(block_ratio(f"output_blocks.{i}.") for i in range(12)), block_ratio("out.")]


class ModelMergeSD2(ModelMergeSD1):
    """ModelMergeBlocks with a ratio for each block of an SD2.x UNet (the blocks of SD1.x)."""


class ModelMergeSDXL(ModelMergeBlocks):
    """ModelMergeBlocks with a ratio for each block of an SDXL UNet."""

    category = "advanced/model_merging/model_specific"
    inputs = [Socket("model1", "MODEL"), Socket("model2", "MODEL"), block_ratio("time_embed."),
              block_ratio("label_emb."), *(block_ratio(f"input_blocks.{i}") for i in range(9)),
              *(block_ratio(f"middle_block.{i}") for i in range(3)),
              *(block_ratio(f"output_blocks.{i}") for i in range(9)), block_ratio("out.")]


def numbered_path(folder: Path, prefix: str, suffix: str) -> Path:
    """``<prefix>_<NNNNN>_<suffix>`` under ``folder`` (the prefix may name subfolders, made here), numbered past the
    files already there."""
    target = safe_join(folder, prefix)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent / f"{target.name}_{next_counter(target.parent, target.name):05}_{suffix}"


class CheckpointSave(Node):
    """Writes model, text encoders and VAE (patches and merges applied) as one single-file checkpoint in the layout
    of the model's family (SD1.x, SD2.x, SDXL)."""

    display_name = "Save Checkpoint"
    category = "advanced/model_merging"
    output_node = True
    inputs = [Socket("model", "MODEL"), Socket("clip", "CLIP"), Socket("vae", "VAE"),
              String("filename_prefix", "checkpoints/ComfyUI")]
    outputs = []

    def execute(self, model: DiffusionModel, clip: ClipTextModel | DualClip, vae: VAE, filename_prefix: str,
                context: ExecutionContext) -> NodeResult:
        from engine.merge import save_checkpoint

        output_dir = context.folders.output_dir
        path = numbered_path(output_dir, filename_prefix, ".safetensors")
        save_checkpoint(model, clip, vae, path)
        return NodeResult((), {"text": [f"saved {path.relative_to(output_dir.resolve())}"]})


NODES = [ModelMergeSimple, ModelMergeBlocks, ModelMergeAdd, ModelMergeSubtract, CLIPMergeSimple, CLIPMergeSubtract,
         CLIPMergeAdd, ModelMergeSD1, ModelMergeSD2, ModelMergeSDXL, CheckpointSave]
