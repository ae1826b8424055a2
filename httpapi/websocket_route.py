"""``/ws?clientId=``: status on connect, the feature-flag handshake, then server-sent events."""

from __future__ import annotations

import json
import logging
import uuid

from aiohttp import WSMsgType, web

from httpapi.hub import Client, WebSocketHub
from runtime import Runtime

log = logging.getLogger(__name__)


def routes(runtime: Runtime, hub: WebSocketHub) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.get("/ws")
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(max_msg_size=1 << 20)
        await socket.prepare(request)
        client_id = request.query.get("clientId") or uuid.uuid4().hex
        client = Client(socket)
        hub.clients[client_id] = client  # reusing an id replaces the old socket, as in ComfyUI
        try:
            status = runtime.worker.status()
            await socket.send_str(json.dumps({"type": "status", "data": {**status, "sid": client_id}}))
            first = True
            async for message in socket:
                if message.type == WSMsgType.TEXT and first:
                    await _handshake(runtime, client, message.data)
                first = False
        finally:
            if hub.clients.get(client_id) is client:
                del hub.clients[client_id]
        return socket

    return table


async def _handshake(runtime: Runtime, client: Client, text: str) -> None:
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return
    if isinstance(message, dict) and message.get("type") == "feature_flags":
        client.feature_flags = dict(message.get("data") or {})
        flags = {"supports_preview_metadata": True, "max_upload_size": runtime.settings.max_upload_bytes}
        await client.socket.send_str(json.dumps({"type": "feature_flags", "data": flags}))
