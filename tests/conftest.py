"""Shared fixtures: servers on free ports, in this process (most tests) or as a real ``python server.py`` (tests
that kill or restart it, and the browser tests)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_args(base: Path, *extra: str, models_dir: Path | None = None) -> list[str]:
    """``server.py``'s arguments with every folder under ``base``."""
    return ["--models-dir", str(models_dir or base / "models"), "--input-dir", str(base / "input"),
            "--output-dir", str(base / "output"), "--temp-dir", str(base / "temp"), "--user-dir", str(base / "user"),
            *extra]


def make_app(base: Path, *extra: str, models_dir: Path | None = None) -> web.Application:
    """The runtime and application ``server.py`` would build from these arguments (the one place tests build them)."""
    import server as entry
    from httpapi.app import create_app

    runtime = entry.build_runtime(entry.parse_args(server_args(base, *extra, models_dir=models_dir)))
    return create_app(runtime)


class LogCapture(logging.Handler):
    """Every log record while a server runs, as ``python server.py`` would print it (INFO and above)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self._root_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def attach(self) -> LogCapture:
        self._root_level = logging.root.level
        logging.root.setLevel(min(self._root_level, logging.INFO))
        logging.root.addHandler(self)
        return self

    def detach(self) -> None:
        logging.root.removeHandler(self)
        logging.root.setLevel(self._root_level)


class InProcessServer:
    """An application served on a free port from an event loop in a background thread, so synchronous tests talk
    to it over real HTTP and websockets as they would to ``python server.py``."""

    def __init__(self, base: Path, app: web.Application, logs: LogCapture) -> None:
        self.base, self.app, self._logs = base, app, logs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-server-loop", daemon=True)
        self._thread.start()
        # Websockets a test left open must not hold up the shutdown for aiohttp's default minute; no access log
        # lines in the output of failing tests.
        self._runner = web.AppRunner(app, shutdown_timeout=2, access_log=None)
        try:
            self._call(self._runner.setup())
            self._call(web.TCPSite(self._runner, "127.0.0.1", 0).start())
        except BaseException:
            self.stop()
            raise
        self.port: int = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log(self) -> str:
        return "\n".join(self._logs.lines)

    def stop(self) -> None:
        """Run the application's cleanup (the worker stops, the database closes), then end the loop thread."""
        try:
            self._call(self._runner.cleanup())
            self._call(_cancel_leftover_tasks())
            self._call(self._loop.shutdown_default_executor())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()
            self._logs.detach()

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)


async def _cancel_leftover_tasks() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def serve(base: Path, *extra: str, models_dir: Path | None = None) -> InProcessServer:
    """The server ``python server.py ARGS`` would be, in this process; stop it with ``stop_server``."""
    logs = LogCapture().attach()
    try:
        return InProcessServer(base, make_app(base, *extra, models_dir=models_dir), logs)
    except BaseException:
        logs.detach()
        raise


@dataclass
class ServerProcess:
    url: str
    port: int
    base: Path
    process: subprocess.Popen
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(base: Path, *extra: str, models_dir: Path | None = None, timeout: float = 120) -> ServerProcess:
    """``python server.py`` on a free port with every folder under ``base``; waits until it answers."""
    port = free_port()
    log_path = base / f"server-{port}.log"
    args = [sys.executable, str(ROOT / "server.py"), "--port", str(port),
            *server_args(base, *extra, models_dir=models_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(args, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            urllib.request.urlopen(url + "/api/prompt", timeout=2).read()
            return ServerProcess(url, port, base, process, log_path)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start:\n{log_path.read_text()}")


def stop_server(server: InProcessServer | ServerProcess) -> None:
    server.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    running = serve(tmp_path, "--custom-nodes-dir", str(ROOT / "tests" / "plugins"))
    yield running
    stop_server(running)
