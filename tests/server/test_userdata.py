"""Saved workflows in /userdata: save, list, overwrite rules, move, delete, settings (surviving a crash is
tests/server/test_crash_recovery.py's)."""

from __future__ import annotations

import json

from tests.server.api_client import get_json, http


def test_workflow_store_round_trip(server):
    workflow = {"last_node_id": 1, "nodes": [{"id": 1, "type": "SaveImage"}], "links": [], "version": 0.4}
    body = json.dumps(workflow).encode()
    assert http(server.url + "/api/userdata/workflows%2Fa.json", raw=body, method="POST")[0] == 200
    assert http(server.url + "/api/userdata/workflows%2Fa.json?overwrite=false", raw=b"{}", method="POST")[0] == 409
    status, info = http(server.url + "/api/userdata/workflows%2Fsub%2Fb.json?full_info=true", raw=b"{}",
                        method="POST")
    assert status == 200 and json.loads(info)["path"] == "workflows/sub/b.json"
    assert get_json(server.url + "/api/userdata?dir=workflows&recurse=true") == ["a.json", "sub/b.json"]
    assert get_json(server.url + "/api/userdata?dir=workflows") == ["a.json"]
    status, moved = http(server.url + "/api/userdata/workflows%2Fsub%2Fb.json/move/workflows%2Fc.json",
                         raw=b"", method="POST")
    assert status == 200 and json.loads(moved) == "workflows/c.json"
    assert http(server.url + "/api/userdata/workflows%2Fc.json", method="DELETE")[0] == 204
    assert http(server.url + "/api/userdata/workflows%2Fc.json")[0] == 404
    assert http(server.url + "/api/userdata?dir=nothing")[0] == 404
    assert http(server.url + "/api/settings", {"Comfy.Theme": "dark"})[0] == 200
    assert http(server.url + "/api/settings/Atelier.Zoom", 1.5)[0] == 200
    assert get_json(server.url + "/api/userdata/workflows%2Fa.json") == workflow
    assert get_json(server.url + "/api/settings") == {"Comfy.Theme": "dark", "Atelier.Zoom": 1.5}
    assert get_json(server.url + "/api/settings/Atelier.Zoom") == 1.5
    leftovers = [p.name for p in (server.base / "user" / "default" / "workflows").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # atomic writes leave no temporary files behind
