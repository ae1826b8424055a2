"""The running system a server holds: folders, node registry, durable queue, cache, executor and worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from execution.cache import OutputCache
from execution.context import InterruptFlag
from execution.executor import Executor
from execution.queue import PromptQueue
from execution.store import PromptStore
from execution.worker import Worker
from httpapi.hub import Hub
from nodes.builtin import builtin_definitions
from nodes.folders import Folders, set_folders
from nodes.plugins import load_plugins
from nodes.registry import Registry

log = logging.getLogger(__name__)

MAX_UPLOAD_MB = 100


@dataclass
class Settings:
    folders: Folders
    custom_node_dirs: list[Path] = field(default_factory=list)
    cache_bytes: int = 4 << 30
    max_upload_bytes: int = MAX_UPLOAD_MB << 20
    workflows_dir: Path = Path(__file__).resolve().parent.parent / "workflows"
    examples_dir: Path = Path(__file__).resolve().parent.parent / "examples" / "input"
    web_dist: Path = Path(__file__).resolve().parent.parent / "web" / "dist"


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folders = settings.folders
        self.folders.create()
        self.folders.add_examples(settings.examples_dir)
        set_folders(self.folders)
        self.registry = Registry()
        self.registry.add_all(builtin_definitions(), builtin=True)
        load_plugins(self.registry, settings.custom_node_dirs)
        self.hub = Hub()
        self.interrupt = InterruptFlag()
        self.cache = OutputCache(settings.cache_bytes)
        self.store = PromptStore(self.folders.user_dir / "atelier.sqlite3")
        self.queue = PromptQueue(self.store)
        self.executor = Executor(self.registry, self.cache, lambda event, data: None, self.interrupt)
        self.worker = Worker(self.queue, self.executor, self.hub.send, self.hub.send_preview)
        self.free_requested = {"unload_models": False, "free_memory": False}
        self.worker.on_idle.append(self._free_if_requested)

    def _free_if_requested(self) -> None:
        if self.free_requested["free_memory"]:
            self.cache.clear()
        if self.free_requested["unload_models"] or self.free_requested["free_memory"]:
            from nodes.memory import free_models

            free_models()
        self.free_requested.update(unload_models=False, free_memory=False)

    def user_root(self) -> Path:
        root = self.folders.user_dir / "default"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def close(self) -> None:
        self.worker.stop()
        self.store.close()
