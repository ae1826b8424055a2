"""Queue and history survive a restart; a prompt running at a crash runs again."""

from __future__ import annotations

from execution.queue import PromptQueue
from execution.store import PromptStore


def test_pending_and_interrupted_prompts_and_history_survive_a_restart(tmp_path):
    path = tmp_path / "atelier.sqlite3"
    queue = PromptQueue(PromptStore(path))
    first = queue.put("a", 0, {"1": {}}, {"client_id": "c", "api_key_comfy_org": "secret"}, ["1"])
    queue.put("b", 1, {"2": {}}, {}, ["2"])
    queue.put("c", 2, {"3": {}}, {}, ["3"])
    running = queue.get()
    assert running.prompt_id == "a"
    queue.task_done(running, {"status": {"status_str": "success"}, "outputs": {}})
    assert queue.get().prompt_id == "b"  # "b" is running when the process dies
    queue.store.close()

    restarted = PromptQueue(PromptStore(path))
    assert restarted.store.history_entry("a") == {"status": {"status_str": "success"}, "outputs": {}}
    assert "secret" not in str(first.extra_data)
    order = [restarted.get(timeout=1).prompt_id for _ in range(2)]
    assert order == ["b", "c"]
    assert restarted.next_number() == 3


def test_front_delete_clear_and_history_paging(tmp_path):
    queue = PromptQueue(PromptStore(tmp_path / "db.sqlite3"))
    for index, prompt_id in enumerate("abcd"):
        queue.put(prompt_id, index, {}, {}, [])
    queue.put("urgent", -10, {}, {}, [])
    queue.delete(["c"])
    running, pending = queue.snapshot()
    assert [item[1] for item in pending] == ["urgent", "a", "b", "d"]
    queue.clear()
    assert queue.snapshot() == ([], [])
    for prompt_id in "xyz":
        queue.store.finish(prompt_id, {"id": prompt_id})
    assert list(queue.store.history(max_items=2)) == ["y", "z"]
    assert list(queue.store.history(max_items=1, offset=0)) == ["x"]
    queue.store.delete_history(["y"])
    assert list(queue.store.history()) == ["x", "z"]
