"""Websocket clients and the messages sent to them, from any thread.

The hub listens to the runtime's events (``execution.events.EventHub``): the worker thread calls ``on_event`` /
``on_preview``; messages cross into the event loop through a queue and are delivered in order by a publishing
task that runs between ``start`` and ``stop``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
JPEG = 1


@dataclass
class Client:
    socket: web.WebSocketResponse
    feature_flags: dict[str, Any] = field(default_factory=dict)


class WebSocketHub:
    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}
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

    def on_event(self, event: str, data: dict[str, Any], client_id: str | None = None) -> None:
        """Queue a JSON message for one client (``client_id``) or everyone (None). Safe from any thread."""
        if isinstance(data, bytes):  # a plug-in's binary frame (PromptServer.send_sync with BinaryEventTypes)
            self._enqueue(struct.pack(">I", int(event)) + data, client_id)
            return
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
