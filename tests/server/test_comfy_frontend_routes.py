"""What ComfyUI's own web app asks of a server (../shared/reference/comfy-frontend-needs.md), answered by Atelier:
the loader classes it looks up by name, the routes it calls, progress_state messages and serving the app itself."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from websockets.sync.client import connect

from core.folders import Folders
from engine.model_cache import ModelCache
from httpapi.hub import ProgressTracker
from runtime.logs import LogBuffer
from tests.conftest import ROOT, serve, stop_server
from tests.server.api_client import get_json, http, run_prompt

# modelToNodeStore.registerDefaults(): the app breaks every checkpoint, VAE and LoRA loader if one is missing.
REGISTERED_LOADERS = ["CheckpointLoaderSimple", "ImageOnlyCheckpointLoader", "LoraLoader", "LoraLoaderModelOnly",
                      "VAELoader", "ControlNetLoader", "UNETLoader", "UpscaleModelLoader", "StyleModelLoader",
                      "GLIGENLoader"]
# Routes the app calls beyond the prompt API (GET unless a method is given), each with and without /api
# except the template files, which it fetches from the site root.
APP_ROUTES = ["/users", "/i18n", "/workflow_templates", "/experiment/models", "/experiment/models/checkpoints",
              "/internal/logs", "/internal/logs/raw", "/internal/folder_paths"]
ROOT_FILES = ["/templates/index.json", "/templates/default.json"]


def test_every_loader_the_app_registers_is_defined(server):
    info = get_json(server.url + "/object_info")
    assert [name for name in REGISTERED_LOADERS if name not in info] == []
    only_image = info["ImageOnlyCheckpointLoader"]
    assert list(only_image["input"]["required"]) == ["ckpt_name"]
    assert only_image["output"] == ["MODEL", "CLIP_VISION", "VAE"]
    assert only_image["category"] == "loaders/video_models"
    assert info["StyleModelLoader"]["input"]["required"]["style_model_name"] == [[]]
    assert info["StyleModelLoader"]["output"] == ["STYLE_MODEL"] and info["StyleModelLoader"]["category"] == "loaders"
    assert info["GLIGENLoader"]["input"]["required"]["gligen_name"] == [[]]
    assert info["GLIGENLoader"]["output"] == ["GLIGEN"] and info["GLIGENLoader"]["category"] == "loaders"


def test_the_loaders_list_their_folders_and_fail_clearly(tmp_path):
    from nodes.builtin.sd_addons import GLIGENLoader
    from nodes.builtin.vision import ImageOnlyCheckpointLoader, StyleModelLoader

    folders = Folders.under(tmp_path)
    folders.create()
    (folders.models_dir / "style_models" / "redux.safetensors").write_bytes(b"")
    (folders.models_dir / "gligen" / "boxes.safetensors").write_bytes(b"")
    context = SimpleNamespace(folders=folders, models=ModelCache())
    assert StyleModelLoader.definition().input("style_model_name").choices(folders) == ["redux.safetensors"]
    assert GLIGENLoader.definition().input("gligen_name").choices(folders) == ["boxes.safetensors"]
    with pytest.raises(ValueError, match="boxes.safetensors: not a readable safetensors file"):
        GLIGENLoader().execute("boxes.safetensors", context=context)
    with pytest.raises(FileNotFoundError, match="checkpoints folder"):  # a missing file is reported as missing
        ImageOnlyCheckpointLoader().execute("svd.safetensors", context=context)


def test_an_unreadable_model_file_in_a_prompt_is_an_execution_error_naming_it(tmp_path):
    from core.context import InterruptFlag
    from core.registry import Registry
    from execution.cache import OutputCache
    from execution.executor import Executor
    from nodes.builtin import builtin_definitions

    folders = Folders.under(tmp_path)
    folders.create()
    (folders.models_dir / "gligen" / "boxes.safetensors").write_bytes(b"")
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    executor = Executor(registry, OutputCache(), folders, ModelCache(), None, InterruptFlag())
    prompt = {"1": {"class_type": "GLIGENLoader", "inputs": {"gligen_name": "boxes.safetensors"}}}
    outcome = executor.execute("p", prompt, ["1"])
    error = dict(outcome.messages)["execution_error"]
    assert outcome.status == "error" and error["node_type"] == "GLIGENLoader"
    assert error["exception_type"] == "engine.sd.state_dict.WeightsFileError"
    assert "GLIGENLoader #1: " in error["exception_message"]
    assert "boxes.safetensors: not a readable safetensors file" in error["exception_message"]


def test_every_route_the_app_calls_answers(server):
    for route in APP_ROUTES:
        for prefix in ("", "/api"):
            status, body = http(server.url + prefix + route)
            assert status == 200, (prefix + route, body)
            json.loads(body)
    for route in ROOT_FILES:
        status, body = http(server.url + route)
        assert status == 200, (route, body)
    status, _ = http(server.url + "/internal/logs/subscribe", {"enabled": False, "clientId": "x"}, method="PATCH")
    assert status == 200


def test_users_are_single_user_on_the_server(server):
    assert get_json(server.url + "/api/users") == {"storage": "server", "migrated": True}
    status, body = http(server.url + "/api/users", {"username": "someone"})
    assert status == 400 and json.loads(body)["error"]["type"] == "single_user"


def _pack(base: Path, name: str, files: dict[str, object]) -> None:
    for relative, content in files.items():
        path = base / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if not isinstance(content, str) else content)


@pytest.fixture
def pack_server(tmp_path):
    packs = tmp_path / "packs"
    _pack(packs, "alpha", {"__init__.py": "NODE_CLASS_MAPPINGS = {}\n",
                           "locales/en/main.json": {"nodeDefs": {"A": {"display_name": "A"}}, "menu": "Alpha"},
                           "locales/en/settings.json": {"alpha.setting": {"name": "Alpha setting"}},
                           "locales/fr/main.json": {"menu": "Alpha (fr)"},
                           "example_workflows/first.json": {"nodes": [], "links": []}})
    _pack(packs, "beta", {"__init__.py": "NODE_CLASS_MAPPINGS = {}\n",
                          "locales/en/nodeDefs.json": {"B": {"display_name": "B"}},
                          "examples/second.json": {"nodes": [], "links": []},
                          "config.json": {"api_key": "not for templates"}})
    running = serve(tmp_path, "--custom-nodes-dir", str(packs))
    yield running
    stop_server(running)


def test_i18n_merges_the_plugins_locales(pack_server):
    assert get_json(pack_server.url + "/api/i18n") == {
        "en": {"nodeDefs": {"A": {"display_name": "A"}, "B": {"display_name": "B"}}, "menu": "Alpha",
               "settings": {"alpha.setting": {"name": "Alpha setting"}}},
        "fr": {"menu": "Alpha (fr)"}}


def test_workflow_templates_offer_the_shipped_workflows_and_the_plugins_examples(pack_server):
    url = pack_server.url
    templates = get_json(url + "/api/workflow_templates")
    shipped = sorted(path.stem for path in (ROOT / "workflows").glob("*.json"))
    assert templates == {"atelier": shipped, "alpha": ["first"], "beta": ["second"]}
    default = get_json(url + "/api/workflow_templates/atelier/default.json")
    assert default == json.loads((ROOT / "workflows" / "default.json").read_text())
    assert get_json(url + "/api/workflow_templates/beta/second.json") == {"nodes": [], "links": []}
    for escape in ("atelier/..%2F..%2Fserver.py", "alpha/..%2F..%2F..%2Fetc%2Fpasswd", "..%2F..%2Fserver.py/x",
                   "beta/..%2Fconfig.json", "alpha/..%2F..%2Fbeta%2Fconfig.json", "..%2Fbeta/config.json",
                   "alpha/..%2F__init__.py"):
        status, body = http(url + "/api/workflow_templates/" + escape)
        assert status in (403, 404) and b"root:" not in body and b"argparse" not in body, escape
        assert b"api_key" not in body and b"NODE_CLASS_MAPPINGS" not in body, escape
    assert http(url + "/api/workflow_templates/atelier/nothing.json")[0] == 404

    index = get_json(url + "/templates/index.json")
    assert [module["moduleName"] for module in index] == ["default"]
    entries = {entry["name"]: entry for entry in index[0]["templates"]}
    assert sorted(entries) == shipped
    assert entries["default"]["title"] == "Digits from a prompt (the shipped demo model)"
    assert {(entry["mediaType"], entry["mediaSubtype"]) for entry in entries.values()} == {("image", "svg")}
    assert get_json(url + "/templates/default.json") == default
    status, thumbnail = http(url + "/templates/default-1.svg")  # the thumbnail the app's template cards show
    assert status == 200 and thumbnail.startswith(b"<svg") and thumbnail.count(b"<text") == len(default["nodes"])
    assert b">KSampler<" in thumbnail and http(url + "/templates/nothing-1.svg")[0] == 404
    assert http(url + "/templates/..%2Fserver.json")[0] in (403, 404)


def test_model_library_and_folder_paths(server):
    checkpoints = server.base / "models" / "checkpoints"
    (checkpoints / "sub").mkdir()
    (checkpoints / "sub" / "a.safetensors").write_bytes(b"12345")
    (checkpoints / "notes.txt").write_text("not a model")
    folders = {entry["name"]: entry["folders"] for entry in get_json(server.url + "/api/experiment/models")}
    assert folders["checkpoints"] == [str(checkpoints)]
    assert {"style_models", "gligen", "loras", "vae"} <= folders.keys() and "custom_nodes" not in folders
    (entry,) = get_json(server.url + "/api/experiment/models/checkpoints")
    assert entry["name"] == "sub/a.safetensors" and entry["pathIndex"] == 0 and entry["size"] == 5
    assert {"modified", "created"} <= entry.keys()
    assert http(server.url + "/api/experiment/models/nothing")[0] == 404

    paths = get_json(server.url + "/internal/folder_paths")
    assert paths["checkpoints"] == [str(checkpoints)]
    assert paths["gligen"] == [str(server.base / "models" / "gligen")]
    assert paths["custom_nodes"] == [str(ROOT / "tests" / "plugins")]


def test_internal_files_lists_one_folder_newest_first(server):
    inputs = server.base / "input"
    for age, name in ((30, "old.png"), (10, "new.png")):
        (inputs / name).write_bytes(b"")
        os.utime(inputs / name, (time.time() - age, time.time() - age))
    (inputs / "sub").mkdir()
    (inputs / "sub" / "deep.png").write_bytes(b"")
    listed = get_json(server.url + "/api/internal/files/input")
    assert listed.index("new.png") < listed.index("old.png") and not {"sub", "deep.png"} & set(listed)
    for kind in ("models", "..", "..%2Fmodels", "input%2F..%2F.."):
        assert http(server.url + "/internal/files/" + kind)[0] in (400, 404), kind


def test_logs_raw_text_and_live_messages_to_subscribers(server):
    marker = f"frontend-log-{uuid.uuid4().hex}"
    logging.getLogger("tests.frontend").warning("%s before", marker)
    raw = get_json(server.url + "/internal/logs/raw")
    assert set(raw["size"]) == {"cols", "rows"}
    mine = [entry for entry in raw["entries"] if marker in entry["m"]]
    assert mine[0]["m"] == f"WARNING tests.frontend: {marker} before\n" and "T" in mine[0]["t"]
    assert f"{mine[0]['t']} - WARNING tests.frontend: {marker} before\n" in get_json(server.url + "/internal/logs")

    client_id = uuid.uuid4().hex
    with connect(f"{server.ws_url}?clientId={client_id}", open_timeout=30) as socket:
        json.loads(socket.recv(timeout=10))  # status
        status, _ = http(server.url + "/internal/logs/subscribe", {"enabled": True, "clientId": client_id},
                         method="PATCH")
        assert status == 200
        logging.getLogger("tests.frontend").warning("%s live", marker)
        message = _next_of_type(socket, "logs")
        assert message["data"]["entries"][0]["m"] == f"WARNING tests.frontend: {marker} live\n"
        http(server.url + "/internal/logs/subscribe", {"enabled": False, "clientId": client_id}, method="PATCH")
        logging.getLogger("tests.frontend").warning("%s after", marker)
        with pytest.raises(TimeoutError):
            _next_of_type(socket, "logs", timeout=0.5)
    status, _ = http(server.url + "/internal/logs/subscribe", {"enabled": "yes"}, method="PATCH")
    assert status == 400


def test_the_log_leaves_out_the_access_log():
    """ComfyUI runs without an access log; Atelier's stays in the terminal (its lines carry every query string)."""
    logs = LogBuffer()
    for name in ("aiohttp.access", "aiohttp.server"):
        logs.handle(logging.LogRecord(name, logging.INFO, __file__, 1, "GET /view?filename=a.png", None, None))
    assert [entry["m"] for entry in logs.entries()] == ["INFO aiohttp.server: GET /view?filename=a.png\n"]


