"""ComfyUI's ``folder_paths``: a view of the bound runtime's ``core.folders.Folders``.

Plug-ins read and write the model folders here (``folder_names_and_paths["my_kind"] = ([paths], {".ext"})``,
``add_model_folder_path``); every change lands on the runtime's ``Folders``, so Atelier's own nodes, validation and
``/models`` see it too. Names a user or a workflow provides are joined with ``core.folders.safe_join``: they never
leave their folder. Atelier lists folders on every call, so ComfyUI's listing cache is a stand-in that holds nothing.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import time
from collections.abc import Collection, Iterable, Iterator, MutableMapping, MutableSequence
from pathlib import Path
from typing import Any, Literal

from core.folders import MODEL_EXTENSIONS, Folders, PathEscapeError, safe_join

log = logging.getLogger(__name__)

supported_pt_extensions: set[str] = set(MODEL_EXTENSIONS)

# ComfyUI's model kinds that Atelier's own nodes do not use, with the file endings ComfyUI lists: defined on the
# runtime's folders (under models/) when first looked at, so packs that list or extend them find them as in ComfyUI.
COMFY_ONLY_KINDS: dict[str, set[str]] = {
    "configs": {".yaml"},
    "diffusers": {"folder"},
    "hypernetworks": supported_pt_extensions,
    "photomaker": supported_pt_extensions,
    "classifiers": {""},
    "model_patches": supported_pt_extensions,
    "audio_encoders": supported_pt_extensions,
}
LEGACY = {"unet": "diffusion_models", "clip": "text_encoders"}


def _folders() -> Folders:
    """The bound runtime's folders, with ComfyUI's extra kinds and ``custom_nodes`` defined."""
    from compat.host import runtime

    bound = runtime()
    folders = bound.folders
    for kind, extensions in COMFY_ONLY_KINDS.items():
        if kind not in folders.model_kind_names():  # a kind Atelier's nodes come to use keeps its own definition
            folders.define_model_kind(kind, [folders.models_dir / kind], set(extensions))
    if "custom_nodes" not in folders.model_kinds:
        folders.define_model_kind("custom_nodes", list(bound.settings.custom_node_dirs), set())
    return folders


class _PathList(MutableSequence[str]):
    """A kind's folders as ComfyUI's list of path strings; edits (``append``, ``insert``, ``remove``) change the
    runtime's folders."""

    def __init__(self, dirs: list[Path]) -> None:
        self._dirs = dirs

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [str(d) for d in self._dirs[index]]
        return str(self._dirs[index])

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            self._dirs[index] = [Path(v) for v in value]
        else:
            self._dirs[index] = Path(value)

    def __delitem__(self, index: Any) -> None:
        del self._dirs[index]

    def __len__(self) -> int:
        return len(self._dirs)

    def insert(self, index: int, value: str) -> None:
        self._dirs.insert(index, Path(value))

    def __contains__(self, value: object) -> bool:
        return isinstance(value, (str, os.PathLike)) and Path(value) in self._dirs

    def __add__(self, other: Iterable[str]) -> list[str]:
        return list(self) + list(other)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (list, MutableSequence)) and list(self) == list(other)

    def __repr__(self) -> str:
        return repr(list(self))


class FolderNamesAndPaths(MutableMapping[str, tuple[Any, set[str]]]):
    """ComfyUI's ``folder_names_and_paths``: ``kind -> (list of folders, set of extensions)`` over the runtime's
    ``Folders``. The list is live (appending to it adds a folder); assigning a pair defines or redefines a kind."""

    def __getitem__(self, kind: str) -> tuple[Any, set[str]]:
        folders = _folders()
        if LEGACY.get(kind, kind) not in folders.model_kind_names():
            raise KeyError(kind)
        definition = folders.model_kind(kind)
        return _PathList(definition.dirs), definition.extensions

    def __setitem__(self, kind: str, value: tuple[Iterable[str], Collection[str]]) -> None:
        paths, extensions = value
        _folders().define_model_kind(kind, [Path(p) for p in paths], set(extensions))

    def __delitem__(self, kind: str) -> None:
        folders = _folders()
        if kind not in folders.model_kinds:
            raise KeyError(kind)
        del folders.model_kinds[kind]  # a built-in kind returns to its own folders

    def __iter__(self) -> Iterator[str]:
        return iter(_folders().model_kind_names())

    def __len__(self) -> int:
        return len(_folders().model_kind_names())

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and LEGACY.get(kind, kind) in _folders().model_kind_names()


