"""What a plug-in did while it loaded that a pack should not do unasked: install packages with pip, write outside
its folder, use the network, run commands.

Plug-ins are code the user chose to run, with the user's rights; Atelier does not sandbox them. It reports what
they did (``Registry.activities``, ``/api/atelier/plugins``, the editor's Messages panel, a logged warning) and
never blocks it. Python's audit hooks (PEP 578) see these actions. A hook cannot be removed, so one is installed
per process; it does nothing unless an ``ImportAudit`` is active in the current context (a ``ContextVar``), which
is only while the loader runs a plug-in's prestartup script or imports it. Other threads, threads the pack starts,
and everything after loading are not watched.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from core.registry import PluginActivity, Registry

log = logging.getLogger(__name__)

MAX_DETAILS = 20  # distinct paths, hosts or commands kept per kind; the rest are only counted
MAX_DETAIL_CHARS = 240
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
PIP_COMMAND = re.compile(r"\bpip[0-9.]*(?:\.exe)?['\"]?\s+install\b|-m\s+pip\b")
STAGE_WORDS = {"import": "at import", "prestartup": "in prestartup_script.py"}
KIND_WORDS = {  # how a report names each kind, in the order it lists them
    "pip-install": "installed packages with pip",
    "write-outside": "wrote outside its folder",
    "network": "connected to the network",
    "subprocess": "ran commands",
}

_active: ContextVar[ImportAudit | None] = ContextVar("atelier_plugin_audit", default=None)


class ImportAudit:
    """What one plug-in did during one stage of loading ("import" or "prestartup"), by kind."""

    def __init__(self, module: str, stage: str, inside: Iterable[Path | str]) -> None:
        self.module, self.stage = module, stage
        self.inside = tuple(os.path.realpath(folder) for folder in inside)
        self.details: dict[str, list[str]] = {}
        self.left_out: dict[str, set[int]] = {}
        self.closed = False
        self._busy = False  # the hook's own work must not be audited again

    def note(self, kind: str, detail: str) -> None:
        details = self.details.setdefault(kind, [])
        detail = detail if len(detail) <= MAX_DETAIL_CHARS else detail[:MAX_DETAIL_CHARS - 1] + "…"
        if detail in details:
            return
        if len(details) < MAX_DETAILS:
            details.append(detail)
        else:
            self.left_out.setdefault(kind, set()).add(hash(detail))  # counted once however often it recurs

    def handle(self, event: str, args: tuple[Any, ...]) -> None:
        handler = HANDLERS.get(event)
        if handler is None or self.closed or self._busy:
            return
        self._busy = True
        try:
            handler(self, args)
        finally:
            self._busy = False

    def is_inside(self, path: str) -> bool:
        return any(path == folder or path.startswith(folder.rstrip(os.sep) + os.sep) for folder in self.inside)

    def written(self, path: Any, dir_fd: Any = None) -> None:
        """A path written, created, renamed or removed: noted when it lies outside the plug-in's folders."""
        if isinstance(path, int) or path is None:
            return  # a file descriptor: its path was checked when it was opened
        name = os.fsdecode(os.fspath(path))
        if dir_fd is not None and not os.path.isabs(name):
            return  # relative to a directory descriptor; the directory itself was checked
        resolved = os.path.realpath(name)
        if resolved.startswith("/dev/") or os.path.basename(os.path.dirname(resolved)) == "__pycache__":
            return  # devices (os.devnull for a subprocess) and compiled bytecode of modules the pack imports
        if not self.is_inside(resolved):
            self.note("write-outside", resolved)

    def command(self, argv: Any) -> None:
        if isinstance(argv, (str, bytes, os.PathLike)):
            line = os.fsdecode(argv)
        else:
            line = " ".join(os.fsdecode(arg) for arg in argv or ())
        self.note("pip-install" if PIP_COMMAND.search(line) else "subprocess", line)

    def network(self, host: Any, port: Any) -> None:
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host:
            self.note("network", f"{host}:{port}" if port is not None else str(host))

    def activities(self) -> list[PluginActivity]:
        return [PluginActivity(self.module, self.stage, kind, self._listed(kind), len(self.left_out.get(kind, ())))
                for kind in KIND_WORDS if self.details.get(kind)]

    def _listed(self, kind: str) -> list[str]:
        details = self.details[kind]
        if kind != "write-outside":
            return list(details)
        # Folders made on the way to a file (mkdir(parents=True)) are implied by the file's path.
        return [path for path in details if not any(other.startswith(path + os.sep) for other in details)]


