"""ComfyUI's own web app (PyPI comfyui-frontend-package, served with --front-end comfyui) in a real browser against
the real server: it loads Atelier's default workflow, queues it, shows progress on the KSampler node and the
images. Run with the test extra installed (scripts/setup-env --test) and Debian's Chromium."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, start_server, stop_server

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
CHECKPOINT = ROOT / "models" / "checkpoints" / "atelier-digits.safetensors"

pytest.importorskip("comfyui_frontend_package",
                    reason="ComfyUI's web app is not installed: pip install 'atelier[comfyui-frontend]'")
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Chromium for the browser tests: .ci/run installs Debian's package")
    pytest.skip("chromium is not installed (.ci/run installs Debian's package)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

# Not Atelier's doing (comfy-frontend-needs.md §4-5): files a new user has not saved yet (ComfyUI answers 404 too),
# the app's settings store registering a setting it changes first, and its release check on the internet.
EXPECTED_404 = ("/user.css", "/api/userdata/user.css", "/favicon.ico", "/api/userdata?dir=",
                "/api/userdata/comfy.templates.json", "/api/userdata/workflows%2F.index.json")
APP_ERRORS = ("Cannot read properties of undefined (reading 'id')",)

# The app has its node definitions: it builds nodes from then on.
READY = "() => !!(window.app?.graph && window.LiteGraph?.registered_node_types.KSampler)"
# Records what the app receives and shows while it runs: each progress_state message, and the KSampler node's
# progress bar (node.progress, which the app sets from progress_state only) read once the app has handled that
# message. The app's listener was added first and queues its canvas update as a microtask (a Vue watcher), so a
# microtask queued here runs after it: every state is seen, however fast the steps run.
WATCH = """() => {
    window.__seen = {states: [], progress: []};
    window.comfyAPI.api.api.addEventListener('progress_state', e => {
        window.__seen.states.push(e.detail);
        queueMicrotask(() => window.__seen.progress.push(window.app.graph.getNodeById(3)?.progress));
    });
}"""


@pytest.fixture(scope="module")
def comfy_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfy-frontend")
    (base / "models" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(CHECKPOINT, base / "models" / "checkpoints" / CHECKPOINT.name)
    server = start_server(base, "--front-end", "comfyui")
    yield server
    stop_server(server)


def test_comfyui_web_app_runs_the_default_workflow_with_progress_and_images(comfy_server):
    url = comfy_server.url
    problems: list[str] = []

    def on_response(response) -> None:
        path = response.url.removeprefix(url)
        if response.url.startswith(url) and response.status >= 400 and not path.startswith(EXPECTED_404):
            problems.append(f"{response.status} {response.request.method} {path}")

    def on_page_error(error) -> None:
        if not any(known in str(error) for known in APP_ERRORS):
            problems.append(f"page error: {error}")

    workflow = json.loads((ROOT / "workflows" / "default.json").read_text())
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("response", on_response)
        page.on("pageerror", on_page_error)
        page.goto(url + "/")
        page.wait_for_function(READY, timeout=60_000)
        # A new user is offered templates once the app has set up its first graph: Atelier's shipped workflows.
        dialog = page.get_by_role("dialog")
        sync_api.expect(dialog.get_by_text("Get Started with a Template")).to_be_visible(timeout=30_000)
        sync_api.expect(dialog.get_by_text("Digits from a prompt (the shipped demo model)").first).to_be_visible()
        page.keyboard.press("Escape")
        page.evaluate("workflow => window.app.loadGraphData(workflow)", workflow)
        nodes = page.evaluate("() => window.app.graph._nodes.map(n => [n.id, n.type, n.widgets.map(w => w.name)])")
        assert sorted(nodes) == sorted([node["id"], node["type"], _widget_names(node)] for node in workflow["nodes"])
        page.evaluate(WATCH)
        # Fewer steps than the shipped 20, as a user would set them, so the run takes seconds on a CPU.
        page.evaluate("() => { window.app.graph.getNodeById(3).widgets.find(w => w.name === 'steps').value = 6; }")
        page.evaluate("() => window.app.queuePrompt(0, 1)")
        page.evaluate("() => window.app.canvas.centerOnNode(window.app.graph.getNodeById(9))")  # drawn: images load
        page.wait_for_function("() => (window.app.graph.getNodeById(9).imgs || []).length === 16", timeout=60_000)
        page.wait_for_function("() => window.app.graph.getNodeById(9).imgs.every(img => img.complete)")
        seen = page.evaluate("() => window.__seen")
        images = page.evaluate("() => window.app.graph.getNodeById(9).imgs.map(img => img.naturalWidth)")
        browser.close()

    sampler = [state["nodes"]["3"] for state in seen["states"] if "3" in state["nodes"]]
    assert any(node["state"] == "running" and 0 < node["value"] < node["max"] for node in sampler)
    assert sampler[-1]["state"] == "finished"
    shown = [round(value, 3) for value in seen["progress"] if value is not None and 0 < value < 1]
    assert shown == [round(step / 6, 3) for step in range(1, 6)], "the KSampler node's bar did not follow its steps"
    assert images == [32] * 16
    assert max(state["nodes"]["3"]["max"] for state in seen["states"] if "3" in state["nodes"]) == 6
    assert problems == []


def _widget_names(node: dict) -> list[str]:
    """The widgets ComfyUI's app builds for a node of the default workflow (KSampler's seed has its control)."""
    names = {"CheckpointLoaderSimple": ["ckpt_name"], "CLIPTextEncode": ["text"],
             "EmptyLatentImage": ["width", "height", "batch_size"],
             "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
             "VAEDecode": [], "SaveImage": ["filename_prefix"]}
    return names[node["type"]]
