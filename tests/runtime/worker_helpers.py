"""What the worker tests share: the test pack of nodes, and waiting for prompts to reach the history."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.server.api_client import get_json, http

PACK = Path(__file__).parent / "worker_pack"


def queue(url: str, prompt: dict[str, Any]) -> str:
    status, body = http(url + "/prompt", {"prompt": prompt})
    assert status == 200, body
    return json.loads(body)["prompt_id"]


def wait_for_history(url: str, prompt_ids: list[str], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        history = get_json(url + "/history")
        if all(prompt_id in history for prompt_id in prompt_ids):
            return {prompt_id: history[prompt_id] for prompt_id in prompt_ids}
        assert time.monotonic() < deadline, f"prompts not finished: {get_json(url + '/queue')}"
        time.sleep(0.2)


def who_runs(seconds: float, tag: int) -> dict[str, Any]:
    return {"1": {"class_type": "WhoRuns", "inputs": {"seconds": seconds, "tag": tag}}}


def die_once(marker: Path) -> dict[str, Any]:
    return {"1": {"class_type": "DieOnce", "inputs": {"marker": str(marker)}}}
