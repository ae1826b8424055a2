"""Shared fixtures: a registry with test nodes, and a real server on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def start_server(base: Path, *extra: str, models_dir: Path | None = None, timeout: float = 120) -> ServerProcess:
    """``python server.py`` on a free port with every folder under ``base``; waits until it answers."""
    port = free_port()
    log_path = base / f"server-{port}.log"
    args = [sys.executable, str(ROOT / "server.py"), "--port", str(port),
            "--models-dir", str(models_dir or base / "models"), "--input-dir", str(base / "input"),
            "--output-dir", str(base / "output"), "--temp-dir", str(base / "temp"), "--user-dir", str(base / "user"),
            *extra]
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


def stop_server(server: ServerProcess) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(tmp_path, "--custom-nodes-dir", str(ROOT / "tests" / "plugins"))
    yield running
    stop_server(running)
