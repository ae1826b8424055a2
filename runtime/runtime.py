"""The running system a server holds: one object owning folders, models, outputs, queue, plug-ins and events."""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.context import InterruptFlag
from core.folders import Folders
from core.registry import Registry
from engine.device import Devices
from engine.model_cache import ModelCache
from execution.cache import OutputCache
from execution.events import EventHub
from execution.executor import Executor
from execution.queue import PromptQueue
from execution.store import PromptStore
from execution.worker import Worker
from runtime.logs import LogBuffer
from runtime.memory import MemoryBudget
from runtime.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    registry: Registry
    devices: Devices  # where and in which dtype models compute (``--cpu``); every model loader is given it
    models: ModelCache
    outputs: OutputCache
    memory: MemoryBudget
    store: PromptStore
    queue: PromptQueue
    events: EventHub
    interrupt: InterruptFlag  # this process's executor's flag (the worker interrupts whichever runner runs a prompt)
    executor: Executor  # this process's executor; the worker's runners may be other processes or Ray actors
    worker: Worker
    logs: LogBuffer = field(default_factory=LogBuffer)  # recent log lines (ComfyUI's /internal/logs)

    @property
    def folders(self) -> Folders:
        return self.settings.folders

    def start(self) -> None:
        self.worker.start()

    def close(self) -> None:
        """Interrupt and stop the worker; the store is closed once nothing can write to it."""
        if self.worker.stop():
            self.store.close()
        self.logs.detach()

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """``POST /free``: every runner carries it out between prompts (requests add up until then)."""
        self.worker.request_free(unload_models, free_memory)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        """Free this process's caches; the local runner calls it between prompts, so nothing is freed under a
        running node."""
        if free_memory:
            self.outputs.clear()
        if unload_models or free_memory:
            self.models.clear()
            gc.collect()
            _empty_accelerator_cache()

    def user_root(self) -> Path:
        root = self.folders.user_dir / "default"
        root.mkdir(parents=True, exist_ok=True)
        return root


def _empty_accelerator_cache() -> None:
    torch = sys.modules.get("torch")  # nothing to empty if no model ever loaded torch
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
