"""What the server stores survives a crash: ``python server.py`` is killed (SIGKILL, no clean shutdown) and started
again on the same folders. Only these tests need real processes; the others serve the app in process."""

from __future__ import annotations

import json
import time

from tests.conftest import ROOT, ServerProcess, start_server, stop_server
from tests.server.api_client import get_json, http, run_prompt
from tests.server.test_api import INVERT_PROMPT

PLUGINS = ("--custom-nodes-dir", str(ROOT / "tests" / "plugins"))
LONG_PROMPT = {"1": {"class_type": "TestSleep", "inputs": {"value": 2, "steps": 100, "seconds": 0.05}},
               "2": {"class_type": "TestEven", "inputs": {"number": ["1", 0]}}}
WORKFLOW = {"last_node_id": 1, "nodes": [{"id": 1, "type": "SaveImage"}], "links": [], "version": 0.4}


def queue_behind_a_long_prompt(server: ServerProcess) -> tuple[set[str], list[str]]:
    """Finish one prompt, block the worker, queue three behind it (the last in front) and delete the first.

    Returns the finished prompt ids and the three queued ones."""
    run_prompt(server.url, server.ws_url, INVERT_PROMPT)
    http(server.url + "/prompt", {"prompt": LONG_PROMPT})
    ids = [json.loads(http(server.url + "/prompt", {"prompt": INVERT_PROMPT, "front": index == 2})[1])["prompt_id"]
           for index in range(3)]
    assert [item[1] for item in get_json(server.url + "/queue")["queue_pending"]][0] == ids[2]  # front goes first
    http(server.url + "/queue", {"delete": [ids[0]]})
    assert ids[0] not in [item[1] for item in get_json(server.url + "/queue")["queue_pending"]]
    return set(get_json(server.url + "/history")), ids


def save_user_data(server: ServerProcess) -> None:
    assert http(server.url + "/api/userdata/workflows%2Fa.json", raw=json.dumps(WORKFLOW).encode(),
                method="POST")[0] == 200
    assert http(server.url + "/api/settings", {"Comfy.Theme": "dark"})[0] == 200
    assert http(server.url + "/api/settings/Atelier.Zoom", 1.5)[0] == 200


def wait_for_history(server: ServerProcess, prompt_ids: set[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not prompt_ids <= set(get_json(server.url + "/history")):
        time.sleep(0.3)
    assert prompt_ids <= set(get_json(server.url + "/history")), server.log()


def test_queue_history_and_user_data_survive_a_crash(tmp_path):
    server = start_server(tmp_path, *PLUGINS)
    try:
        finished, ids = queue_behind_a_long_prompt(server)
        save_user_data(server)
    finally:
        server.process.kill()  # a crash, not a clean shutdown
        server.process.wait()
    restarted = start_server(tmp_path, *PLUGINS)
    try:
        assert finished <= set(get_json(restarted.url + "/history"))
        wait_for_history(restarted, {ids[1], ids[2]})  # what was queued at the crash runs after the restart
        assert get_json(restarted.url + "/api/userdata/workflows%2Fa.json") == WORKFLOW
        assert get_json(restarted.url + "/api/settings") == {"Comfy.Theme": "dark", "Atelier.Zoom": 1.5}
        assert get_json(restarted.url + "/api/settings/Atelier.Zoom") == 1.5
    finally:
        stop_server(restarted)