folder_names_and_paths = FolderNamesAndPaths()


class CacheHelper:
    """ComfyUI's listing-cache switch. Atelier lists folders on every call, so it caches nothing."""

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def set(self, key: str, value: Any) -> None:
        pass

    def clear(self) -> None:
        pass

    def __enter__(self) -> CacheHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


cache_helper = CacheHelper()


def __getattr__(name: str) -> Any:
    """The folder globals (``models_dir``, ``base_path``, ``input_directory``...), read from the runtime."""
    if name == "models_dir":
        return str(_folders().models_dir)
    if name == "base_path":
        return base_directory()
    if name in _DIRECTORY_GETTERS:
        return _DIRECTORY_GETTERS[name]()
    if name == "filename_list_cache":
        from compat.host import host

        return host().extras.setdefault("folder_paths.filename_list_cache", {})  # always empty: nothing is cached
    raise AttributeError(f"module 'folder_paths' has no attribute {name!r}")


def base_directory() -> str:
    """ComfyUI's ``base_path`` (the folder holding ``models``, ``custom_nodes``...): the models folder's parent."""
    return str(_folders().models_dir.parent)


def map_legacy(folder_name: str) -> str:
    return LEGACY.get(folder_name, folder_name)


def get_input_directory() -> str:
    return str(_folders().input_dir)


def get_output_directory() -> str:
    return str(_folders().output_dir)


def get_temp_directory() -> str:
    return str(_folders().temp_dir)


def get_user_directory() -> str:
    return str(_folders().user_dir)


_DIRECTORY_GETTERS = {"input_directory": get_input_directory, "output_directory": get_output_directory,
                      "temp_directory": get_temp_directory, "user_directory": get_user_directory}


def set_input_directory(input_dir: str) -> None:
    _folders().input_dir = Path(input_dir)


def set_output_directory(output_dir: str) -> None:
    _folders().output_dir = Path(output_dir)


def set_temp_directory(temp_dir: str) -> None:
    _folders().temp_dir = Path(temp_dir)


def set_user_directory(user_dir: str) -> None:
    _folders().user_dir = Path(user_dir)


def get_directory_by_type(type_name: str) -> str | None:
    """The input, output or temp folder; None for any other name."""
    try:
        return str(_folders().typed_dir(type_name))
    except PathEscapeError:
        return None


def annotated_filepath(name: str) -> tuple[str, str | None]:
    """``"x.png [output]"`` -> ``("x.png", output folder)``; a name without annotation -> ``(name, None)``."""
    for kind in ("output", "input", "temp"):
        suffix = f"[{kind}]"
        if name.endswith(suffix):
            return name[: -len(suffix) - 1], str(_folders().typed_dir(kind))
    return name, None


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    """The file an annotated name refers to (default: ``default_dir`` or the input folder); raises
    ``PathEscapeError`` (a ValueError) for a name that would leave its folder."""
    name, base_dir = annotated_filepath(name)
    base = base_dir or default_dir or get_input_directory()
    return str(safe_join(Path(base), name))


def exists_annotated_filepath(name: str) -> bool:
    try:
        return os.path.exists(get_annotated_filepath(name))
    except PathEscapeError:
        return False


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    """Search ``full_folder_path`` for ``folder_name`` too (first when ``is_default``); an unknown kind is created
    listing every file."""
    _folders().add_model_dir(folder_name, Path(full_folder_path), first=is_default)


def get_folder_paths(folder_name: str) -> list[str]:
    """A copy of the kind's folders (KeyError for an unknown kind, as ComfyUI)."""
    return list(folder_names_and_paths[folder_name][0])


def recursive_search(directory: str, excluded_dir_names: list[str] | None = None) -> tuple[list[str], dict[str, float]]:
    """Every file under ``directory`` (relative paths) and the modification time of each folder walked."""
    if not os.path.isdir(directory):
        return [], {}
    excluded = set(excluded_dir_names or [])
    files: list[str] = []
    dirs: dict[str, float] = {directory: os.path.getmtime(directory)}
    for root, subdirs, names in os.walk(directory, followlinks=True):
        subdirs[:] = [d for d in subdirs if d not in excluded]
        files.extend(os.path.relpath(os.path.join(root, name), directory) for name in names)
        for sub in subdirs:
            path = os.path.join(root, sub)
            if os.path.exists(path):
                dirs[path] = os.path.getmtime(path)
    return files, dirs


