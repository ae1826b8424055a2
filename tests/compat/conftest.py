"""A runtime bound to ComfyUI's modules, for tests of the compatibility layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.folders import Folders
from runtime import Runtime, Settings, build_runtime

COMFY_PACKS = Path(__file__).resolve().parent.parent / "plugins" / "comfy_packs"


def bound_runtime(base: Path, *custom_node_dirs: Path, models_dir: Path | None = None) -> Runtime:
    """A runtime over folders under ``base``, its plug-ins loaded from ``custom_node_dirs``; ComfyUI's modules
    (``folder_paths``, ``comfy.*``, ``PromptServer``) are views of it until another runtime is built."""
    folders = Folders.under(base, models_dir)
    return build_runtime(Settings(folders=folders, custom_node_dirs=list(custom_node_dirs)))


@pytest.fixture
def comfy_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime without plug-ins that ComfyUI's modules view (its store is closed afterwards)."""
    runtime = bound_runtime(tmp_path)
    yield runtime
    runtime.close()
