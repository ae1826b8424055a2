"""ComfyUI's ``comfy.model_sampling``: ``ModelSamplingDiscrete`` and the prediction types ``EPS`` and
``V_PREDICTION``, as views of ``engine.sampling.model_sampling``.

Packs build a schedule the way ComfyUI's ModelSamplingDiscrete node does, ``class X(ModelSamplingDiscrete, EPS)``,
then ``model.add_object_patch("model_sampling", X(model.model.model_config))``: the prediction type comes from the
class, the betas from the config's ``sampling_settings``. ``isinstance(ms, EPS)`` and ``isinstance(ms,
V_PREDICTION)`` hold for Atelier's own schedules by what they predict. Other model families' schedules (EDM,
flow, ...) are absent: Atelier does not run those models.
"""

from __future__ import annotations

from typing import Any

from engine.sampling import model_sampling as engine


class _PredictionType(type):
    """``isinstance`` by what a schedule predicts, so Atelier's own schedules answer ComfyUI's checks."""

    prediction: str

    def __instancecheck__(cls, instance: Any) -> bool:
        return type.__instancecheck__(cls, instance) or getattr(instance, "prediction", None) == cls.prediction


class EPS(metaclass=_PredictionType):
    """The model predicts the noise (SD1.x, SDXL)."""

    prediction = "eps"


class V_PREDICTION(EPS):  # noqa: N801 - ComfyUI's name
    """The model predicts v (SD2.x 768, zero-terminal-SNR models)."""

    prediction = "v_prediction"


class ModelSamplingDiscrete(engine.ModelSamplingDiscrete):
    """The discrete schedule of SD-style models; its prediction type is the ``EPS``/``V_PREDICTION`` class mixed
    in (eps when none is)."""

    def __init__(self, model_config: Any = None, zsnr: bool | None = None) -> None:
        settings = dict(getattr(model_config, "sampling_settings", None) or {})
        prediction = "v_prediction" if type.__instancecheck__(V_PREDICTION, self) else "eps"
        super().__init__(prediction, linear_start=settings.get("linear_start", 0.00085),
                         linear_end=settings.get("linear_end", 0.012), timesteps=settings.get("timesteps", 1000),
                         zsnr=bool(settings.get("zsnr", False) if zsnr is None else zsnr))
