"""Conditioning: combining prompts and restricting them to areas (ComfyUI's names, inputs and ranges)."""

from __future__ import annotations

from typing import Any

from nodes.api import Float, Int, Node, Output, Socket

MAX_RESOLUTION = 16384
Conditioning = list[list[Any]]


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


NODES = [ConditioningCombine, ConditioningSetArea]
