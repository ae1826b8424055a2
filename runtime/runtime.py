"""The running system a server holds: one object owning folders, models, outputs, queue, plug-ins and events."""

from __future__ import annotations

import gc
import sys
import threading
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
class FreeRequest:
    """What ``POST /free`` asked for; carried out by the worker between prompts."""

    unload_models: bool = False
    free_memory: bool = False


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
    interrupt: InterruptFlag
    executor: Executor
    worker: Worker
    free_request: FreeRequest = field(default_factory=FreeRequest)
    logs: LogBuffer = field(default_factory=LogBuffer)  # recent log lines (ComfyUI's /internal/logs)
    _free_lock: threading.Lock = field(default_factory=threading.Lock)

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
        """``POST /free``: requests add up until the worker carries them out."""
        with self._free_lock:
            self.free_request.unload_models |= unload_models
            self.free_request.free_memory |= free_memory

    def free_if_requested(self) -> None:
        """Runs on the worker thread between prompts, so nothing is freed under a running node."""
        with self._free_lock:
            request, self.free_request = self.free_request, FreeRequest()
        if request.free_memory:
            self.outputs.clear()
        if request.unload_models or request.free_memory:
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
