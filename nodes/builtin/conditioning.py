"""Conditioning: combining prompts and restricting them to areas (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.values import Conditioning
from nodes.api import Combo, Float, Int, Node, Output, Socket

if TYPE_CHECKING:
    import torch

MAX_RESOLUTION = 16384


def with_options(conditioning: Conditioning, **options: Any) -> Conditioning:
    """A copy of each entry with ``options`` merged into its dict; the tensors are shared, not copied."""
    return [[cond, {**extras, **options}] for cond, extras in conditioning]


class ConditioningCombine(Node):
    """Both conditionings guide the sampler; their predictions are averaged."""

    display_name = "Conditioning (Combine)"
    category = "conditioning"
    inputs = [Socket("conditioning_1", "CONDITIONING"), Socket("conditioning_2", "CONDITIONING")]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning_1: Conditioning, conditioning_2: Conditioning) -> tuple:
        return (conditioning_1 + conditioning_2,)


class ConditioningSetArea(Node):
    """Restricts a conditioning to a rectangle of the image (in pixels)."""

    display_name = "Conditioning (Set Area)"
    category = "conditioning"
    inputs = [Socket("conditioning", "CONDITIONING"),
              Int("width", 64, min=64, max=MAX_RESOLUTION, step=8),
              Int("height", 64, min=64, max=MAX_RESOLUTION, step=8),
              Int("x", 0, min=0, max=MAX_RESOLUTION, step=8), Int("y", 0, min=0, max=MAX_RESOLUTION, step=8),
              Float("strength", 1.0, min=0.0, max=10.0, step=0.01)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: Conditioning, width: int, height: int, x: int, y: int, strength: float) -> tuple:
        area = (height // 8, width // 8, y // 8, x // 8)
        return (with_options(conditioning, area=area, strength=strength, set_area_to_bounds=False),)


class ConditioningAverage(Node):
    """Blends the first conditioning of ``from`` into each of ``to`` (token counts matched with zeros)."""

    category = "conditioning"
    inputs = [Socket("conditioning_to", "CONDITIONING"), Socket("conditioning_from", "CONDITIONING"),
              Float("conditioning_to_strength", 1.0, min=0.0, max=1.0, step=0.01)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning_to: Conditioning, conditioning_from: Conditioning,
                conditioning_to_strength: float) -> tuple:
        from engine.conditioning import average

        return (average(conditioning_to, conditioning_from, conditioning_to_strength),)


class ConditioningConcat(Node):
    """Appends the tokens of ``from`` to each conditioning of ``to`` (one longer prompt)."""

    category = "conditioning"
    inputs = [Socket("conditioning_to", "CONDITIONING"), Socket("conditioning_from", "CONDITIONING")]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning_to: Conditioning, conditioning_from: Conditioning) -> tuple:
        from engine.conditioning import concat

        return (concat(conditioning_to, conditioning_from),)


class ConditioningSetMask(Node):
    category = "conditioning"
    inputs = [Socket("conditioning", "CONDITIONING"), Socket("mask", "MASK"),
              Float("strength", 1.0, min=0.0, max=10.0, step=0.01),
              Combo("set_cond_area", ["default", "mask bounds"])]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: Conditioning, mask: torch.Tensor, strength: float, set_cond_area: str) -> tuple:
        mask = mask if mask.ndim == 3 else mask[None]
        return (with_options(conditioning, mask=mask, mask_strength=strength,
                             set_area_to_bounds=set_cond_area != "default"),)


class ConditioningZeroOut(Node):
    category = "advanced/conditioning"
    inputs = [Socket("conditioning", "CONDITIONING")]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: Conditioning) -> tuple:
        from engine.conditioning import zero_out

        return (zero_out(conditioning),)


class ConditioningSetTimestepRange(Node):
    """Limits a conditioning to part of the schedule (0 = the start, pure noise; 1 = the end)."""

    category = "advanced/conditioning"
    inputs = [Socket("conditioning", "CONDITIONING"), Float("start", 0.0, min=0.0, max=1.0, step=0.001),
              Float("end", 1.0, min=0.0, max=1.0, step=0.001)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: Conditioning, start: float, end: float) -> tuple:
        return (with_options(conditioning, start_percent=start, end_percent=end),)


class ConditioningSetAreaPercentage(Node):
    category = "conditioning"
    inputs = [Socket("conditioning", "CONDITIONING"), Float("width", 1.0, min=0.0, max=1.0, step=0.01),
              Float("height", 1.0, min=0.0, max=1.0, step=0.01), Float("x", 0.0, min=0.0, max=1.0, step=0.01),
              Float("y", 0.0, min=0.0, max=1.0, step=0.01), Float("strength", 1.0, min=0.0, max=10.0, step=0.01)]
    outputs = [Output("CONDITIONING")]

    def execute(self, conditioning: Conditioning, width: float, height: float, x: float, y: float,
                strength: float) -> tuple:
        return (with_options(conditioning, area=("percentage", height, width, y, x), strength=strength,
                             set_area_to_bounds=False),)


NODES = [ConditioningCombine, ConditioningSetArea, ConditioningAverage, ConditioningConcat, ConditioningSetMask,
         ConditioningZeroOut, ConditioningSetTimestepRange, ConditioningSetAreaPercentage]
