"""Several workers run prompts at once: each prompt's progress_state keeps its own nodes while their events
interleave on the server's websocket hub, and a prompt's state is dropped when it ends."""

from __future__ import annotations

from httpapi.hub import MAX_TRACKERS, WebSocketHub


def test_interleaved_prompts_keep_their_own_progress_state():
    hub = WebSocketHub()
    states: list[dict] = []
    hub._send_json = lambda event, data, client_id: states.append(data) if event == "progress_state" else None
    for event, data in [("execution_start", {"prompt_id": "a"}), ("executing", {"node": "1", "prompt_id": "a"}),
                        ("executed", {"node": "1", "output": {}, "prompt_id": "a"}),
                        ("execution_start", {"prompt_id": "b"}), ("executing", {"node": "5", "prompt_id": "b"}),
                        ("executing", {"node": "2", "prompt_id": "a"})]:
        hub.on_event(event, data)
    last = states[-1]
    assert last["prompt_id"] == "a"
    assert {node: entry["state"] for node, entry in last["nodes"].items()} == {"1": "finished", "2": "running"}
    hub.on_event("execution_success", {"prompt_id": "a"})
    hub.on_event("executing", {"node": None, "prompt_id": "a"})
    assert list(hub.progress) == ["b"]
    for index in range(2 * MAX_TRACKERS):  # prompts whose end never came
        hub.on_event("execution_start", {"prompt_id": f"lost-{index}"})
    assert len(hub.progress) == MAX_TRACKERS
