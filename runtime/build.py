"""The composition root: builds every part of the running system from ``Settings`` and wires them together."""

from __future__ import annotations

import compat.host
from core.context import InterruptFlag
from core.registry import Registry
from engine.device import Devices
from execution.events import EventHub
from execution.executor import Executor
from execution.queue import PromptQueue
from execution.runner import LocalRunner, PromptRunner
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
    store = PromptStore(folders.user_dir / "atelier.sqlite3" if settings.durable_queue else None)
    queue = PromptQueue(store)
    events = EventHub()
    interrupt = InterruptFlag()
    executor = Executor(registry, outputs, folders, models, devices, interrupt)
    worker = Worker(queue, [], events)
    runtime = Runtime(settings, registry, devices, models, outputs, memory, store, queue, events, interrupt, executor,
                      worker)
    runtime.logs.attach()  # from here on, so plug-in loading is in the log ComfyUI's web app shows
    compat.host.bind(runtime)  # ComfyUI's modules (folder_paths, comfy.*, PromptServer) now view this runtime
    load_plugins(registry, settings.custom_node_dirs)
    worker.add_runners(runners(runtime))
    return runtime


def runners(runtime: Runtime) -> list[PromptRunner]:
    """Where prompts run: this process (the default), ``--workers N`` processes, or ``--ray`` actors."""
    settings = runtime.settings
    if settings.ray_address is not None:
        from runtime.ray_workers import ray_runners

        return ray_runners(settings)
    if settings.workers > 0:
        from runtime.process_workers import process_runners

        return process_runners(settings)
    return [LocalRunner(runtime.executor, free=runtime.free, after_prompt=runtime.memory.trim)]
