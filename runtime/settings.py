"""What a server is started with: folders, plug-in folders, memory budget, upload limit, devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.folders import Folders

ROOT = Path(__file__).resolve().parent.parent
MAX_UPLOAD_MB = 100


@dataclass
class Settings:
    folders: Folders
    custom_node_dirs: list[Path] = field(default_factory=list)
    cache_bytes: int = 4 << 30  # --cache-ram: loaded models and node outputs together
    max_upload_bytes: int = MAX_UPLOAD_MB << 20
    cpu_only: bool = False  # --cpu: every model on the CPU even where an accelerator is present
    workflows_dir: Path = ROOT / "workflows"
    examples_dir: Path = ROOT / "examples" / "input"
    web_dist: Path = ROOT / "web" / "dist"
    # --front-end comfyui / --front-end-root: a whole web app served at / instead of Atelier's editor (web_dist)
    front_end_root: Path | None = None