def _next_of_type(socket, kind: str, timeout: float = 10) -> dict:
    while True:
        message = socket.recv(timeout=timeout)
        if isinstance(message, str) and json.loads(message)["type"] == kind:
            return json.loads(message)


def _states(messages: list[dict]) -> list[tuple[str, dict[str, tuple]]]:
    """Each message as (type, {node: (state, value, max)}) for progress_state, (type, node) otherwise."""
    out = []
    for message in messages:
        data = message["data"]
        if message["type"] == "progress_state":
            nodes = data["nodes"].items()
            out.append(("progress_state", {nid: (n["state"], n["value"], n["max"]) for nid, n in nodes}))
        elif message["type"] in ("executing", "executed", "progress", "execution_success", "execution_cached"):
            out.append((message["type"], data.get("node")))
    return out


def test_progress_state_messages_follow_comfyui(server):
    prompt = {"1": {"class_type": "TestSleep", "inputs": {"value": 2, "steps": 2, "seconds": 0.0}},
              "2": {"class_type": "TestEven", "inputs": {"number": ["1", 0]}}}
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, prompt)
    states = [m for m in messages if m["type"] == "progress_state"]
    node = states[0]["data"]["nodes"]["1"]
    assert states[0]["data"]["prompt_id"] == prompt_id
    assert node == {"value": 0.0, "max": 1.0, "state": "running", "node_id": "1", "prompt_id": prompt_id,
                    "display_node_id": "1", "parent_node_id": None, "real_node_id": "1"}
    sequence = _states(messages)
    start = sequence.index(("execution_cached", None))
    assert sequence[start + 1:] == [
        ("progress_state", {"1": ("running", 0.0, 1.0)}), ("executing", "1"),
        ("progress_state", {"1": ("running", 1, 2)}), ("progress", "1"),
        ("progress_state", {"1": ("running", 2, 2)}), ("progress", "1"),
        ("progress_state", {"1": ("finished", 2, 2)}),
        ("progress_state", {"1": ("finished", 2, 2), "2": ("running", 0.0, 1.0)}), ("executing", "2"),
        ("executed", "2"), ("progress_state", {"1": ("finished", 2, 2), "2": ("finished", 1.0, 1.0)}),
        ("execution_success", None), ("executing", None)]

    # All cached: the cached nodes are finished at once (ComfyUI finishes each cached node its run reaches).
    _, messages, _ = run_prompt(server.url, server.ws_url, prompt)
    sequence = _states(messages)
    start = sequence.index(("execution_cached", None))
    finished = ("progress_state", {"1": ("finished", 1.0, 1.0), "2": ("finished", 1.0, 1.0)})
    assert sequence[start + 1:] == [finished, ("executed", "2"), finished, ("execution_success", None),
                                    ("executing", None)]


