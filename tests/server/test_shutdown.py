"""Stopping a served application runs its cleanup: the worker thread ends and the database is closed, so servers
started in the test process leave no threads or open files behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.conftest import serve, stop_server
from tests.server.api_client import get_json

FDS = Path("/proc/self/fd")


def open_files(under: Path) -> list[str]:
    return [path for path in (os.path.realpath(fd) for fd in FDS.iterdir()) if path.startswith(str(under))]


@pytest.mark.skipif(not FDS.is_dir(), reason="open files are read from /proc")
def test_a_stopped_server_leaves_no_threads_and_no_open_database(tmp_path):
    threads_before = set(threading.enumerate())
    running = serve(tmp_path)
    assert get_json(running.url + "/queue") == {"queue_running": [], "queue_pending": [], "running_on": {}}
    assert any(path.endswith(".sqlite3") for path in open_files(tmp_path))
    stop_server(running)
    assert [thread.name for thread in set(threading.enumerate()) - threads_before] == []
    assert open_files(tmp_path) == []
