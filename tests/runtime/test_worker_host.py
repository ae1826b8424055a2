"""A worker's own runtime (``runtime.worker_host``) answers a prompt it cannot run with a clear error."""

from __future__ import annotations

from core.folders import Folders
from execution.queue import QueueItem
from runtime.settings import Settings
from runtime.worker_host import WorkerHost


def test_a_node_type_the_worker_lacks_is_named_in_the_prompts_error(tmp_path):
    host = WorkerHost(Settings(Folders.under(tmp_path)), "worker-7")
    try:
        prompt = {"1": {"class_type": "OnlyOnTheServer", "inputs": {}}}
        messages = list(host.run(QueueItem(0, 0, "p", prompt, {}, ["1"])))
    finally:
        host.runtime.logs.detach()
    kind, outcome = messages[-1]
    assert kind == "outcome" and outcome.status == "error"
    error = outcome.messages[-1][1]
    assert "worker-7 has no node type OnlyOnTheServer" in error["exception_message"]
    assert error["prompt_id"] == "p"