def test_the_tracker_sends_nothing_on_errors_and_starts_over_for_each_prompt():
    tracker = ProgressTracker("p")
    before, _ = tracker.around("executing", {"node": "5", "prompt_id": "p"})
    assert before[0]["nodes"]["5"]["state"] == "running"
    assert tracker.around("execution_error", {"node_id": "5", "prompt_id": "p"}) == ([], [])
    assert tracker.around("execution_interrupted", {"node_id": "5", "prompt_id": "p"}) == ([], [])
    assert tracker.around("executing", {"node": None, "prompt_id": "p"}) == ([], [])


@pytest.fixture
def front_end_root(tmp_path):
    root = tmp_path / "app"
    (root / "scripts").mkdir(parents=True)
    (root / "extensions" / "core" / "deep").mkdir(parents=True)
    (root / "index.html").write_text("<html>the app</html>")
    (root / "scripts" / "app.js").write_text("export const app = 1;")
    (root / "extensions" / "core" / "a.js").write_text("// a")
    (root / "extensions" / "core" / "deep" / "b.js").write_text("// b")
    (root / "extensions" / "core" / "style.css").write_text("")
    return root


def test_front_end_root_serves_a_whole_web_app_beside_the_api(tmp_path, front_end_root):
    running = serve(tmp_path, "--front-end-root", str(front_end_root),
                    "--custom-nodes-dir", str(ROOT / "tests" / "plugins"))
    try:
        status, body = http(running.url + "/")
        assert status == 200 and body == b"<html>the app</html>"
        assert http(running.url + "/scripts/app.js") == (200, b"export const app = 1;")
        extensions = get_json(running.url + "/extensions")
        assert extensions[:2] == ["/extensions/core/a.js", "/extensions/core/deep/b.js"]
        plugin_scripts = [url for url in extensions[2:] if url.startswith("/extensions/atelier_pack/")]
        assert plugin_scripts and http(running.url + plugin_scripts[0])[0] == 200
        assert get_json(running.url + "/api/users")["storage"] == "server"
        status, body = http(running.url + "/api/nothing")
        assert status == 404 and json.loads(body)["error"]["type"] == "http_404"
        for escape in ("/..%2F..%2Fetc%2Fpasswd", "/scripts/..%2F..%2Fapp.js"):
            status, body = http(running.url + escape)
            assert status == 404 and b"root:" not in body
    finally:
        stop_server(running)


def test_front_end_flags_refuse_what_is_not_there(tmp_path, monkeypatch):
    import server as entry

    with pytest.raises(SystemExit, match="no index.html"):
        entry.front_end_root(entry.parse_args(["--front-end-root", str(tmp_path)]))
    monkeypatch.setitem(sys.modules, "comfyui_frontend_package", None)  # as if not installed
    with pytest.raises(SystemExit, match=r"pip install 'atelier\[comfyui-frontend\]'"):
        entry.front_end_root(entry.parse_args(["--front-end", "comfyui"]))
    assert entry.front_end_root(entry.parse_args([])) is None


def test_front_end_comfyui_serves_the_installed_package(tmp_path):
    package = pytest.importorskip("comfyui_frontend_package")
    import server as entry

    root = entry.front_end_root(entry.parse_args(["--front-end", "comfyui"]))
    assert root == Path(package.__file__).parent / "static" and (root / "index.html").is_file()
