"""Images in and out: /view, /upload/image and /upload/mask, confined to their folders."""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
from pathlib import Path

from aiohttp import web
from PIL import Image, ImageOps, PngImagePlugin

from core.folders import PathEscapeError, safe_join
from httpapi.bodies import read_form
from nodes.png import png_text_chunks
from runtime import Runtime

SAFE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"}


def json_error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message, "details": message, "extra_info": {}}},
                             status=status)


def json_failure(status: int, kind: str, message: str) -> web.HTTPException:
    """The same error as ``json_error``, to raise from helpers."""
    classes = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}
    body = {"error": {"type": kind, "message": message, "details": message, "extra_info": {}}}
    return classes[status](text=json.dumps(body), content_type="application/json")


def routes(runtime: Runtime) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        filename = request.query.get("filename", "")
        kind = request.query.get("type", "output")
        for suffix in ("output", "input", "temp"):
            if filename.endswith(f" [{suffix}]"):
                filename, kind = filename[: -len(suffix) - 3], suffix
        if not filename or filename.startswith("/") or ".." in filename or "\\" in filename:
            return json_error(400, "invalid_filename", f"invalid filename {filename!r}")
        try:
            folder = safe_join(runtime.folders.typed_dir(kind), request.query.get("subfolder", ""))
            path = safe_join(folder, filename)
        except PathEscapeError as exc:
            return json_error(403, "forbidden_path", str(exc))
        if not path.is_file():
            return json_error(404, "not_found", f"{kind}/{request.query.get('subfolder', '')}/{filename} not found")
        preview = request.query.get("preview")
        channel = request.query.get("channel", "rgba")
        if preview or channel != "rgba":
            return _converted(path, preview, channel)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type not in SAFE_TYPES:
            content_type = "application/octet-stream"
        return web.FileResponse(path, headers={"Content-Disposition": f'filename="{path.name}"',
                                               "Content-Type": content_type,
                                               "X-Content-Type-Options": "nosniff"})

    @table.post("/upload/image")
    async def upload_image(request: web.Request) -> web.Response:
        return await _upload(runtime, request, mask=False)

    @table.post("/upload/mask")
    async def upload_mask(request: web.Request) -> web.Response:
        return await _upload(runtime, request, mask=True)

    return table


def _converted(path: Path, preview: str | None, channel: str) -> web.Response:
    with Image.open(path) as image:
        image = image.convert("RGBA")
        if channel == "rgb":
            image = image.convert("RGB")
        elif channel == "a":
            image = image.getchannel("A")
        buffer = io.BytesIO()
        if preview:
            fmt, _, quality = preview.partition(";")
            fmt = fmt if fmt in ("webp", "jpeg") else "webp"
            image = image.convert("RGB") if fmt == "jpeg" and image.mode not in ("RGB", "L") else image
            image.save(buffer, format=fmt.upper(), quality=int(quality or 90))
            content_type = f"image/{fmt}"
        else:
            image.save(buffer, format="PNG")
            content_type = "image/png"
    return web.Response(body=buffer.getvalue(), content_type=content_type)


async def _upload(runtime: Runtime, request: web.Request, mask: bool) -> web.Response:
    form = await read_form(request)
    upload = form.get("image")
    if upload is None or not hasattr(upload, "file"):
        return json_error(400, "missing_file", "no file in the 'image' field")
    name = Path(str(upload.filename or "")).name
    if not name or name != str(upload.filename) or ".." in name or name.startswith("."):
        return json_error(400, "invalid_filename", f"invalid file name {upload.filename!r}")
    data = upload.file.read()
    try:
        _check_image(data)
        folder = safe_join(runtime.folders.typed_dir(str(form.get("type") or "input")),
                           str(form.get("subfolder") or ""))
    except PathEscapeError as exc:
        return json_error(403, "forbidden_path", str(exc))
    except ValueError as exc:
        return json_error(400, "invalid_image", str(exc))
    if mask:
        try:
            data = _apply_mask(runtime, form.get("original_ref"), data)
        except (ValueError, PathEscapeError, FileNotFoundError) as exc:
            return json_error(400, "invalid_mask", str(exc))
    overwrite = str(form.get("overwrite", "")).lower() in ("true", "1")
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, name, data, overwrite)
    if not target.exists() or overwrite:
        tmp = target.with_name(f".{target.name}.upload")
        tmp.write_bytes(data)
        tmp.replace(target)
    return web.json_response({"name": target.name, "subfolder": str(form.get("subfolder") or ""),
                              "type": str(form.get("type") or "input")})


def _check_image(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as exc:
        raise ValueError(f"the upload is not a readable image ({exc})") from exc


def _free_name(folder: Path, name: str, data: bytes, overwrite: bool) -> Path:
    """The name to store under: the same file is reused, a different one gets ``name (1).ext``..."""
    target = folder / name
    if overwrite or not target.exists():
        return target
    digest = hashlib.sha256(data).digest()
    stem, suffix, counter = target.stem, target.suffix, 1
    while target.exists():
        if hashlib.sha256(target.read_bytes()).digest() == digest:
            return target
        target = folder / f"{stem} ({counter}){suffix}"
        counter += 1
    return target


def _apply_mask(runtime: Runtime, original_ref: object, mask_bytes: bytes) -> bytes:
    """Copy the uploaded mask's alpha into the original image, keeping its PNG text chunks."""
    ref = json.loads(str(original_ref)) if original_ref else None
    if not isinstance(ref, dict) or "filename" not in ref:
        raise ValueError("original_ref must name the original image")
    subfolder = str(ref.get("subfolder") or "")
    name = f"{subfolder}/{ref['filename']}" if subfolder else str(ref["filename"])
    original_path = runtime.folders.annotated_path(name, str(ref.get("type") or "input"))
    with Image.open(original_path) as original, Image.open(io.BytesIO(mask_bytes)) as mask_image:
        info = PngImagePlugin.PngInfo()
        for key, value in png_text_chunks(original).items():
            info.add_text(key, value)
        # The editor painted the image as shown, EXIF rotation applied; the result is stored upright.
        combined = ImageOps.exif_transpose(original).convert("RGBA")
        alpha = mask_image.convert("RGBA").getchannel("A")
        if alpha.size != combined.size:
            raise ValueError(f"the mask is {alpha.size[0]}x{alpha.size[1]} but the image is "
                             f"{combined.size[0]}x{combined.size[1]}")
        combined.putalpha(alpha)
        buffer = io.BytesIO()
        combined.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    return buffer.getvalue()
