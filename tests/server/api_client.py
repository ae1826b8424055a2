"""A minimal ComfyUI API client, written the way ComfyUI's own websocket example scripts are."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from websockets.sync.client import connect


def http(url: str, body: Any = None, method: str | None = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(url: str) -> Any:
    status, body = http(url)
    assert status == 200, (status, body)
    return json.loads(body)


def run_prompt(base_url: str, ws_url: str, prompt: dict, timeout: float = 120,
               extra_data: dict | None = None) -> tuple[str, list[dict[str, Any]], list[bytes]]:
    """Queue a prompt with a client id, collect websocket messages until ``executing`` with node None."""
    client_id = uuid.uuid4().hex
    messages: list[dict[str, Any]] = []
    frames: list[bytes] = []
    with connect(f"{ws_url}?clientId={client_id}", open_timeout=30, max_size=None) as socket:
        body = {"prompt": prompt, "client_id": client_id}
        if extra_data:
            body["extra_data"] = extra_data
        status, answer = http(base_url + "/prompt", body)
        assert status == 200, answer
        prompt_id = json.loads(answer)["prompt_id"]
        while True:
            message = socket.recv(timeout=timeout)
            if isinstance(message, bytes):
                frames.append(message)
                continue
            parsed = json.loads(message)
            messages.append(parsed)
            data = parsed.get("data", {})
            if parsed["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return prompt_id, messages, frames


def view_url(base_url: str, image: dict[str, str]) -> str:
    return base_url + "/view?" + urllib.parse.urlencode(image)
