"""ComfyUI's V3 UI outputs (``comfy_api.latest.ui``): what a node shows on itself, returned as
``io.NodeOutput(..., ui=ui.PreviewImage(image, cls=cls))``.

Images are written by Atelier's own ``nodes.builtin.image.save_images`` (the function behind Save Image and Preview
Image: ComfyUI's file names, pixel levels and PNG chunks) into the folders of the running node, or of the bound
runtime outside a node. Partial stand-ins: audio (``PreviewAudio``, ``AudioSaveHelper``) and animated files
(``ImageSaveHelper.save_animated_png``/``save_animated_webp``) raise ``NotImplementedError``: Atelier has no audio
and writes no animations.
"""

from __future__ import annotations

import random
import string
from typing import Any

from comfy_api.latest._io import FolderType, _UIOutput


class SavedResult(dict):
    """One written file as the editor addresses it: ``{"filename", "subfolder", "type"}``."""

    def __init__(self, filename: str, subfolder: str, type: FolderType) -> None:
        super().__init__(filename=filename, subfolder=subfolder, type=FolderType(type).value)

    @property
    def filename(self) -> str:
        return self["filename"]

    @property
    def subfolder(self) -> str:
        return self["subfolder"]

    @property
    def type(self) -> FolderType:
        return FolderType(self["type"])


class SavedImages(_UIOutput):
    """Images written to disk, shown on the node."""

    def __init__(self, results: list[SavedResult], is_animated: bool = False) -> None:
        self.results, self.is_animated = results, is_animated

    def as_dict(self) -> dict:
        data: dict[str, Any] = {"images": self.results}
        if self.is_animated:
            data["animated"] = (True,)
        return data


def _folders() -> Any:
    """The folders of the running node, or of the bound runtime."""
    from compat.host import runtime
    from core.context import current_context

    context = current_context()
    return context.folders if context is not None else runtime().folders


def _hidden_of(cls: Any) -> tuple[Any, Any]:
    """The prompt and extra PNG info a node class runs with (None outside a run, as for ``cls=None``)."""
    hidden = getattr(cls, "hidden", None) if cls is not None else None
    if hidden is None:
        return None, None
    return hidden.prompt, hidden.extra_pnginfo


class ImageSaveHelper:
    """Writing images as ComfyUI does, through Atelier's ``save_images``."""

    @staticmethod
    def save_images(images: Any, filename_prefix: str, folder_type: FolderType, cls: Any,
                    compress_level: int = 4) -> list[SavedResult]:
        """A batch ``[B, H, W, C]`` as ``<prefix>_<counter>_.png`` files with the prompt and workflow chunks."""
        from nodes.builtin.image import save_images

        kind = FolderType(folder_type)
        prompt, extra_pnginfo = _hidden_of(cls)
        saved = save_images(images, _folders().typed_dir(kind.value), filename_prefix, kind.value, prompt,
                            extra_pnginfo, compress_level)
        return [SavedResult(entry["filename"], entry["subfolder"], kind) for entry in saved]

    @staticmethod
    def get_save_images_ui(images: Any, filename_prefix: str, cls: Any, compress_level: int = 4) -> SavedImages:
        return SavedImages(ImageSaveHelper.save_images(images, filename_prefix, FolderType.output, cls,
                                                       compress_level))

    @staticmethod
    def save_animated_png(*args: Any, **kwargs: Any) -> SavedResult:
        raise NotImplementedError("ImageSaveHelper.save_animated_png: Atelier writes no animated images")

    @staticmethod
    def get_save_animated_png_ui(*args: Any, **kwargs: Any) -> SavedImages:
        raise NotImplementedError("ImageSaveHelper.get_save_animated_png_ui: Atelier writes no animated images")

    @staticmethod
    def save_animated_webp(*args: Any, **kwargs: Any) -> SavedResult:
        raise NotImplementedError("ImageSaveHelper.save_animated_webp: Atelier writes no animated images")

    @staticmethod
    def get_save_animated_webp_ui(*args: Any, **kwargs: Any) -> SavedImages:
        raise NotImplementedError("ImageSaveHelper.get_save_animated_webp_ui: Atelier writes no animated images")


class AudioSaveHelper:
    @staticmethod
    def save_audio(*args: Any, **kwargs: Any) -> list[SavedResult]:
        raise NotImplementedError("AudioSaveHelper.save_audio: Atelier has no AUDIO values")

    @staticmethod
    def get_save_audio_ui(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("AudioSaveHelper.get_save_audio_ui: Atelier has no AUDIO values")


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))


class PreviewImage(_UIOutput):
    """An IMAGE batch shown on the node, written to the temp folder (what Preview Image does)."""

    def __init__(self, image: Any, animated: bool = False, cls: Any = None, **kwargs: Any) -> None:
        self.values = ImageSaveHelper.save_images(image, _temp_prefix(), FolderType.temp, cls, compress_level=1)
        self.animated = animated

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (self.animated,)}


class PreviewMask(PreviewImage):
    """A MASK batch ``[B, H, W]`` shown as grey images."""

    def __init__(self, mask: Any, animated: bool = False, cls: Any = None, **kwargs: Any) -> None:
        rgb = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)
        super().__init__(rgb, animated, cls, **kwargs)


class PreviewAudio(_UIOutput):
    def __init__(self, audio: Any, cls: Any = None, **kwargs: Any) -> None:
        raise NotImplementedError("ui.PreviewAudio: Atelier has no AUDIO values")

    def as_dict(self) -> dict:
        return {}


class PreviewVideo(_UIOutput):
    """Already written video files, shown on the node."""

    def __init__(self, values: list[SavedResult | dict], **kwargs: Any) -> None:
        self.values = values

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (True,)}


class PreviewUI3D(_UIOutput):
    def __init__(self, model_file: Any, camera_info: Any, **kwargs: Any) -> None:
        self.model_file, self.camera_info = model_file, camera_info

    def as_dict(self) -> dict:
        return {"result": [self.model_file, self.camera_info]}


class PreviewText(_UIOutput):
    """Text shown on the node."""

    def __init__(self, value: str, **kwargs: Any) -> None:
        self.value = value

    def as_dict(self) -> dict:
        return {"text": (self.value,)}


__all__ = ["SavedResult", "SavedImages", "ImageSaveHelper", "AudioSaveHelper", "PreviewImage", "PreviewMask",
           "PreviewAudio", "PreviewVideo", "PreviewUI3D", "PreviewText"]
