"""A test plug-in using ``server.PromptServer`` the way Custom-Scripts, rgthree and KJNodes do: routes on
``PromptServer.instance.routes``, a static folder and a middleware through ``.app`` at import, an on-prompt handler,
and a node that messages the client that queued the prompt (``send_sync``) and writes progress text on itself."""

from pathlib import Path

from aiohttp import web

from server import BinaryEventTypes, PromptServer

SEEN_PROMPTS = []  # bodies the on-prompt handler saw, for the tests

routes = PromptServer.instance.routes


@routes.get("/routes_pack/hello")
async def hello(request):
    return web.json_response({"hello": "routes_pack", "text_event": BinaryEventTypes.TEXT})


@web.middleware
async def stamp(request, handler):
    response = await handler(request)
    response.headers["X-Routes-Pack"] = "1"
    return response


if not PromptServer.instance.app.router.frozen:
    PromptServer.instance.app.router.add_static("/routes_pack/static", Path(__file__).parent / "static")
    PromptServer.instance.app.middlewares.append(stamp)


def remember(body):
    SEEN_PROMPTS.append(body)
    return body


PromptServer.instance.add_on_prompt_handler(remember)


class Announce:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "hello"})}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "announce"
    OUTPUT_NODE = True
    CATEGORY = "tests"

    def announce(self, text, unique_id=None):
        server = PromptServer.instance
        server.send_sync("routes_pack.message", {"text": text, "node": unique_id, "client": server.client_id},
                         server.client_id)
        server.send_sync("routes_pack.text", text, server.client_id)  # data need not be an object
        server.send_progress_text(f"announcing {text}", unique_id)
        return {"ui": {"text": [text]}, "result": (text,)}


NODE_CLASS_MAPPINGS = {"Announce|routes_pack": Announce}
