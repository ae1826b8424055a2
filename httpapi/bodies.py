"""Reading request bodies: JSON values, JSON objects with typed fields, multipart forms.

Whatever a client sends, a body that cannot be read the way a route needs it becomes a 400 in ComfyUI's error
shape (``{"error": {type, message, details, extra_info}}``), never a 500.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from core.errors import error

# What a field may hold: a type, or ``list[T]`` for a list whose items are all T.
FieldType = Any
# What aiohttp raises for broken multipart framing, unknown charsets or transfer encodings, bad part headers.
FORM_ERRORS = (ValueError, LookupError, RuntimeError, HttpProcessingError)
NAMES = {dict: ("an object", "objects"), list: ("a list", "lists"), str: ("a string", "strings"),
         bool: ("true or false", "booleans"), int: ("an integer", "integers"), float: ("a number", "numbers")}


def body_error(kind: str, message: str, details: str = "", **extra_info: Any) -> web.HTTPBadRequest:
    body = {"error": error(kind, message, details or message, **extra_info)}
    return web.HTTPBadRequest(text=json.dumps(body), content_type="application/json")


def parse_json(data: bytes) -> Any:
    """``data`` as JSON; raises a 400 when it is not UTF-8 JSON or nests deeper than the parser goes."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        details = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except UnicodeDecodeError as exc:
        details = f"not UTF-8: {exc.reason} at byte {exc.start}"
    except RecursionError:
        details = "nested too deeply"
    raise body_error("invalid_json", "Request body is not valid JSON", details)


async def read_json(request: web.Request) -> Any:
    """The body as any JSON value; an empty body is a 400."""
    data = await request.read()
    if not data.strip():
        raise body_error("empty_body", "Request body is empty", "Expected a JSON value.")
    return parse_json(data)


async def read_object(request: web.Request, fields: Mapping[str, FieldType] | None = None) -> dict[str, Any]:
    """The body as a JSON object whose listed ``fields`` have their types; an empty body is ``{}``.

    A field that is absent or null is left out of the result, so routes can use ``body.get``.
    """
    fields = fields or {}
    data = await request.read()
    body = parse_json(data) if data.strip() else {}
    if not isinstance(body, dict):
        raise body_error("invalid_body", "Request body must be a JSON object", f"got {_json_kind(body)}")
    for name, expected in fields.items():
        value = body.get(name)
        if value is not None and not _matches(value, expected):
            raise body_error("invalid_field", f"'{name}' must be {_describe(expected)}",
                             f"'{name}' is {_json_kind(value)}", field=name)
    return {name: value for name, value in body.items() if not (name in fields and value is None)}


async def read_form(request: web.Request) -> MultiDictProxy:
    """The body as a form (multipart or urlencoded); one that cannot be parsed is a 400."""
    try:
        return await request.post()
    except FORM_ERRORS as exc:
        raise body_error("invalid_upload", "Could not read the form", f"{type(exc).__name__}: {exc}") from exc


def _matches(value: Any, expected: FieldType) -> bool:
    if typing.get_origin(expected) is list:
        (item,) = typing.get_args(expected)
        return isinstance(value, list) and all(_matches(entry, item) for entry in value)
    if isinstance(value, bool):
        return expected is bool  # JSON true is no number
    if expected is float:  # Infinity and NaN parse as floats but are no number a queue can order by
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    return isinstance(value, expected)


def _describe(expected: FieldType) -> str:
    if typing.get_origin(expected) is list:
        return f"a list of {NAMES[typing.get_args(expected)[0]][1]}"
    return NAMES[expected][0]


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")
