"""Websocket clients and the messages sent to them, from any thread.

The hub listens to the runtime's events (``execution.events.EventHub``): the worker thread calls ``on_event`` /
``on_preview``; messages cross into the event loop through a queue and are delivered in order by a publishing
task that runs between ``start`` and ``stop``. Beside the executor's events the hub sends ComfyUI's
``progress_state`` messages, derived from those events by a ``ProgressTracker``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

PROMPT_ENDS = {"execution_success", "execution_error", "execution_interrupted"}
MAX_TRACKERS = 64  # prompts whose end never came (their worker died, a plug-in's late message): the oldest go first
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
JPEG = 1


@dataclass
class Client:
    socket: web.WebSocketResponse
    feature_flags: dict[str, Any] = field(default_factory=dict)


class ProgressTracker:
    """The node states of the prompt running now, as ComfyUI's ``comfy_execution.progress`` keeps them, rebuilt
    from the executor's events: a node is running from ``executing`` (value 0 of 1) through its ``progress``
    updates, and finished (value = max) once it sends ``executed``, the next node starts or the prompt succeeds;
    cached nodes are finished. Each change gives a ``progress_state`` payload listing every non-pending node, sent
    where ComfyUI sends it: before ``executing`` and ``progress``, after ``executed`` and ``execution_cached``,
    before ``execution_success``. An error or interrupt sends none (ComfyUI leaves the failing node running)."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self.nodes: dict[str, dict[str, Any]] = {}

    def around(self, event: str, data: dict[str, Any]) -> tuple[list[dict], list[dict]]:
        """The ``progress_state`` payloads to send before and after this event."""
        node = data.get("node")
        if event == "executing" and node is not None:
            return self._finish_running() + [self._set(str(node), "running", 0.0, 1.0)], []
        if event == "progress" and node is not None:
            return [self._set(str(node), "running", data.get("value", 0), data.get("max", 1))], []
        if event == "executed" and node is not None:
            return [], [self._finish([str(node)])]
        if event == "execution_cached" and data.get("nodes"):
            return [], [self._finish([str(n) for n in data["nodes"]])]
        if event == "execution_success":
            return self._finish_running(), []
        return [], []

    def _set(self, node_id: str, state: str, value: float, maximum: float) -> dict[str, Any]:
        self.nodes[node_id] = {"value": value, "max": maximum, "state": state}
        return self.payload()

    def _finish(self, node_ids: list[str]) -> dict[str, Any]:
        for node_id in node_ids:
            maximum = self.nodes.get(node_id, {}).get("max", 1.0)
            self.nodes[node_id] = {"value": maximum, "max": maximum, "state": "finished"}
        return self.payload()

    def _finish_running(self) -> list[dict[str, Any]]:
        running = [node_id for node_id, entry in self.nodes.items() if entry["state"] == "running"]
        return [self._finish(running)] if running else []

    def payload(self) -> dict[str, Any]:
        """ComfyUI's ``progress_state`` data. Atelier expands no node at run time, so every id, also a subgraph
        path such as "12:5", is its own display and real id with no parent, as ComfyUI sends for prompt nodes."""
        nodes = {node_id: {**entry, "node_id": node_id, "prompt_id": self.prompt_id, "display_node_id": node_id,
                           "parent_node_id": None, "real_node_id": node_id}
                 for node_id, entry in self.nodes.items()}
        return {"prompt_id": self.prompt_id, "nodes": nodes}


class WebSocketHub:
    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
        # one per running prompt: with several workers, prompts run at once and their events interleave
        self.progress: dict[str, ProgressTracker] = {}
        self._progress_lock = threading.Lock()  # events come from every runner's thread
        self.loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue[tuple[str | bytes, str | None]] | None = None
        self._publisher: asyncio.Task | None = None

    def start(self) -> None:
        """Start delivering; call from the event loop."""
        self.loop = asyncio.get_running_loop()
        self._outbox = asyncio.Queue()
        self._publisher = self.loop.create_task(self._publish_loop())

    def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
        self.loop = None

    def on_event(self, event: str, data: Any, client_id: str | None = None) -> None:
        """Queue a JSON message for one client (``client_id``) or everyone (None), with the ``progress_state``
        messages it implies. Safe from any thread."""
        if isinstance(data, bytes):  # a plug-in's binary frame (PromptServer.send_sync with BinaryEventTypes)
            self._enqueue(struct.pack(">I", int(event)) + data, client_id)
            return
        before, after = self._progress_states(event, data)
        for state in before:
            self._send_json("progress_state", state, client_id)
        self._send_json(event, data, client_id)
        for state in after:
            self._send_json("progress_state", state, client_id)

    def _progress_states(self, event: str, data: Any) -> tuple[list[dict], list[dict]]:
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None  # plug-ins send any JSON value
        if not isinstance(prompt_id, str):
            return [], []
        with self._progress_lock:
            if event == "execution_start" or prompt_id not in self.progress:
                self.progress[prompt_id] = ProgressTracker(prompt_id)
                while len(self.progress) > MAX_TRACKERS:
                    del self.progress[next(iter(self.progress))]
            tracker = self.progress[prompt_id]
            if event in PROMPT_ENDS or (event == "executing" and data.get("node") is None):  # the prompt ended
                del self.progress[prompt_id]
        return tracker.around(event, data)

    def _send_json(self, event: str, data: Any, client_id: str | None) -> None:
        self._enqueue(json.dumps({"type": event, "data": data}, default=repr), client_id)

    def on_preview(self, image: Any, client_id: str | None, prompt_id: str, node_id: str) -> None:
        """A latent preview (a PIL image) as ComfyUI's binary frame (event 1, or 4 with metadata)."""
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
        jpeg = buffer.getvalue()
        client = self.clients.get(client_id) if client_id else None
        if client is not None and client.feature_flags.get("supports_preview_metadata"):
            meta = json.dumps({"node_id": node_id, "prompt_id": prompt_id, "display_node_id": node_id,
                               "parent_node_id": None, "real_node_id": node_id, "image_type": "image/jpeg"}).encode()
            frame = struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + jpeg
        else:
            frame = struct.pack(">II", PREVIEW_IMAGE, JPEG) + jpeg
        self._enqueue(frame, client_id)

    def _enqueue(self, message: str | bytes, client_id: str | None) -> None:
        if self.loop is None or self._outbox is None or self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self._outbox.put_nowait, (message, client_id))

    async def _publish_loop(self) -> None:
        assert self._outbox is not None
        while True:
            message, client_id = await self._outbox.get()
            for client in self._targets(client_id):
                await self._deliver(client, message)

    def _targets(self, client_id: str | None) -> list[Client]:
        """One client, nobody (it left), or everyone for a broadcast."""
        if client_id is None:
            return list(self.clients.values())
        return [self.clients[client_id]] if client_id in self.clients else []

    async def _deliver(self, client: Client, message: str | bytes) -> None:
        try:
            if isinstance(message, bytes):
                await client.socket.send_bytes(message)
            else:
                await client.socket.send_str(message)
        except (ConnectionError, RuntimeError) as error:  # a client that vanished mid-run is simply skipped
            log.debug("websocket send failed: %s", error)
