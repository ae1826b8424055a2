"""ComfyUI's ``comfy_extras.nodes_lt``: LTX-Video's nodes and helpers. A stand-in: Atelier does not run LTX-Video
models. ``LTXVAddGuide`` is a V3 node class packs subclass (their own schema registers); its helpers
(``encode``, ``get_latent_index``, ``append_keyframe``) and ``execute`` raise ``NotImplementedError``, as do the
module's functions.
"""

from __future__ import annotations

from typing import Any, NoReturn

from comfy_api.latest import io

from compat.stand_ins import refusal, unsupported_function

_LACKS = "Atelier does not run LTX-Video models"

get_noise_mask = unsupported_function(__name__, "get_noise_mask", _LACKS)
_append_guide_attention_entry = unsupported_function(__name__, "_append_guide_attention_entry", _LACKS)


class LTXVAddGuide(io.ComfyNode):
    """ComfyUI's LTXVAddGuide node: a stand-in whose schema and methods raise ``NotImplementedError``."""

    @classmethod
    def define_schema(cls) -> NoReturn:
        raise refusal(f"{__name__}.LTXVAddGuide", _LACKS)

    @classmethod
    def execute(cls, **kwargs: Any) -> NoReturn:
        raise refusal(f"{__name__}.LTXVAddGuide.execute", _LACKS)

    @classmethod
    def encode(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise refusal(f"{__name__}.LTXVAddGuide.encode", _LACKS)

    @classmethod
    def get_latent_index(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise refusal(f"{__name__}.LTXVAddGuide.get_latent_index", _LACKS)

    @classmethod
    def append_keyframe(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise refusal(f"{__name__}.LTXVAddGuide.append_keyframe", _LACKS)
