"""The editor in a real browser (Debian's Chromium driven by Playwright) against the real server."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, start_server, stop_server
from tests.factories import write_tiny_sd15_checkpoint

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

if not (ROOT / "web" / "dist" / "index.html").is_file():
    pytest.skip("the editor is not built (scripts/build-web)", allow_module_level=True)
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Chromium for the browser tests: .ci/run installs Debian's package")
    pytest.skip("chromium is not installed (.ci/run installs Debian's package)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("editor")
    # The default workflow names the shipped digits model; a tiny random checkpoint stands in for it here.
    write_tiny_sd15_checkpoint(base / "models" / "checkpoints" / "atelier-digits.safetensors")
    server = start_server(base)
    yield server
    stop_server(server)


@pytest.fixture
def page(editor_server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(editor_server.url + "/")
        page.wait_for_selector("[data-testid=node-3]")
        yield page
        assert errors == []
        browser.close()


def fill(page, test_id: str, value: str) -> None:
    field = page.locator(f"[data-testid={test_id}]")
    field.fill(value)


def drop_workflow(page, workflow: dict, name: str) -> None:
    """Drops ``workflow`` on the canvas as the file ``name``.json; it opens in a new tab."""
    handle = page.evaluate_handle("""([data, name]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([data], name + ".json", { type: "application/json" }));
        return transfer;
    }""", [json.dumps(workflow), name])
    page.dispatch_event("[data-testid=canvas]", "drop", {"dataTransfer": handle})
    sync_api.expect(page.locator(".tab.active")).to_contain_text(name)


def test_default_workflow_runs_with_progress_and_result(page):
    fill(page, "widget-5-width", "64")
    fill(page, "widget-5-height", "64")
    fill(page, "widget-3-steps", "3")
    page.click("[data-testid=queue-button]")
    page.wait_for_selector("[data-testid=node-9] [data-testid=output-image]", timeout=60_000)
    assert page.locator("[data-testid=progress-3]").count() == 1
    image = page.locator("[data-testid=node-9] [data-testid=output-image]").first
    assert image.evaluate("img => img.complete && img.naturalWidth") == 64
    screenshot = Image.open(io.BytesIO(page.screenshot()))
    colours = screenshot.convert("L").getextrema()
    assert colours[1] - colours[0] > 50, "the screenshot is blank"
    page.click("[data-testid=panel-queue]")  # the queue panel names the worker that ran it
    sync_api.expect(page.locator("[data-testid=queue-history]").first).to_contain_text("success on local")


def test_build_a_workflow_by_ui_actions_save_and_reload(page, editor_server):
    page.click(".new-tab")
    page.wait_for_timeout(300)

    def add(node_type: str, x: int, y: int) -> None:
        page.mouse.dblclick(x, y)
        fill(page, "palette-search", node_type)
        page.click(f"[data-testid=palette-item-{node_type}]")

    add("EmptyImage", 250, 250)
    add("ImageInvert", 600, 250)
    add("PreviewImage", 900, 250)
    add("CLIPTextEncode", 600, 550)
    for node in (1, 2, 3, 4):
        page.wait_for_selector(f"[data-testid=node-{node}]")
    fill(page, "widget-1-width", "32")
    fill(page, "widget-1-height", "32")

    def wire(source: int, target: int) -> None:
        page.drag_and_drop(f"[data-testid=node-{source}] .react-flow__handle.source",
                           f"[data-testid=node-{target}] .react-flow__handle.target")

    edges = page.locator(".react-flow__edge")
    wire(1, 2)
    wire(2, 3)
    sync_api.expect(edges).to_have_count(2)
    wire(1, 4)  # IMAGE into a CLIP input: refused
    page.wait_for_timeout(300)
    sync_api.expect(edges).to_have_count(2)
    page.click("[data-testid=node-4] .node-title")
    page.keyboard.press("Delete")
    page.wait_for_selector("[data-testid=node-4]", state="detached")
    page.click("[data-testid=queue-button]")
    page.wait_for_selector("[data-testid=node-3] [data-testid=output-image]", timeout=30_000)

    fill(page, "workflow-name", "my-flow")
    page.click("[data-testid=save-workflow]")
    page.wait_for_timeout(500)
    saved = json.loads(urllib.request.urlopen(editor_server.url + "/api/userdata/workflows%2Fmy-flow.json").read())
    assert [node["type"] for node in saved["nodes"]] == ["EmptyImage", "ImageInvert", "PreviewImage"]
    page.wait_for_timeout(1200)  # the session is persisted once a second
    page.reload()
    page.wait_for_selector(".tab")
    assert "my-flow" in page.locator(".tabs").inner_text()


def test_group_the_selection_and_move_it_with_its_nodes(page):
    page.click("[data-testid=node-6] .node-title span")
    page.click("[data-testid=node-7] .node-title span", modifiers=["Shift"])
    page.keyboard.press("Control+g")
    group = page.locator("[data-testid=group-0]")
    sync_api.expect(group).to_have_count(1)

    def corner(test_id: str) -> tuple[float, float]:
        box = page.locator(f"[data-testid={test_id}]").bounding_box()
        return box["x"], box["y"]

    names = ("group-0", "node-6", "node-7", "node-4", "node-3")
    before = {name: corner(name) for name in names}
    title = group.locator(".group-title").bounding_box()
    page.mouse.move(title["x"] + 30, title["y"] + 10)
    page.mouse.down()
    page.mouse.move(title["x"] + 90, title["y"] + 50, steps=6)
    page.mouse.up()
    after = {name: corner(name) for name in names}
    shift = (after["group-0"][0] - before["group-0"][0], after["group-0"][1] - before["group-0"][1])
    assert shift[0] > 30 and shift[1] > 20, "the group did not follow the mouse"
    for name in names[1:]:
        expected = shift if name in ("node-6", "node-7") else (0, 0)  # the nodes inside move with it, no others
        assert after[name] == pytest.approx((before[name][0] + expected[0], before[name][1] + expected[1]), abs=2), name
    page.keyboard.press("Control+z")  # one undo step takes the whole drag back
    assert corner("node-6") == pytest.approx(before["node-6"], abs=2)


def test_validation_errors_show_on_the_node_and_input(page):
    fill(page, "widget-5-width", "8")  # below EmptyLatentImage's minimum of 16
    page.click("[data-testid=queue-button]")
    page.wait_for_selector("[data-testid=error-5-width]")
    assert "minimum" in page.locator("[data-testid=error-5-width]").inner_text()
    assert page.locator("[data-testid=node-3]").count() == 1  # nothing in the graph is lost


def test_dropping_a_png_opens_its_workflow_with_placeholders_for_missing_nodes(page):
    workflow = json.loads((ROOT / "workflows" / "txt2img_sd15.json").read_text())
    workflow["nodes"].append({"id": 40, "type": "NotInstalledNode", "pos": [0, 600], "size": [200, 80], "flags": {},
                              "order": 9, "mode": 0, "properties": {}, "widgets_values": [1, 2]})
    buffer = io.BytesIO()
    info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    info.add_text("workflow", json.dumps(workflow))
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    data = base64.b64encode(buffer.getvalue()).decode()
    handle = page.evaluate_handle("""data => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "shared.png", { type: "image/png" }));
        return transfer;
    }""", data)
    page.dispatch_event("[data-testid=canvas]", "drop", {"dataTransfer": handle})
    page.wait_for_selector("[data-testid=node-40]")
    assert "NotInstalledNode" in page.locator("[data-testid=missing-banner]").inner_text()
    assert "shared" in page.locator(".tabs").inner_text()
    assert page.locator("[data-testid=node-3]").count() == 1


def test_upload_an_image_and_paint_its_inpainting_mask(page, editor_server, tmp_path):
    page.click(".new-tab")
    page.wait_for_timeout(300)
    page.mouse.dblclick(300, 300)
    fill(page, "palette-search", "LoadImage")
    page.click("[data-testid=palette-item-LoadImage]")
    page.wait_for_selector("[data-testid=node-1]")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(photo)
    page.set_input_files("[data-testid=upload-1]", str(photo))
    sync_api.expect(page.locator("[data-testid=widget-1-image]")).to_have_value("photo.png")
    preview = page.locator("[data-testid=input-preview-1]")
    page.wait_for_function("img => img.complete && img.naturalWidth === 64", arg=preview.element_handle())

    page.click("[data-testid=edit-mask-1]")
    canvas = page.locator("[data-testid=mask-canvas]")
    canvas.wait_for()
    sync_api.expect(page.locator("[data-testid=mask-save]")).to_be_enabled()  # the existing mask is drawn
    page.locator("[data-testid=mask-brush]").fill("120")  # in screen pixels: the 64x48 image is shown much larger
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.keyboard.press("Delete")  # the painter owns its keys: the node stays
    assert page.locator("[data-testid=node-1]").count() == 1

    def painted() -> int:
        return page.evaluate("""() => {
            const canvas = document.querySelector('[data-testid=mask-canvas]');
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let count = 0;
            for (let i = 3; i < data.length; i += 4) count += data[i] > 0;
            return count;
        }""")

    stroke = painted()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.1, steps=4)
    page.mouse.up()
    assert painted() > stroke
    page.keyboard.press("Control+z")  # takes back the second stroke only
    assert painted() == stroke > 0
    page.click("[data-testid=mask-save]")
    page.wait_for_selector("[data-testid=mask-editor]", state="detached")
    value = page.locator("[data-testid=widget-1-image]").input_value()
    assert value.startswith("clipspace/clipspace-mask-") and value.endswith(".png")

    saved = Image.open(Path(editor_server.base) / "input" / value)
    assert saved.mode == "RGBA" and saved.size == (64, 48)
    alpha = saved.getchannel("A")
    assert alpha.getpixel((32, 24)) == 0, "painted: transparent, so LoadImage's mask is 1 there"
    assert alpha.getpixel((2, 2)) == 255 and saved.getpixel((2, 2))[:3] == (200, 120, 40)


def test_native_reroutes_are_drawn_and_can_be_dragged(page, editor_server):
    workflow = json.loads((ROOT / "workflows" / "txt2img_sd15.json").read_text())
    workflow["extra"]["reroutes"] = [{"id": 1, "pos": [380, 700], "linkIds": [1]}]  # clear of the nodes
    workflow["extra"]["linkExtensions"] = [{"id": 1, "parentId": 1}]
    drop_workflow(page, workflow, "routed")
    dot = page.locator("[data-testid=reroute-1]")
    dot.wait_for()
    box = dot.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 40, steps=5)
    page.mouse.up()
    moved = dot.bounding_box()
    assert moved["x"] > box["x"] + 40 and moved["y"] > box["y"] + 20
    # Double-clicking a visible stretch of another link adds a point to it.
    spot = page.evaluate("""() => {
        for (const group of document.querySelectorAll('.react-flow__edge')) {
            if (group.getAttribute('data-id') === '1') continue;  // the link that already has a point
            const path = group.querySelector('path');
            const matrix = path.getScreenCTM();
            for (let f = 0.1; f < 0.95; f += 0.05) {
                const p = path.getPointAtLength(path.getTotalLength() * f);
                const x = p.x * matrix.a + p.y * matrix.c + matrix.e, y = p.x * matrix.b + p.y * matrix.d + matrix.f;
                const hit = document.elementFromPoint(x, y);
                if (hit && group.contains(hit) && !hit.classList.contains('reroute-dot'))
                    return {x, y, id: group.getAttribute('data-id')};
            }
        }
        return null;
    }""")
    assert spot is not None
    page.mouse.dblclick(spot["x"], spot["y"])
    sync_api.expect(page.locator("[data-testid=reroute-2]")).to_have_count(1)
    fill(page, "workflow-name", "routed")
    page.click("[data-testid=save-workflow]")
    page.wait_for_timeout(500)
    saved = json.loads(urllib.request.urlopen(editor_server.url + "/api/userdata/workflows%2Frouted.json").read())
    x, y = saved["extra"]["reroutes"][0]["pos"]
    assert x > 380 and y > 700
    assert {"id": 1, "parentId": 1} in saved["extra"]["linkExtensions"]
    assert {"id": int(spot["id"]), "parentId": 2} in saved["extra"]["linkExtensions"]
    page.dblclick("[data-testid=reroute-2]")  # double-clicking a point removes it
    sync_api.expect(page.locator("[data-testid=reroute-2]")).to_have_count(0)
    assert page.locator("[data-testid=reroute-1]").count() == 1


def older_inpainting_workflow() -> dict:
    """The default workflow sampling from an inpainting encode saved before VAEEncodeForInpaint had grow_mask_by
    (no widget values at all), of the picture digit.png and its alpha as the mask."""
    workflow = json.loads((ROOT / "workflows" / "default.json").read_text())
    nodes = {node["id"]: node for node in workflow["nodes"]}
    nodes[3]["widgets_values"][2] = 1  # one step: the run is over quickly
    latent = next(link for link in workflow["links"] if link[3] == 3 and link[4] == 3)
    nodes[5]["outputs"][0]["links"].remove(latent[0])
    latent[1], latent[2] = 31, 0
    image = {"id": 30, "type": "LoadImage", "pos": [0, 700], "size": [300, 300], "flags": {}, "order": 0, "mode": 0,
             "properties": {}, "inputs": [], "widgets_values": ["digit.png", "image"],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [101]}, {"name": "MASK", "type": "MASK",
                                                                             "links": [103]}]}
    encode = {"id": 31, "type": "VAEEncodeForInpaint", "pos": [400, 700], "size": [300, 100], "flags": {},
              "order": 1, "mode": 0, "properties": {}, "widgets_values": [],
              "inputs": [{"name": "pixels", "type": "IMAGE", "link": 101}, {"name": "vae", "type": "VAE", "link": 102},
                         {"name": "mask", "type": "MASK", "link": 103}],
              "outputs": [{"name": "LATENT", "type": "LATENT", "links": [latent[0]]}]}
    nodes[4]["outputs"][2]["links"].append(102)
    workflow["nodes"] += [image, encode]
    workflow["links"] += [[101, 30, 0, 31, 0, "IMAGE"], [102, 4, 2, 31, 1, "VAE"], [103, 30, 1, 31, 2, "MASK"]]
    workflow["last_node_id"], workflow["last_link_id"] = 31, 103
    return workflow


def test_an_older_file_missing_trailing_widget_values_queues_with_a_warning(page, editor_server):
    (Path(editor_server.base) / "input").mkdir(exist_ok=True)
    Image.new("RGBA", (32, 32), (255, 255, 255, 0)).save(Path(editor_server.base) / "input" / "digit.png")
    drop_workflow(page, older_inpainting_workflow(), "older")
    page.wait_for_selector("[data-testid=node-31]")
    page.click("[data-testid=queue-button]")
    page.click("[data-testid=panel-errors]")
    warning = page.locator("[data-testid=error-panel] .message.warning")
    sync_api.expect(warning).to_contain_text("grow_mask_by")
    sync_api.expect(warning).to_contain_text("31")
    page.wait_for_selector("[data-testid=node-9] [data-testid=output-image]", timeout=120_000)  # it ran
    assert page.locator("[data-testid=error-panel] .message.error").count() == 0


def test_a_missing_node_type_stays_as_a_placeholder_naming_its_plugin(page):
    workflow = json.loads((ROOT / "workflows" / "default.json").read_text())
    workflow["nodes"].append({"id": 40, "type": "UltimateSDUpscale", "pos": [0, 700], "size": [300, 200], "flags": {},
                              "order": 9, "mode": 0, "properties": {}, "inputs": [], "outputs": [],
                              "widgets_values": [2, 42, "fixed", 20]})
    drop_workflow(page, workflow, "upscaled")
    node = page.locator("[data-testid=node-40]")
    sync_api.expect(node.locator(".badge")).to_have_text("missing")
    sync_api.expect(node.locator(".raw-values")).to_have_text('[2,42,"fixed",20]')  # its values are kept
    sync_api.expect(page.locator("[data-testid=missing-banner]")).to_contain_text(
        "UltimateSDUpscale (usually from ComfyUI_UltimateSDUpscale)")
    page.click("[data-testid=panel-errors]")
    errors = page.locator("[data-testid=error-panel] .message.error")
    sync_api.expect(errors).to_contain_text("ComfyUI_UltimateSDUpscale")
