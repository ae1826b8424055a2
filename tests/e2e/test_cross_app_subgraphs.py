"""Subgraphs across the two web apps, in a real browser against real servers: a subgraph workflow built by
Atelier's corpus opens in ComfyUI's web app (PyPI comfyui-frontend-package) as a subgraph and runs from there; a
subgraph made in ComfyUI's app converts on Atelier to the flat workflow's prompt and opens in Atelier's editor as
a subgraph; a legacy group node opens in Atelier's editor as a subgraph."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import ROOT, start_server, stop_server
from tests.server.api_client import http
from tests.workflows import corpus

pytestmark = pytest.mark.e2e
pytest.importorskip("comfyui_frontend_package",
                    reason="ComfyUI's web app is not installed: pip install 'atelier[comfyui-frontend]'")
from tests.e2e.test_editor import ARGS, CHROMIUM, sync_api  # noqa: E402  (skips as the editor's tests skip)

CHECKPOINT = ROOT / "models" / "checkpoints" / corpus.CHECKPOINT

READY = "() => !!(window.app?.graph && window.LiteGraph?.registered_node_types.KSampler)"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """ComfyUI's web app and Atelier's editor, each on a server of its own over one set of folders."""
    base = tmp_path_factory.mktemp("cross-app")
    (base / "models" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(CHECKPOINT, base / "models" / "checkpoints" / CHECKPOINT.name)
    with ThreadPoolExecutor(2) as pool:  # each server takes seconds to start and to stop: side by side
        starting = [pool.submit(start_server, base, "--front-end", "comfyui"), pool.submit(start_server, base)]
        failures = [future.exception() for future in starting if future.exception() is not None]
        started = [future.result() for future in starting if future.exception() is None]
        try:
            if failures:
                raise failures[0]
            yield started[0], started[1]
        finally:
            list(pool.map(stop_server, started))


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def comfy_app(servers, browser):
    """ComfyUI's web app, loaded once (it takes seconds) for the tests that drive it."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(servers[0].url + "/")
    page.wait_for_function(READY, timeout=60_000)
    page.keyboard.press("Escape")  # the templates dialog a new user is offered
    yield page
    page.close()


def atelier_editor(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url + "/")
    page.wait_for_selector("[data-testid=node-3]")
    return page


def open_in_editor(page, name: str, workflow: dict) -> None:
    page.locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "application/json", "buffer": json.dumps(workflow).encode()})


def convert(url: str, workflow: dict) -> dict:
    status, raw = http(url + "/api/atelier/convert", {"workflow": workflow})
    assert status == 200, raw
    return json.loads(raw)["prompt"]


def shape(prompt: dict) -> Counter:
    """A prompt without its ids: each node's class and inputs, a link named by the class of the node it leaves."""
    def value(entry):
        if isinstance(entry, list) and len(entry) == 2 and str(entry[0]) in prompt:
            return ("link", prompt[str(entry[0])]["class_type"], entry[1])
        if isinstance(entry, float) and entry.is_integer():
            return int(entry)  # JavaScript writes 5.0 as 5
        return entry

    def entry_of(node: dict) -> str:
        return json.dumps([node["class_type"], sorted((name, value(entry)) for name, entry in node["inputs"].items())])

    return Counter(entry_of(node) for node in prompt.values())


def test_an_atelier_subgraph_opens_and_runs_in_comfyuis_app(comfy_app):
    page = comfy_app
    case = corpus.nested_subgraph_with_bypass(seed=7)
    queued: list[dict] = []
    page.on("request", lambda request: queued.append(request.post_data_json)
            if request.method == "POST" and request.url.endswith("/api/prompt") else None)
    page.evaluate("workflow => window.app.loadGraphData(workflow)", case.ui)
    loaded = page.evaluate("""id => ({
        subgraphs: [...window.app.graph.subgraphs.keys()],
        instance: window.app.graph.getNodeById(10).type,
        isSubgraph: window.app.graph.getNodeById(10).isSubgraphNode(),
    })""", corpus.OUTER_ID)
    assert sorted(loaded["subgraphs"]) == sorted([corpus.OUTER_ID, corpus.INNER_ID])
    assert loaded["instance"] == corpus.OUTER_ID and loaded["isSubgraph"]
    page.evaluate("() => window.app.queuePrompt(0, 1)")
    page.evaluate("() => window.app.canvas.centerOnNode(window.app.graph.getNodeById(9))")
    page.wait_for_function("() => (window.app.graph.getNodeById(9).imgs || []).length === 4", timeout=60_000)
    prompt = queued[0]["prompt"]
    assert shape(prompt) == shape(case.expected), "ComfyUI's app queues the prompt Atelier converts the workflow to"
    assert sorted(prompt) == sorted(case.expected), "with the same path ids"


def test_a_comfyui_subgraph_converts_on_atelier_and_opens_in_its_editor(servers, browser, comfy_app):
    atelier = servers[1]
    flat = json.loads((ROOT / "workflows" / "default.json").read_text())
    page = comfy_app
    page.evaluate("workflow => window.app.loadGraphData(workflow)", flat)
    made = page.evaluate("""() => {
        const graph = window.app.graph;
        const { node } = graph.convertToSubgraph(new Set([graph.getNodeById(3), graph.getNodeById(8)]));
        return { id: node.id, workflow: graph.serialize() };
    }""")
    workflow = made["workflow"]
    (definition,) = workflow["definitions"]["subgraphs"]
    assert sorted(node["type"] for node in definition["nodes"]) == ["KSampler", "VAEDecode"]
    prompt = convert(atelier.url, workflow)
    assert shape(prompt) == shape(convert(atelier.url, flat))
    assert {f"{made['id']}:3", f"{made['id']}:8"} <= set(prompt)

    editor = atelier_editor(browser, atelier.url)
    open_in_editor(editor, "from-comfyui.json", workflow)
    instance = editor.locator(f"[data-testid=node-{made['id']}]")
    sync_api.expect(instance.locator(".subgraph-badge")).to_have_count(1)
    instance.locator(".node-title span").first.dblclick()
    editor.wait_for_selector("[data-testid=breadcrumbs]")
    for inner in (3, 8):
        sync_api.expect(editor.locator(f"[data-testid=node-{inner}]")).to_have_count(1)
    editor.close()


def test_a_legacy_group_node_opens_in_atelier_as_a_subgraph(servers, browser):
    _, atelier = servers
    editor = atelier_editor(browser, atelier.url)
    open_in_editor(editor, "group-node.json", corpus.group_node().ui)  # its nodes overlap: buttons are pressed
    instance = editor.locator("[data-testid=node-12]")
    sync_api.expect(instance.locator(".subgraph-badge")).to_have_count(1)
    editor.locator("[data-testid=panel-errors]").dispatch_event("click")
    sync_api.expect(editor.get_by_text("1 legacy group node was opened as subgraphs")).to_have_count(1)
    editor.locator("[data-testid=open-subgraph-12]").dispatch_event("click")
    editor.wait_for_selector("[data-testid=breadcrumbs]")
    for inner in (0, 1, 2):
        sync_api.expect(editor.locator(f"[data-testid=node-{inner}]")).to_have_count(1)
    sync_api.expect(editor.locator("[data-testid=widget-1-seed]")).to_have_value("11")
    editor.close()
