"""ComfyUI's ``BaseModel`` and latent-format names as views of a ``DiffusionModel``.

Plug-ins reach through a MODEL to ``model.model`` (``model_sampling``, ``latent_format``, ``diffusion_model``,
``model_type``, ``get_dtype()``, ``apply_model(...)``) and test its family with ``isinstance(model.model,
comfy.model_base.SDXL)``; ``comfy.model_base`` and ``comfy.latent_formats`` re-export these classes.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import TYPE_CHECKING, Any

import torch

from engine.sd import latent_format as formats

if TYPE_CHECKING:
    from engine.sd.model import DiffusionModel


class ModelType(Enum):
    """ComfyUI's ``comfy.model_base.ModelType`` (same values)."""

    EPS = 1
    V_PREDICTION = 2
    V_PREDICTION_EDM = 3
    STABLE_CASCADE = 4
    EDM = 5
    FLOW = 6
    V_PREDICTION_CONTINUOUS = 7
    FLUX = 8
    IMG_TO_IMG = 9


class LatentFormat:
    """ComfyUI's ``comfy.latent_formats.LatentFormat`` names over an engine ``LatentFormat``."""

    engine_format: formats.LatentFormat = formats.SD15

    def __init__(self, engine_format: formats.LatentFormat | None = None) -> None:
        if engine_format is not None:
            self.engine_format = engine_format
        fmt = self.engine_format
        self.latent_channels = fmt.channels
        self.scale_factor = fmt.scale_factor
        self.shift_factor = fmt.shift
        self.latent_rgb_factors = [list(row) for row in fmt.rgb_factors]
        self.latent_rgb_factors_bias = list(fmt.rgb_bias) if fmt.rgb_bias is not None else None
        self.latent_dimensions = 2
        self.taesd_decoder_name: str | None = None

    def process_in(self, latent: torch.Tensor) -> torch.Tensor:
        return self.engine_format.process_in(latent)

    def process_out(self, latent: torch.Tensor) -> torch.Tensor:
        return self.engine_format.process_out(latent)


class SD15(LatentFormat):
    engine_format = formats.SD15


class SDXL(LatentFormat):
    engine_format = formats.SDXL


def latent_format_view(fmt: formats.LatentFormat) -> LatentFormat:
    for cls in (SDXL, SD15):
        if fmt == cls.engine_format:
            return cls()
    return LatentFormat(fmt)


@dataclasses.dataclass
class ModelConfig:
    """The few fields of ComfyUI's ``supported_models`` config that plug-ins read."""

    unet_config: dict[str, Any]
    latent_format: LatentFormat
    sampling_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    manual_cast_dtype: torch.dtype | None = None


class BaseModel:
    """ComfyUI's ``comfy.model_base.BaseModel`` (``ModelPatcher.model``) as a view of one ``DiffusionModel``."""

    def __init__(self, owner: DiffusionModel) -> None:
        self._owner = owner
        self.manual_cast_dtype: torch.dtype | None = None

    @property
    def model_sampling(self) -> Any:
        return self._owner.model_sampling

    @model_sampling.setter
    def model_sampling(self, value: Any) -> None:
        self._owner.model_sampling = value

    @property
    def latent_format(self) -> LatentFormat:
        return latent_format_view(self._owner.latent_format)

    @property
    def diffusion_model(self) -> torch.nn.Module:
        """The stored UNet (unpatched: Atelier applies weight patches to copies while sampling)."""
        return self._owner.unet

    @property
    def model_type(self) -> ModelType:
        prediction = getattr(self._owner.model_sampling, "prediction", "eps")
        return ModelType.V_PREDICTION if prediction == "v_prediction" else ModelType.EPS

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(dataclasses.asdict(self._owner.unet.config), self.latent_format)

    @property
    def device(self) -> torch.device:
        return self._owner.current_loaded_device()

    def get_dtype(self) -> torch.dtype:
        return self._owner.model_dtype()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._owner.model_state_dict()

    def memory_required(self, input_shape: Any) -> int:
        return self._owner.memory_required(input_shape)

    def process_latent_in(self, latent: torch.Tensor) -> torch.Tensor:
        return self._owner.latent_format.process_in(latent)

    def process_latent_out(self, latent: torch.Tensor) -> torch.Tensor:
        return self._owner.latent_format.process_out(latent)

    def apply_model(self, x: torch.Tensor, t: torch.Tensor, c_concat: torch.Tensor | None = None,
                    c_crossattn: torch.Tensor | None = None, control: Any = None,
                    transformer_options: dict | None = None, **kwargs: Any) -> torch.Tensor:
        """Denoised prediction of ``x`` at sigma ``t`` (ComfyUI passes sigmas as ``t`` here)."""
        return self._owner.apply_model(x, t, c_concat=c_concat, c_crossattn=c_crossattn, control=control,
                                       transformer_options=transformer_options, **kwargs)


class SDXLModel(BaseModel):
    """ComfyUI's ``comfy.model_base.SDXL`` (the name ``SDXL`` is the latent format's here)."""


class SDXLRefinerModel(BaseModel):
    """ComfyUI's ``comfy.model_base.SDXLRefiner``."""


def base_model_view(owner: DiffusionModel) -> BaseModel:
    cls = {"sdxl": SDXLModel, "sdxl_refiner": SDXLRefinerModel}.get(owner.family.name, BaseModel)
    return cls(owner)
