"""The user's folders: model folders (ComfyUI's names), input, output, temp and user data.

Every path a request names is resolved with ``safe_join``, so nothing escapes its folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MODEL_EXTENSIONS = (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")

# ComfyUI's model folder names, plus gan and fid for Atelier's own nodes.
MODEL_FOLDERS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("checkpoints",),
    "loras": ("loras",),
    "vae": ("vae",),
    "controlnet": ("controlnet", "t2i_adapter"),
    "embeddings": ("embeddings",),
    "upscale_models": ("upscale_models",),
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("diffusion_models", "unet"),
    "clip_vision": ("clip_vision",),
    "vae_approx": ("vae_approx",),
    "style_models": ("style_models",),
    "gligen": ("gligen",),
    "hypernetworks": ("hypernetworks",),
    "gan": ("gan",),
    "vqgan": ("vqgan", "gan"),  # taming-transformers autoencoders; also found beside the other GANs
    "fid": ("fid",),
    "datasets": ("datasets",),  # prompt lists and caption files (engine.datasets.prompts)
}
# The file endings a built-in kind lists when they are not MODEL_EXTENSIONS (a CUB caption folder is listed by the
# Load Prompt Dataset node itself).
KIND_EXTENSIONS: dict[str, tuple[str, ...]] = {"datasets": (".json", ".jsonl", ".csv", ".tsv", ".txt")}
LEGACY_NAMES = {"unet": "diffusion_models", "clip": "text_encoders", "t2i_adapter": "controlnet"}


@dataclass
class ModelKind:
    """A model folder kind defined while running (a plug-in's own kind, or a built-in kind a plug-in edited through
    ComfyUI's ``folder_names_and_paths``): the folders searched in order, and the file endings listed (empty: every
    file)."""

    dirs: list[Path]
    extensions: set[str]


class PathEscapeError(ValueError):
    """A requested path would leave the folder it must stay in."""


def safe_join(base: Path, *parts: str) -> Path:
    """``base/parts...`` resolved, refusing absolute parts and anything that leaves ``base``."""
    base = base.resolve()
    for part in parts:
        if part and (os.path.isabs(part) or part.startswith(("/", "\\")) or ":" in Path(part).drive):
            raise PathEscapeError(f"absolute path not allowed: {part!r}")
    target = base.joinpath(*[part for part in parts if part]).resolve()
    if target != base and base not in target.parents:
        raise PathEscapeError(f"path escapes its folder: {'/'.join(parts)!r}")
    return target


@dataclass
class Folders:
    models_dir: Path
    input_dir: Path
    output_dir: Path
    temp_dir: Path
    user_dir: Path
    extra_model_dirs: dict[str, list[Path]] = field(default_factory=dict)
    # Kinds defined while running; a kind here replaces the MODEL_FOLDERS entry of the same name.
    model_kinds: dict[str, ModelKind] = field(default_factory=dict)

    @classmethod
    def under(cls, base: Path, models_dir: Path | None = None) -> Folders:
        return cls(models_dir or base / "models", base / "input", base / "output", base / "temp", base / "user")

    def create(self) -> None:
        for folder in (self.input_dir, self.output_dir, self.temp_dir, self.user_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for names in MODEL_FOLDERS.values():
            (self.models_dir / names[0]).mkdir(parents=True, exist_ok=True)

    def add_examples(self, examples: Path) -> None:
        """Copy the shipped example inputs (example.png, held-out digits) that the input folder lacks."""
        if not examples.is_dir():
            return
        for source in examples.rglob("*"):
            target = self.input_dir / source.relative_to(examples)
            if source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    def model_dirs(self, kind: str) -> list[Path]:
        kind = LEGACY_NAMES.get(kind, kind)
        if kind in self.model_kinds:
            return list(self.model_kinds[kind].dirs)
        if kind not in MODEL_FOLDERS:
            raise KeyError(kind)
        own = [self.models_dir / name for name in MODEL_FOLDERS[kind]]
        return own + self.extra_model_dirs.get(kind, [])

    def model_kind_names(self) -> list[str]:
        """Every model kind: the built-in ones, then those defined while running."""
        return list(MODEL_FOLDERS) + [kind for kind in self.model_kinds if kind not in MODEL_FOLDERS]

    def model_extensions(self, kind: str) -> tuple[str, ...]:
        """The file endings a kind lists (empty: every file)."""
        kind = LEGACY_NAMES.get(kind, kind)
        if kind in self.model_kinds:
            return tuple(sorted(self.model_kinds[kind].extensions))
        if kind not in MODEL_FOLDERS:
            raise KeyError(kind)
        return KIND_EXTENSIONS.get(kind, MODEL_EXTENSIONS)

    def define_model_kind(self, kind: str, dirs: list[Path], extensions: set[str]) -> ModelKind:
        """Define (or redefine) a model kind: its folders in search order and the file endings it lists."""
        definition = ModelKind([Path(d) for d in dirs], {e.lower() for e in extensions})
        self.model_kinds[LEGACY_NAMES.get(kind, kind)] = definition
        return definition

    def model_kind(self, kind: str) -> ModelKind:
        """A kind's live definition, to edit; a built-in kind is first defined from its current folders."""
        kind = LEGACY_NAMES.get(kind, kind)
        if kind not in self.model_kinds:
            self.define_model_kind(kind, self.model_dirs(kind), set(self.model_extensions(kind)))
        return self.model_kinds[kind]

    def add_model_dir(self, kind: str, folder: Path, first: bool = False) -> None:
        """Search ``folder`` for ``kind`` too, last or (``first``) before the others; an unknown kind is defined
        with this folder and no extension filter, as ComfyUI's ``add_model_folder_path`` does."""
        kind = LEGACY_NAMES.get(kind, kind)
        folder = Path(folder)
        if kind not in self.model_kinds and kind not in MODEL_FOLDERS:
            self.define_model_kind(kind, [folder], set())
            return
        dirs = self.model_kind(kind).dirs
        if folder in dirs:
            if first:
                dirs.remove(folder)
                dirs.insert(0, folder)
        elif first:
            dirs.insert(0, folder)
        else:
            dirs.append(folder)

    def list_models(self, kind: str, extensions: tuple[str, ...] | None = None) -> list[str]:
        """Relative paths (with ``/``) of the files in a model folder, recursively, sorted; by default those with
        the kind's file endings."""
        if extensions is None:
            extensions = self.model_extensions(kind)
        names: set[str] = set()
        for folder in self.model_dirs(kind):
            names.update(_list_files(folder, extensions))
        return sorted(names)

    def model_path(self, kind: str, name: str) -> Path:
        """The file a model name refers to; raises FileNotFoundError naming the folders searched."""
        for folder in self.model_dirs(kind):
            candidate = safe_join(folder, name)
            if candidate.is_file():
                return candidate
        searched = ", ".join(str(folder) for folder in self.model_dirs(kind))
        raise FileNotFoundError(f"model file {name!r} not found in the {kind} folder ({searched})")

    def typed_dir(self, kind: str) -> Path:
        """The base folder for ``type`` in /view and /upload: input, output or temp."""
        folders = {"input": self.input_dir, "output": self.output_dir, "temp": self.temp_dir}
        if kind not in folders:
            raise PathEscapeError(f"unknown folder type {kind!r}")
        return folders[kind]

    def annotated_path(self, name: str, default_kind: str = "input") -> Path:
        """A file named as ComfyUI names images: ``sub/x.png``, or with its folder ``x.png [output]``; it may not
        leave that folder."""
        for kind in ("input", "output", "temp"):
            if name.endswith(f" [{kind}]"):
                return safe_join(self.typed_dir(kind), name.removesuffix(f" [{kind}]"))
        return safe_join(self.typed_dir(default_kind), name)

    def list_input_images(self) -> list[str]:
        return sorted(_list_files(self.input_dir, IMAGE_EXTENSIONS))

    def load_extra_model_paths(self, config_file: Path) -> None:
        """Apply an ``extra_model_paths.yaml`` (ComfyUI's format: sections with base_path and folder keys)."""
        data = yaml.safe_load(config_file.read_text()) or {}
        for section in data.values():
            if not isinstance(section, dict):
                continue
            base = Path(os.path.expandvars(os.path.expanduser(str(section.get("base_path", "")))))
            if not base.is_absolute():
                base = config_file.parent / base
            for key, value in section.items():
                if key in ("base_path", "is_default") or value is None:
                    continue
                kind = LEGACY_NAMES.get(key, key)
                dirs = [base / line.strip() for line in str(value).splitlines() if line.strip()]
                if kind in self.model_kinds or kind not in MODEL_FOLDERS:  # a kind of a plug-in's, as ComfyUI
                    for folder in reversed(dirs) if section.get("is_default") else dirs:
                        self.add_model_dir(kind, folder, first=bool(section.get("is_default")))
                    continue
                bucket = self.extra_model_dirs.setdefault(kind, [])
                if section.get("is_default"):
                    bucket[:0] = dirs
                else:
                    bucket.extend(dirs)


def _list_files(folder: Path, extensions: tuple[str, ...]) -> list[str]:
    """Files under ``folder`` whose last suffix is one of ``extensions`` (every file when there are none), as
    ComfyUI filters them: ``""`` keeps files without a suffix, and ``"folder"`` (ComfyUI's diffusers) keeps none."""
    if not folder.is_dir():
        return []
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        # one relative prefix per folder, not a Path per file: /object_info lists every choice on each request
        subfolder = Path(root).relative_to(folder).as_posix()
        prefix = "" if subfolder == "." else subfolder + "/"
        for name in files:
            if (not extensions or os.path.splitext(name)[1].lower() in extensions) and not name.startswith("."):
                found.append(prefix + name)
    return found


def model_choices(kind: str) -> Callable[[Folders], list[str]]:
    """A COMBO's choices: the files of a model folder, listed when asked (``/object_info``, validation)."""
    return lambda folders: folders.list_models(kind)
