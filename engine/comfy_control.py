"""ComfyUI's ``ControlBase`` API on Atelier's CONTROL_NET values and the hints conditioning carries.

ComfyUI's apply nodes, and packs written like them, do
``control_net.copy().set_cond_hint(image.movedim(-1, 1), strength, (start, end)).set_previous_controlnet(prev)`` and
store the result as a conditioning's ``control``. In Atelier a loaded net (``engine.controlnet.ControlNet``,
``engine.t2i_adapter.T2IAdapter``) is the CONTROL_NET value, and a ``engine.controlnet.ControlNetHint`` (a net with
its hint image, strength, range and previous hint) is what conditioning carries; ``copy()`` on a net gives a hint
without an image, so the same calls build the same object Atelier's ControlNetApply nodes build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from engine.controlnet import ControlNetHint


class ControlBase:
    """ComfyUI's names shared by a net (strength 1 over the whole schedule, no hint yet) and a hint."""

    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0

    @property
    def timestep_percent_range(self) -> tuple[float, float]:
        return (self.start_percent, self.end_percent)

    @property
    def previous_controlnet(self) -> ControlNetHint | None:
        return getattr(self, "previous", None)

    @property
    def cond_hint_original(self) -> torch.Tensor | None:
        """The hint image as ComfyUI holds it, [B, C, H, W]."""
        hint = getattr(self, "hint", None)
        return None if hint is None else hint.movedim(-1, 1)

    def copy(self) -> ControlNetHint:
        raise NotImplementedError

    def set_cond_hint(self, cond_hint: torch.Tensor, strength: float = 1.0,
                      timestep_percent_range: tuple[float, float] = (0.0, 1.0), vae: Any = None,
                      extra_concat: list | None = None) -> ControlNetHint:
        """A hint of this net with ``cond_hint`` ([B, C, H, W] in 0..1, ComfyUI's layout). ``vae`` is accepted:
        the nets Atelier runs read the image itself."""
        if extra_concat:
            raise NotImplementedError("ControlNets with extra concat inputs (inpainting ControlNets) are not "
                                      "supported by Atelier")
        hint = self.hint_target()
        hint.hint = cond_hint.movedim(1, -1)
        hint.strength = strength
        hint.start_percent, hint.end_percent = timestep_percent_range
        return hint

    def hint_target(self) -> ControlNetHint:
        """What ``set_cond_hint`` sets: a new hint for a loaded net (never modified), the hint itself for a hint."""
        return self.copy()

    def set_previous_controlnet(self, controlnet: ControlNetHint | None) -> ControlBase:
        raise NotImplementedError("set_previous_controlnet applies to a copy() of a ControlNet, not the loaded one")

    def get_models(self) -> list:
        return []

    def cleanup(self) -> None:
        """Nothing to free: hints keep only their resized image."""

    def inference_memory_requirements(self, dtype: Any) -> int:
        return 0
