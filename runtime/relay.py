"""The server's side of a worker that runs elsewhere: its messages (``runtime.worker_host``) replayed onto the
server's event hub and folders, ending in the prompt's outcome."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.folders import Folders
from execution.events import EventHub
from execution.executor import ExecutionOutcome
from execution.runner import WorkerLost
from runtime.output_transfer import rename_entries, store_files


def relay(messages: Iterable[tuple[Any, ...]], events: EventHub, folders: Folders,
          renamed: dict[tuple[str, str, str], str] | None = None) -> ExecutionOutcome:
    """Send each event on as it arrives, store transferred files, and return the outcome (files named as stored).
    ``renamed`` maps a worker's file names to the names they were stored under; a runner keeps it for its worker's
    life, since a cached output node names files an earlier prompt sent. Raises WorkerLost when the messages end
    without an outcome."""
    renamed = {} if renamed is None else renamed
    for message in messages:
        kind = message[0]
        if kind == "event":
            _, event, data, client_id = message
            if event == "executed" and renamed and isinstance(data.get("output"), dict):
                data = {**data, "output": rename_entries(data["output"], renamed)}
            events.send(event, data, client_id)
        elif kind == "preview":
            events.send_preview(*message[1:])
        elif kind == "files":
            renamed.update(store_files(message[1], folders))
        elif kind == "outcome":
            outcome: ExecutionOutcome = message[1]
            outcome.ui_outputs = {node: rename_entries(ui, renamed) for node, ui in outcome.ui_outputs.items()}
            return outcome
    raise WorkerLost("the worker stopped before the prompt finished")
