"""What a server is started with: folders, plug-in folders, memory budget, upload limit, devices, workers."""

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
    # --workers N: prompts run in N worker processes (one per GPU when there are several), 0 = in this process
    workers: int = 0
    # --ray ADDRESS | local: prompts run in Ray actors, one per GPU of the cluster (or --workers of them)
    ray_address: str | None = None
    # --shared-output: every worker writes into these same folders (one machine, or a shared filesystem); without
    # it, Ray workers on other machines send the files they save back to the server
    shared_output: bool = False
    # False in a worker process: its server holds the durable queue, the worker keeps none
    durable_queue: bool = True