def _open(audit: ImportAudit, args: tuple[Any, ...]) -> None:
    path, mode, flags = args[0], args[1], args[2] or 0
    if flags & WRITE_FLAGS or (isinstance(mode, str) and any(letter in mode for letter in "wax+")):
        audit.written(path)


def _socket_address(audit: ImportAudit, args: tuple[Any, ...]) -> None:
    address = args[1]
    if isinstance(address, tuple) and len(address) >= 2:
        audit.network(address[0], address[1])  # AF_INET/AF_INET6; a Unix socket's path is not the network


def _import(audit: ImportAudit, args: tuple[Any, ...]) -> None:
    if args[0] == "pip._internal":  # what pip.main([...]) and in-process installs import
        audit.note("pip-install", "pip run inside the server's process (import pip._internal)")


# Audit event -> what it means; the events are listed in Python's "Audit events table".
HANDLERS: dict[str, Callable[[ImportAudit, tuple[Any, ...]], None]] = {
    "open": _open,
    "os.mkdir": lambda audit, args: audit.written(args[0], args[2]),
    "os.rename": lambda audit, args: (audit.written(args[0], args[2]), audit.written(args[1], args[3])),
    "os.remove": lambda audit, args: audit.written(args[0], args[1]),
    "os.rmdir": lambda audit, args: audit.written(args[0], args[1]),
    "os.symlink": lambda audit, args: audit.written(args[1], args[2]),
    "shutil.rmtree": lambda audit, args: audit.written(args[0], args[1]),
    "subprocess.Popen": lambda audit, args: audit.command(args[1]),
    "os.system": lambda audit, args: audit.command(args[0]),
    "os.exec": lambda audit, args: audit.command(args[1]),
    "os.spawn": lambda audit, args: audit.command(args[2]),
    "os.posix_spawn": lambda audit, args: audit.command(args[1]),
    "os.startfile": lambda audit, args: audit.command(args[0]),
    "socket.connect": _socket_address,
    "socket.sendto": _socket_address,
    "socket.getaddrinfo": lambda audit, args: audit.network(args[0], args[1]),
    "http.client.connect": lambda audit, args: audit.network(args[1], args[2]),
    "urllib.Request": lambda audit, args: audit.note("network", str(args[0])),
    "import": _import,
}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    audit = _active.get()
    if audit is None:
        return
    with suppress(Exception):  # a bug in reporting must never break the plug-in being loaded
        audit.handle(event, args)


@functools.cache
def install_hook() -> None:
    """Add the audit hook, once per process (hooks cannot be removed; an idle one costs one ContextVar lookup)."""
    sys.addaudithook(_hook)


def inside_folders(entry: Path) -> list[Path]:
    """Where a plug-in may write without being reported: its own folder (a single-file plug-in's is the
    custom_nodes folder holding it), the system temp folder, and the user's model, input, output, temp and user
    folders of the runtime whose plug-ins are loading."""
    return [entry if entry.is_dir() else entry.parent, Path(tempfile.gettempdir()), *_user_folders()]


def _user_folders() -> list[Path]:
    from compat import host  # the runtime being built is bound just before its plug-ins load

    try:
        folders = host.runtime().folders
    except host.NotBound:
        return []
    extra = [path for paths in folders.extra_model_dirs.values() for path in paths]
    return [folders.models_dir, folders.input_dir, folders.output_dir, folders.temp_dir, folders.user_dir, *extra]


@contextmanager
def audit_plugin(registry: Registry, entry: Path, stage: str = "import") -> Iterator[ImportAudit]:
    """Watch what the plug-in at ``entry`` does while the block runs; on leaving (also by an exception), add it to
    ``registry.activities`` and log a warning."""
    install_hook()
    audit = ImportAudit(entry.name, stage, inside_folders(entry))
    token = _active.set(audit)
    try:
        yield audit
    finally:
        _active.reset(token)
        audit.closed = True  # asyncio tasks the pack created hold a copy of the context: stop recording for them
        activities = audit.activities()
        registry.activities.extend(activities)
        if activities:
            log.warning("%s", summary(activities))


def summary(activities: list[PluginActivity]) -> str:
    """One plain sentence for one plug-in's activities during one stage, as the editor shows it."""
    first = activities[0]
    parts = []
    for activity in activities:
        listed = ", ".join(activity.details) + (f" and {activity.more} more" if activity.more else "")
        parts.append(f"{KIND_WORDS.get(activity.kind, activity.kind)}: {listed}")
    return f"Plug-in {first.module} {STAGE_WORDS.get(first.stage, first.stage)}: " + "; ".join(parts)