def filter_files_extensions(files: Collection[str], extensions: Collection[str]) -> list[str]:
    """The files whose extension is one of ``extensions`` (all of them when it is empty), sorted."""
    wanted = {e.lower() for e in extensions}
    return sorted(f for f in files if not wanted or os.path.splitext(f)[-1].lower() in wanted)


def filter_files_content_types(files: list[str], content_types: list[Literal["image", "video", "audio", "model"]]
                               ) -> list[str]:
    """The files whose MIME type (from the name) is one of ``content_types``; ``webp`` is an image."""
    overrides = {"webp": "image", "fbx": "model"}
    kept = []
    for name in files:
        extension = name.rsplit(".", 1)[-1]
        kind = overrides.get(extension) or (mimetypes.guess_type(name, strict=False)[0] or "").split("/")[0]
        if kind in content_types:
            kept.append(name)
    return kept


def get_full_path(folder_name: str, filename: str) -> str | None:
    """The file ``filename`` names in a model kind's folders, or None (unknown kind, missing, or leaving the
    folder)."""
    try:
        return str(_folders().model_path(folder_name, filename))
    except (KeyError, FileNotFoundError, PathEscapeError):
        return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    full_path = get_full_path(folder_name, filename)
    if full_path is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return full_path


def get_filename_list_(folder_name: str) -> tuple[list[str], dict[str, float], float]:
    """ComfyUI's uncached listing: (names, folder modification times, when listed)."""
    folders = _folders()
    times: dict[str, float] = {}
    for folder in folders.model_dirs(folder_name):
        if folder.is_dir():
            times[str(folder)] = folder.stat().st_mtime
    return folders.list_models(folder_name), times, time.perf_counter()


def cached_filename_list_(folder_name: str) -> None:
    """Nothing is cached: Atelier lists the folders on every call."""
    return None


def get_filename_list(folder_name: str) -> list[str]:
    """The files of a model kind (relative paths with ``/``, sorted), filtered by the kind's extensions."""
    return _folders().list_models(folder_name)


def _expand_variables(prefix: str, width: int, height: int) -> str:
    now = time.localtime()
    values = {"width": width, "height": height, "year": now.tm_year, "month": f"{now.tm_mon:02}",
              "day": f"{now.tm_mday:02}", "hour": f"{now.tm_hour:02}", "minute": f"{now.tm_min:02}",
              "second": f"{now.tm_sec:02}"}
    for key, value in values.items():
        prefix = prefix.replace(f"%{key}%", str(value))
    return prefix


def _counter_of(name: str, stem: str) -> int | None:
    """The number in ``<stem>_<number>_...`` (0 when no number follows), or None for another file."""
    head, rest = name[: len(stem) + 1], name[len(stem) + 1:]
    if os.path.normcase(head[:-1]) != os.path.normcase(stem) or not head.endswith("_"):
        return None
    try:
        return int(rest.split("_")[0])
    except ValueError:
        return 0


def get_save_image_path(filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
                        ) -> tuple[str, str, int, str, str]:
    """``(full_output_folder, filename, counter, subfolder, filename_prefix)`` for saving under ``output_dir``:
    ``%width%``-style variables expanded, the counter one more than the highest ``<filename>_<n>_`` file there
    (the folder is created when missing). A prefix that would leave ``output_dir`` raises ``PathEscapeError``."""
    if "%" in filename_prefix:
        filename_prefix = _expand_variables(filename_prefix, image_width, image_height)
    subfolder = os.path.dirname(os.path.normpath(filename_prefix))
    filename = os.path.basename(os.path.normpath(filename_prefix))
    safe_join(Path(output_dir), subfolder)
    full_output_folder = os.path.join(output_dir, subfolder)
    try:
        counters = [c for name in os.listdir(full_output_folder) if (c := _counter_of(name, filename)) is not None]
    except FileNotFoundError:
        os.makedirs(full_output_folder, exist_ok=True)
        counters = []
    return full_output_folder, filename, max(counters, default=0) + 1, subfolder, filename_prefix


def get_input_subfolders() -> list[str]:
    """Every folder under the input folder (relative, with ``/``), sorted."""
    base = _folders().input_dir
    if not base.is_dir():
        return []
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_dir())
