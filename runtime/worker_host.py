"""A worker's own runtime, serving the prompts its server hands it: inside a worker process (``--workers``) or a
Ray actor (``--ray``).

The host builds a full runtime from the server's settings (node types and plug-ins, devices, a model cache that
stays warm between prompts) but no durable queue: the server's SQLite queue stays the one source of truth. It runs
one prompt at a time and turns everything the prompt reports into messages for the server:

- ``("event", name, data, client_id)``: progress, executing, executed, ... already addressed as the server sends them;
- ``("preview", pil_image, client_id, prompt_id, node_id)``;
- ``("files", [SavedFile, ...])``: files an ``executed`` event names, sent just before it when the worker does not
  share the server's folders;
- ``("outcome", ExecutionOutcome)``: last.
"""

from __future__ import annotations

import os
import queue as queue_module
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from execution.executor import ExecutionOutcome
from execution.queue import QueueItem
from runtime.output_transfer import SavedFile, collect_files, file_path
from runtime.settings import Settings

Message = tuple[Any, ...]
DONE = object()


class Forwarder:
    """Listens to the host runtime's events and queues them as messages for the server."""

    def __init__(self, host: WorkerHost) -> None:
        self.host = host

    def on_event(self, event: str, data: dict[str, Any], client_id: str | None) -> None:
        if event == "executed" and isinstance(data.get("output"), dict):
            self.host.send_files(data["output"])
        self.host.messages.put(("event", event, data, client_id))

    def on_preview(self, image: Any, client_id: str | None, prompt_id: str, node_id: str) -> None:
        self.host.messages.put(("preview", image, client_id, prompt_id, node_id))


class WorkerHost:
    def __init__(self, settings: Settings, name: str, transfer_outputs: bool = False, threads: int = 0) -> None:
        from runtime.build import build_runtime

        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        self.name = name
        self.transfer_outputs = transfer_outputs
        self.messages: queue_module.Queue[Any] = queue_module.Queue()
        self.runtime = build_runtime(worker_settings(settings, transfer_outputs))
        self.runtime.events.subscribe(Forwarder(self))
        self.runner = self.runtime.worker.runners[0]
        self._busy = threading.Lock()
        self._sent: set[tuple[str, str, str]] = set()  # every file sent to the server (never sent twice)
        self._unreleased: list[SavedFile] = []  # files sent during the running prompt, emptied when it ends

    def info(self, kind: str, **extra: Any) -> dict[str, Any]:
        return {"name": self.name, "kind": kind, "host": socket.gethostname(), "pid": os.getpid(),
                "device": str(self.runtime.devices.compute_device()), **extra}

    def run(self, item: QueueItem) -> Iterator[Message]:
        """Run ``item``, yielding its messages as they happen; the last is ``("outcome", ...)``."""
        with self._busy:
            outcome: list[ExecutionOutcome] = []
            thread = threading.Thread(target=self._execute, args=(item, outcome), name=f"{self.name}-prompt")
            thread.start()
            while (message := self.messages.get()) is not DONE:
                yield message
            thread.join()
            for ui in outcome[0].ui_outputs.values():  # a prompt without a client sends no executed events
                self.send_files(ui)
            while not self.messages.empty():
                yield self.messages.get()
            self._release_sent()
            yield ("outcome", outcome[0])

    def send_files(self, ui: dict[str, Any]) -> None:
        """Queue the files ``ui`` names for the server, once each, when this worker does not share its folders."""
        if not self.transfer_outputs:
            return
        files = [saved for saved in collect_files(ui, self.runtime.folders)
                 if (saved.kind, saved.subfolder, saved.filename) not in self._sent]
        if files:
            self._sent.update((saved.kind, saved.subfolder, saved.filename) for saved in files)
            self._unreleased.extend(files)
            self.messages.put(("files", files))

    def _execute(self, item: QueueItem, outcome: list[ExecutionOutcome]) -> None:
        try:
            self._check_node_types(item)
            outcome.append(self.runner.run(item, self.runtime.events))
        except BaseException as error:  # reported to the server as the prompt's error (a node's sys.exit too)
            outcome.append(ExecutionOutcome("error", messages=[["execution_error", {
                "prompt_id": item.prompt_id, "exception_message": str(error),
                "exception_type": type(error).__name__}]]))
        finally:
            self.messages.put(DONE)

    def _release_sent(self) -> None:
        """Empty the scratch files the server now has. They stay as empty files, so the names stay taken: a
        worker's file names are then never reused, and the server's map from them to stored names stays true for
        cached output nodes, which name files an earlier prompt sent."""
        for saved in self._unreleased:
            path = file_path(self.runtime.folders, saved)
            if path.is_file():
                path.write_bytes(b"")
        self._unreleased.clear()

    def _check_node_types(self, item: QueueItem) -> None:
        """The server validated the prompt against its own node types; a plug-in that failed to load only here
        would otherwise end in a bare AssertionError."""
        registry = self.runtime.registry
        missing = sorted({str(node.get("class_type")) for node in item.prompt.values()} - set(registry.definitions))
        if missing:
            failed = "; ".join(f"{failure.module}: {failure.error}" for failure in registry.failures) or "none"
            raise RuntimeError(f"{self.name} has no node type {', '.join(missing)} (plug-ins that failed to load "
                               f"in this worker: {failed})")

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop prompt ``prompt_id`` (running or about to start), or with None whatever runs now."""
        if prompt_id is None:
            self.runtime.interrupt.set()
        else:
            self.runner.interrupt(prompt_id)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        with self._busy:  # between prompts only
            self.runner.free(unload_models, free_memory)


def worker_settings(settings: Settings, transfer_outputs: bool) -> Settings:
    """The server's settings as a worker runs them: no queue of its own, no workers of its own, and private output
    and temp folders when its files travel to the server."""
    folders = settings.folders
    if transfer_outputs:
        scratch = Path(tempfile.mkdtemp(prefix="atelier-worker-"))
        folders = replace(folders, output_dir=scratch / "output", temp_dir=scratch / "temp")
    return replace(settings, folders=folders, durable_queue=False, workers=0, ray_address=None)
