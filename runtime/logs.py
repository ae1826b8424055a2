"""The server's recent log lines, kept for ComfyUI's web app (its error report and Logs panel).

A ``LogBuffer`` is a ``logging.Handler`` that a runtime attaches to the root logger while it is built (so plug-in
loading is recorded) and detaches when it closes. Entries have ComfyUI's shape, ``{"t": ISO time, "m": text}``,
where the text is one formatted record and its newline, as a terminal shows it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

LogEntry = dict[str, str]
LogListener = Callable[[LogEntry, logging.LogRecord], None]

CAPACITY = 300  # entries kept, as ComfyUI's app.logger keeps
# aiohttp's access log (each request with its query, referrer and user agent) stays in the terminal: ComfyUI runs
# without one, so its web app never shows requests.
UNRECORDED_LOGGERS = ("aiohttp.access",)


class LogBuffer(logging.Handler):
    """The last ``capacity`` log entries, and listeners told of each new one (from the thread that logged it)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.addFilter(lambda record: record.name not in UNRECORDED_LOGGERS)
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self.listeners: list[LogListener] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {"t": datetime.fromtimestamp(record.created).isoformat(), "m": self.format(record) + "\n"}
        except Exception:
            self.handleError(record)
            return
        self._entries.append(entry)
        for listener in list(self.listeners):
            try:
                listener(entry, record)
            except Exception:  # a listener must not stop the logging that reports its own failure
                self.handleError(record)

    def entries(self) -> list[LogEntry]:
        """The entries kept, oldest first."""
        self.acquire()  # emit runs under the handler's lock
        try:
            return list(self._entries)
        finally:
            self.release()

    def text(self) -> str:
        """The log as ComfyUI's ``/internal/logs`` gives it: each entry as ``time - text``."""
        return "".join(f"{entry['t']} - {entry['m']}" for entry in self.entries())

    def attach(self, logger: logging.Logger | None = None) -> None:
        (logger or logging.getLogger()).addHandler(self)

    def detach(self, logger: logging.Logger | None = None) -> None:
        (logger or logging.getLogger()).removeHandler(self)

