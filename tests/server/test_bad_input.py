"""Bad input gets a clear error, and nothing stored is lost."""

from __future__ import annotations

import io
import json
import urllib.parse
import uuid
from pathlib import Path

from PIL import Image
from websockets.sync.client import connect

from tests.conftest import serve, stop_server
from tests.server.api_client import get_json, http, run_prompt
from tests.server.test_api import INVERT_PROMPT


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def png_bytes(color=(255, 0, 0), size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(server, filename: str, data: bytes, **fields: str) -> tuple[int, dict]:
    body, headers = multipart(fields, filename, data)
    status, answer = http(server.url + "/upload/image", raw=body, headers=headers)
    return status, json.loads(answer)


def test_malformed_json_and_missing_prompt(server):
    status, body = http(server.url + "/prompt", raw=b"{not json", method="POST")
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_json"
    status, body = http(server.url + "/prompt", {"nothing": 1})
    assert status == 400 and json.loads(body)["error"]["type"] == "no_prompt"
    status, body = http(server.url + "/prompt", {"prompt": {"nodes": [], "links": []}})
    assert status == 400 and "UI-format" in json.loads(body)["error"]["message"]


def test_validation_errors_name_node_and_input(server):
    bad = json.loads(json.dumps(INVERT_PROMPT))
    bad["1"]["inputs"]["width"] = -5
    bad["3"]["inputs"]["images"] = ["2", 7]
    status, body = http(server.url + "/api/prompt", {"prompt": bad})
    answer = json.loads(body)
    assert status == 400 and answer["error"]["type"] == "prompt_outputs_failed_validation"
    assert answer["node_errors"]["3"]["errors"][0]["extra_info"]["input_name"] == "images"
    status, body = http(server.url + "/api/prompt", {"prompt": {**INVERT_PROMPT, "3": {
        "class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}, "1": {
        "class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}}}})
    assert status == 200
    assert get_json(server.url + "/queue") is not None


def test_unknown_routes_and_methods(server):
    status, body = http(server.url + "/api/does/not/exist")
    assert status == 404 and json.loads(body)["error"]["type"] == "http_404"
    status, _ = http(server.url + "/history/unknown-id")
    assert status == 200


def test_view_refuses_path_tricks(server):
    for query, expected in [({"filename": "../server.py"}, 400), ({"filename": "/etc/passwd"}, 400),
                            ({"filename": "x.png", "subfolder": "../.."}, 403),
                            ({"filename": "x.png", "subfolder": "/etc"}, 403),
                            ({"filename": "x.png", "type": "nope"}, 403),
                            ({"filename": "missing.png"}, 404)]:
        status, body = http(server.url + "/view?" + urllib.parse.urlencode(query))
        assert status == expected, (query, status, body)
        assert "error" in json.loads(body)


def test_upload_names_clashes_and_path_tricks(server):
    status, answer = upload(server, "red.png", png_bytes())
    assert status == 200 and answer == {"name": "red.png", "subfolder": "", "type": "input"}
    assert upload(server, "red.png", png_bytes())[1]["name"] == "red.png"  # same bytes: reused
    assert upload(server, "red.png", png_bytes((0, 0, 255)))[1]["name"] == "red (1).png"
    assert upload(server, "../evil.png", png_bytes())[0] == 400
    assert upload(server, "x.png", png_bytes(), subfolder="../../outside")[0] == 403
    assert upload(server, "x.png", png_bytes(), subfolder="/tmp")[0] == 403
    assert upload(server, "fake.png", b"not an image at all")[0] == 400
    assert not (server.base / "outside").exists()
    choices = get_json(server.url + "/object_info/LoadImage")["LoadImage"]["input"]["required"]["image"][0]
    assert {"red.png", "red (1).png"} <= set(choices)


def test_oversize_upload_is_refused(tmp_path):
    small = serve(tmp_path, "--max-upload-size", "0.05")
    try:
        status, answer = upload(small, "big.png", png_bytes(size=(400, 400)) + b"\0" * 100_000)
        assert status == 413
        assert "too large" in answer["error"]["message"]
        assert get_json(small.url + "/prompt")["exec_info"]["queue_remaining"] == 0
    finally:
        stop_server(small)


def test_userdata_path_tricks_and_malformed_workflows(server):
    saved = http(server.url + "/userdata/workflows%2Fgood.json", raw=b'{"nodes": []}', method="POST")
    assert saved == (200, b'"workflows/good.json"')
    for name in ["..%2F..%2Fescape.json", "%2Fetc%2Fpasswd", "workflows%2F..%2F..%2F..%2Fescape.json"]:
        status, _ = http(server.url + "/userdata/" + name, raw=b"{}", method="POST")
        assert status in (400, 403), name
    status, _ = http(server.url + "/userdata/workflows%2Fbroken.json", raw=b"{half", method="POST")
    assert status == 400
    status, body = http(server.url + "/userdata/workflows%2Fgood.json")
    assert status == 200 and json.loads(body) == {"nodes": []}
    status, _ = http(server.url + "/userdata?dir=..")
    assert status == 403


def test_client_disconnecting_mid_run_does_not_hurt(server):
    slow = {"1": {"class_type": "TestSleep", "inputs": {"value": 2, "steps": 20, "seconds": 0.02}},
            "2": {"class_type": "TestEven", "inputs": {"number": ["1", 0]}}}
    client_id = uuid.uuid4().hex
    with connect(f"{server.ws_url}?clientId={client_id}") as socket:
        http(server.url + "/prompt", {"prompt": slow, "client_id": client_id})
        socket.recv(timeout=10)
    _, messages, _ = run_prompt(server.url, server.ws_url, INVERT_PROMPT)
    assert "execution_success" in [m["type"] for m in messages]
    statuses = [entry["status"]["status_str"] for entry in get_json(server.url + "/history").values()]
    assert statuses == ["success", "success"]


def test_cross_origin_requests_to_localhost_are_refused(server):
    status, _ = http(server.url + "/prompt", {"prompt": INVERT_PROMPT},
                     headers={"Origin": "http://evil.example", "Content-Type": "application/json"})
    assert status == 403


def test_mask_uploads_follow_exif_rotation_annotated_names_and_sizes(server):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x20, shown rotated by 90 degrees: 20x40
    Image.new("RGB", (40, 20), (10, 200, 30)).save(buffer, format="JPEG", exif=exif)
    status, answer = upload(server, "phone.jpg", buffer.getvalue(), subfolder="masks")
    assert status == 200
    mask = Image.new("RGBA", (20, 40), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 20, 10))  # painted: the top quarter as shown
    data = io.BytesIO()
    mask.save(data, format="PNG")
    original = json.dumps({"filename": "masks/phone.jpg [input]", "subfolder": "", "type": "input"})
    body, headers = multipart({"original_ref": original, "subfolder": "clipspace"}, "m.png", data.getvalue())
    status, answer = http(server.url + "/upload/mask", raw=body, headers=headers)
    assert status == 200, answer
    saved = Image.open(Path(server.base) / "input" / "clipspace" / json.loads(answer)["name"])
    assert saved.size == (20, 40) and saved.getchannel("A").getpixel((10, 5)) == 0
    assert saved.getchannel("A").getpixel((10, 30)) == 255
    small = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(small, format="PNG")
    body, headers = multipart({"original_ref": original}, "m2.png", small.getvalue())
    status, answer = http(server.url + "/upload/mask", raw=body, headers=headers)
    assert status == 400 and b"the mask is 8x8 but the image is 20x40" in answer


def test_load_image_accepts_annotated_names_in_prompts(server):
    assert upload(server, "ann.png", png_bytes())[0] == 200

    def errors(name: str) -> dict:
        prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": name}},
                  "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
        status, body = http(server.url + "/prompt", {"prompt": prompt})
        return {} if status == 200 else json.loads(body)["node_errors"]

    assert errors("ann.png [input]") == {}
    assert "Invalid image file" in json.dumps(errors("ann.png [output]"))
    assert "Invalid image file" in json.dumps(errors("../../etc/passwd [input]"))
