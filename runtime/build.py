"""The composition root: builds every part of the running system from ``Settings`` and wires them together."""

from __future__ import annotations

import compat.host
from core.context import InterruptFlag
from core.registry import Registry
from engine.device import Devices
from execution.events import EventHub
from execution.executor import Executor
from execution.queue import PromptQueue
from execution.store import PromptStore
from execution.worker import Worker
from nodes.builtin import builtin_definitions
from nodes.plugins import load_plugins
from runtime.memory import budgeted_caches
from runtime.runtime import Runtime
from runtime.settings import Settings


def build_runtime(settings: Settings) -> Runtime:
    devices = Devices(cpu_only=settings.cpu_only)
    folders = settings.folders
    folders.create()
    folders.add_examples(settings.examples_dir)
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    outputs, models, memory = budgeted_caches(settings.cache_bytes)
    store = PromptStore(folders.user_dir / "atelier.sqlite3")
    queue = PromptQueue(store)
    events = EventHub()
    interrupt = InterruptFlag()
    executor = Executor(registry, outputs, folders, models, devices, interrupt)
    worker = Worker(queue, executor, events)
    runtime = Runtime(settings, registry, devices, models, outputs, memory, store, queue, events, interrupt, executor,
                      worker)
    worker.on_idle.append(runtime.free_if_requested)
    worker.after_prompt.append(memory.trim)
    runtime.logs.attach()  # from here on, so plug-in loading is in the log ComfyUI's web app shows
    compat.host.bind(runtime)  # ComfyUI's modules (folder_paths, comfy.*, PromptServer) now view this runtime
    load_plugins(registry, settings.custom_node_dirs)
    return runtime
