"""``--workers N``: prompts run in N worker processes on this machine, one per GPU when there are several.

Each process builds its own runtime (``runtime.worker_host``), so its models stay warm in its own cache; the server
keeps the queue. A process that dies mid-prompt raises ``WorkerLost`` (the prompt is queued again) and a fresh
process starts for the next prompt. Processes are spawned, never forked: torch and threads do not survive a fork.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue as queue_module
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from execution.events import EventHub
from execution.executor import ExecutionOutcome
from execution.queue import QueueItem
from execution.runner import WorkerLost
from runtime.relay import relay
from runtime.settings import Settings

log = logging.getLogger(__name__)
START_TIMEOUT = 600.0  # seconds a new worker may take to load its node types and plug-ins


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def process_runners(settings: Settings) -> list[ProcessRunner]:
    gpus = 0 if settings.cpu_only else gpu_count()
    threads = 0 if gpus else max(1, (os.cpu_count() or 1) // settings.workers)  # CPU workers share the cores
    return [ProcessRunner(settings, f"worker-{index}", visible_gpu(index % gpus) if gpus else None, threads)
            for index in range(settings.workers)]


def visible_gpu(index: int, environ: Mapping[str, str] = os.environ) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value that shows a worker the server's GPU number ``index``: the server may see
    only some of the machine's GPUs (its own ``CUDA_VISIBLE_DEVICES``), and its GPU 0 is then not the machine's."""
    visible = [gpu.strip() for gpu in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if gpu.strip()]
    return visible[index] if index < len(visible) else str(index)


class ProcessRunner:
    def __init__(self, settings: Settings, name: str, gpu: str | None, threads: int) -> None:
        self.name = name
        self.settings = settings
        self.gpu = gpu  # its CUDA_VISIBLE_DEVICES
        self.threads = threads
        self._process: Any = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._interrupted: str | None = None  # the latest prompt interrupted, in case it came while starting
        self._info: dict[str, Any] = {"name": name, "kind": "process", "gpu": gpu}

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def start(self) -> None:
        """Start the process (if it is not running) and wait until its node types are loaded."""
        if self._process is not None and self._process.is_alive():
            return
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child, self.settings, self.name, self.gpu, self.threads),
                                  name=f"atelier-{self.name}", daemon=True)
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT):
            process.kill()
            raise WorkerLost(f"{self.name} did not start within {START_TIMEOUT:.0f} s")
        try:
            ready = parent.recv()
        except (EOFError, OSError) as error:
            process.join(5)
            raise WorkerLost(f"{self.name} failed to start (exit code {process.exitcode})") from error
        if ready[0] == "failed":
            process.join(5)
            raise WorkerLost(f"{self.name} failed to start: {ready[1]}")
        self._process, self._conn = process, parent
        self._info = ready[1]
        log.info("%s started: pid %s on %s", self.name, self._info.get("pid"), self._info.get("device"))

    def run(self, item: QueueItem, events: EventHub) -> ExecutionOutcome:
        self.start()
        self._send(("run", item))
        if self._interrupted == item.prompt_id:
            self._send(("interrupt", item.prompt_id))  # it came while the process was starting
        try:
            return relay(self._messages(), events, self.settings.folders)
        except WorkerLost:
            raise
        except Exception:  # a message that cannot be read: the rest of this prompt's would pass for the next one's
            self._kill()
            raise

    def _messages(self):
        assert self._conn is not None
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError) as error:
                code = self._process.exitcode if self._process is not None else None
                self._process = None
                raise WorkerLost(f"{self.name} exited (code {code})") from error
            yield message
            if message[0] == "outcome":
                return

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is None:
            return
        with self._send_lock, contextlib.suppress(OSError, ValueError):  # gone: the running prompt notices on read
            self._conn.send(message)

    def interrupt(self, prompt_id: str) -> None:
        self._interrupted = prompt_id
        self._send(("interrupt", prompt_id))

    def free(self, unload_models: bool, free_memory: bool) -> None:
        self._send(("free", unload_models, free_memory))

    def close(self) -> None:
        self._send(("stop",))
        process = self._process  # the worker thread may drop it meanwhile
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()

    def _kill(self) -> None:
        """End the process now; the next prompt starts a fresh one."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.join(5)


def serve(conn: Connection, settings: Settings, name: str, gpu: str | None, threads: int) -> None:
    """The worker process: build the host, say ready, then run what the server sends until it says stop or goes."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before torch is imported: this process sees one GPU
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s")
    from runtime.worker_host import WorkerHost

    try:
        host = WorkerHost(settings, name, threads=threads)
    except Exception as error:  # the server reports why (the traceback is in this process's log)
        conn.send(("failed", f"{type(error).__name__}: {error}"))
        raise
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    send(("ready", host.info("process", gpu=gpu)))
    requests: queue_module.Queue[tuple[Any, ...] | None] = queue_module.Queue()
    threading.Thread(target=_read_requests, args=(conn, host, requests), daemon=True).start()
    while (request := requests.get()) is not None:
        if request[0] == "run":
            for message in host.run(request[1]):
                send(message)
        elif request[0] == "free":
            host.free(request[1], request[2])


def _read_requests(conn: Connection, host: Any, requests: queue_module.Queue) -> None:
    """Interrupts act at once (a prompt is running); everything else waits its turn."""
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break  # the server went away
        if request[0] == "interrupt":
            host.interrupt(request[1])
        elif request[0] == "stop":
            break
        else:
            requests.put(request)
    host.interrupt()
    requests.put(None)
