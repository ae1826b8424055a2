"""Every POST route answers malformed bodies with a 4xx in ComfyUI's error shape, never a 5xx. The routes are read
from the application's router, so a new route is covered without being listed here."""

from __future__ import annotations

import json
import re

import pytest
from aiohttp import web

from tests.server.api_client import http

JSON = "application/json"
MULTIPART = "multipart/form-data; boundary=x"
MALFORMED: dict[str, tuple[bytes, str]] = {
    "a JSON array": (b"[1, 2]", JSON),
    "a JSON string": (b'"prompt"', JSON),
    "a JSON number": (b"5", JSON),
    "JSON null": (b"null", JSON),
    "invalid JSON": (b"{not json", JSON),
    "an empty body": (b"", JSON),
    "bytes that are not UTF-8": (b'{"prompt": "\xff"}', JSON),
    "nesting deeper than the parser goes": (b"[" * 100_000 + b"]" * 100_000, JSON),
    "a prompt that is a number": (b'{"prompt": 5}', JSON),
    "a delete that is a string": (b'{"delete": "x"}', JSON),
    "a clear that is a string": (b'{"clear": "yes"}', JSON),
    "a number that is not finite": (b'{"number": Infinity, "prompt": {}}', JSON),
    "every field of the wrong type": (json.dumps({
        "prompt": [], "extra_data": "x", "client_id": 7, "prompt_id": {}, "number": "one", "front": "no",
        "partial_execution_targets": "1", "workflow": 3, "clear": 1, "delete": [1], "unload_models": "yes",
        "free_memory": [], "image": "x.png"}).encode(), JSON),
    "objects nested the wrong way": (json.dumps({
        "prompt": {"1": [1, {"a": None}], "2": {"class_type": "ImageInvert", "inputs": {"image": [[["1"]], {"0": 0}]}},
                   "3": {"class_type": "PreviewImage", "inputs": {"images": [{"2": 0}, [0]]}}},
        "extra_data": {"extra_pnginfo": [[]]}, "delete": [["x"]],
        "workflow": {"nodes": {"1": []}, "links": [[None, "x"]]}}).encode(), JSON),
    "multipart without a boundary": (b"--x\r\n", "multipart/form-data"),
    "truncated multipart": (b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n',
                            MULTIPART),
    "multipart with a broken part header": (b"--x\r\nbroken header\r\n\r\nvalue\r\n--x--\r\n", MULTIPART),
}
ERROR_KEYS = {"type", "message", "details", "extra_info"}


def post_routes(app: web.Application) -> list[str]:
    """Every POST path of the application, path parameters filled in."""
    paths = [resource.canonical for resource in app.router.resources()
             if any(route.method == "POST" for route in resource)]
    return [re.sub(r"\{(\w+)\}", lambda match: f"malformed-{match[1]}.json", path) for path in paths]


def problem(status: int, body: bytes) -> str | None:
    """What is wrong with an answer to a malformed body, or None."""
    if status >= 500:
        return f"{status}: {body[:300]!r}"
    if status < 400:
        return None
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"{status} without a JSON error: {body[:300]!r}"
    missing = ERROR_KEYS - set(error) if isinstance(error, dict) else ERROR_KEYS
    return f"{status}: the error lacks {sorted(missing)}" if missing else None


def test_post_routes_answer_malformed_bodies_with_4xx_json_errors(server):
    routes = post_routes(server.app)
    assert {"/prompt", "/api/prompt", "/queue", "/free", "/history", "/upload/image", "/api/upload/mask",
            "/settings", "/api/userdata/malformed-file.json"} <= set(routes), routes
    failures = []
    for path in routes:
        for name, (body, content_type) in MALFORMED.items():
            status, answer = http(server.url + path, raw=body, method="POST", headers={"Content-Type": content_type})
            if found := problem(status, answer):
                failures.append(f"POST {path} with {name}: {found}")
    assert failures == [], "\n".join(failures)


def test_a_wrongly_typed_field_is_named_in_the_error(server):
    for path, body, field in [("/prompt", {"prompt": 5}, "prompt"), ("/api/queue", {"delete": "x"}, "delete"),
                              ("/history", {"clear": "yes"}, "clear"), ("/free", {"free_memory": 1}, "free_memory")]:
        status, answer = http(server.url + path, body)
        error = json.loads(answer)["error"]
        assert status == 400 and error["extra_info"] == {"field": field}, (path, answer)
        assert error["message"].startswith(f"'{field}' must be"), error
    status, answer = http(server.url + "/queue", [1])
    assert status == 400 and json.loads(answer)["error"]["type"] == "invalid_body"


@pytest.mark.parametrize(("path", "body"), [
    ("/prompt", {"prompt": {"1": {"class_type": ["PreviewImage"], "inputs": {}}}}),
    ("/prompt", {"prompt": {"1": {"class_type": {"name": "PreviewImage"}, "inputs": {}}}}),
    ("/prompt", {"prompt": {"1": {"class_type": "PreviewImage", "inputs": [1]}}}),
    ("/prompt", {"prompt": {"1": {"class_type": "PreviewImage", "inputs": "images"}}}),
    ("/prompt", {"prompt": {"1": {"class_type": "NoSuchNode", "_meta": "title", "inputs": {}}}}),
    ("/atelier/run", {"workflow": {"nodes": [1], "links": []}}),
    ("/atelier/run", {"workflow": {"nodes": [{"type": "SaveImage"}], "links": []}}),
], ids=["class_type list", "class_type object", "inputs list", "inputs string", "_meta string", "node not an object",
        "node without id"])
def test_wrongly_typed_node_fields_are_400s(server, path, body):
    status, answer = http(server.url + path, body)
    assert problem(status, answer) is None and status == 400, answer
