"""The running system's events: what the executor reports, addressed to clients, delivered to listeners.

The websocket layer listens (``httpapi.hub``); so can anything else that wants progress (plug-ins, tests).
Listeners are called from the worker thread: they must hand work to their own thread or loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

BROADCAST_WITHOUT_CLIENT = {"progress", "execution_interrupted"}  # ComfyUI broadcasts these when no client_id


class EventListener(Protocol):
    def on_event(self, event: str, data: dict[str, Any], client_id: str | None) -> None: ...

    def on_preview(self, image: Any, client_id: str | None, prompt_id: str, node_id: str) -> None: ...


@dataclass
class EventHub:
    listeners: list[EventListener] = field(default_factory=list)

    def subscribe(self, listener: EventListener) -> None:
        self.listeners.append(listener)

    def send(self, event: str, data: dict[str, Any], client_id: str | None = None) -> None:
        """An event for one client, or for every client when ``client_id`` is None. A listener that fails is
        logged and skipped: it must not fail the prompt that reported the event."""
        for listener in self.listeners:
            try:
                listener.on_event(event, data, client_id)
            except Exception:
                log.exception("event listener %r failed on %s", listener, event)

    def send_preview(self, image: Any, client_id: str | None, prompt_id: str, node_id: str) -> None:
        for listener in self.listeners:
            try:
                listener.on_preview(image, client_id, prompt_id, node_id)
            except Exception:
                log.exception("event listener %r failed on a preview", listener)


@dataclass
class PromptEvents:
    """The events of one prompt, addressed as ComfyUI addresses them: to the client that queued it; without one,
    only progress and interrupts go to everyone."""

    hub: EventHub
    client_id: str | None = None

    def emit(self, event: str, data: dict[str, Any]) -> None:
        if self.client_id is not None:
            self.hub.send(event, data, self.client_id)
        elif event in BROADCAST_WITHOUT_CLIENT:
            self.hub.send(event, data, None)

    def preview(self, image: Any, prompt_id: str, node_id: str) -> None:
        self.hub.send_preview(image, self.client_id, prompt_id, node_id)
