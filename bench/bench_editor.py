"""The editor with 300 nodes on screen, in headless Chromium (software rendering, so a lower bound):
time to open the workflow, frame intervals while panning, zooming and dragging a node, and the time from each
keystroke to the next paint while typing 50 characters into a prompt. Prints figures and the CPU model.

    .venv/bin/python bench/bench_editor.py [--nodes 300] [--layout root|subgraph|instances] [--dist DIR]

``--layout subgraph`` puts the nodes inside one subgraph and types there with it open; ``instances`` adds 40
instances of a small subgraph with a promoted prompt beside them (what a subgraph instance costs per key).

``--dist`` serves the editor's files from another build (e.g. ``vite build --outDir DIR``), to compare builds
without touching web/dist; the API still comes from the server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402

TYPED = "a watercolour fox in the snow, soft morning light."  # 50 characters

RECORD_FRAMES = """() => { const frames = window.__frames = [];
  const tick = (t) => { if (window.__frames !== frames) return; frames.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""
DROP_JSON = """text => { const transfer = new DataTransfer();
  transfer.items.add(new File([text], "big.json", { type: "application/json" })); return transfer; }"""


# Keydown to the first task after the next frame's rendering (a message posted from requestAnimationFrame runs
# after that frame is painted): what a typist waits for. Long tasks are counted alongside.
RECORD_KEYSTROKES = """() => { const keys = window.__keys = []; const longTasks = window.__longTasks = [];
  new PerformanceObserver((list) => { for (const entry of list.getEntries()) longTasks.push(entry.duration); })
    .observe({ type: "longtask" });
  // The edit's own work: from the input event reaching the page to its end (React renders and commits in it).
  const scripts = window.__scripts = []; let inputAt = 0;
  document.addEventListener("input", () => { inputAt = performance.now(); }, { capture: true });
  window.addEventListener("input", () => scripts.push(performance.now() - inputAt));
  document.addEventListener("keydown", (event) => {
    const start = event.timeStamp;
    requestAnimationFrame(() => { const channel = new MessageChannel();
      channel.port1.onmessage = () => keys.push(performance.now() - start); channel.port2.postMessage(null); });
  }, { capture: true }); }"""


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def serve_editor_from(page, url: str, dist: Path) -> None:
    """Answers requests for the editor's own files from ``dist``; everything else goes on to the server."""
    def handle(route) -> None:
        path = urlparse(route.request.url).path.lstrip("/") or "index.html"
        file = dist / path
        if file.is_file():
            route.fulfill(path=str(file))
        else:
            route.continue_()
    page.route(url + "/**", handle)


def tiled_workflow(copies: int) -> dict:
    """``copies`` of the default workflow side by side, as one UI-format document."""
    base = json.loads((ROOT / "workflows" / "default.json").read_text())
    doc = {**base, "nodes": [], "links": [], "groups": []}
    node_step, link_step = max(n["id"] for n in base["nodes"]), max(link[0] for link in base["links"])
    for copy in range(copies):
        dx, dy = (copy % 6) * 1800, (copy // 6) * 900
        for node in base["nodes"]:
            node = json.loads(json.dumps(node))
            node["id"] += copy * node_step
            node["pos"] = [node["pos"][0] + dx, node["pos"][1] + dy]
            for slot in node.get("inputs") or []:
                if slot.get("link") is not None:
                    slot["link"] += copy * link_step
            for slot in node.get("outputs") or []:
                slot["links"] = [link + copy * link_step for link in slot.get("links") or []]
            doc["nodes"].append(node)
        for link in base["links"]:
            doc["links"].append([link[0] + copy * link_step, link[1] + copy * node_step, link[2],
                                 link[3] + copy * node_step, link[4], link[5]])
    doc["last_node_id"] = max(n["id"] for n in doc["nodes"])
    doc["last_link_id"] = max(link[0] for link in doc["links"])
    return doc


def _link_object(link: list) -> dict:
    return dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link, strict=True))


def inside_subgraph(doc: dict) -> tuple[dict, int]:
    """``doc``'s nodes and links also as a subgraph, instanced by one more node of the root: (workflow, its id)."""
    instance = doc["last_node_id"] + 1
    definition = {"id": "b0000000-0000-4000-8000-000000000001", "version": 1, "name": "Everything",
                  "nodes": doc["nodes"], "links": [_link_object(link) for link in doc["links"]],
                  "inputNode": {"id": -10, "bounding": [-300, 0, 120, 60]},
                  "outputNode": {"id": -20, "bounding": [11000, 0, 120, 60]},
                  "inputs": [], "outputs": [], "widgets": [], "groups": [], "config": {}, "extra": {}}
    bottom = max(node["pos"][1] for node in doc["nodes"]) + 900
    node = {"id": instance, "type": definition["id"], "pos": [0, bottom], "size": [240, 80], "flags": {},
            "order": 0, "mode": 0, "properties": {}, "inputs": [], "outputs": []}
    root = {**doc, "nodes": [*doc["nodes"], node], "last_node_id": instance,
            "definitions": {"subgraphs": [definition]}}
    return root, instance


def with_prompt_instances(doc: dict, count: int) -> dict:
    """``doc`` and ``count`` instances of a subgraph holding a CLIPTextEncode whose text is promoted."""
    definition = {"id": "b0000000-0000-4000-8000-000000000002", "version": 1, "name": "Prompt",
                  "nodes": [{"id": 1, "type": "CLIPTextEncode", "pos": [0, 0], "size": [300, 120], "flags": {},
                             "order": 0, "mode": 0, "properties": {}, "widgets_values": [""],
                             "inputs": [{"name": "clip", "type": "CLIP", "link": None},
                                        {"name": "text", "type": "STRING", "link": 1, "widget": {"name": "text"}}],
                             "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": []}]}],
                  "links": [_link_object([1, -10, 0, 1, 1, "STRING"])],
                  "inputNode": {"id": -10, "bounding": [-300, 0, 120, 60]},
                  "outputNode": {"id": -20, "bounding": [500, 0, 120, 60]},
                  "inputs": [{"id": "in-text", "name": "text", "type": "STRING", "linkIds": [1]}], "outputs": [],
                  "widgets": [], "groups": [], "config": {}, "extra": {}}
    first = doc["last_node_id"] + 1
    bottom = max(node["pos"][1] for node in doc["nodes"]) + 900
    instances = [{"id": first + k, "type": definition["id"], "pos": [(k % 10) * 400, bottom + (k // 10) * 300],
                  "size": [300, 120], "flags": {}, "order": 0, "mode": 0, "properties": {},
                  "inputs": [{"name": "text", "type": "STRING", "link": None, "widget": {"name": "text"}}],
                  "outputs": [], "widgets_values": [f"prompt {k}"]} for k in range(count)]
    return {**doc, "nodes": doc["nodes"] + instances, "last_node_id": first + count - 1,
            "definitions": {"subgraphs": [definition]}}


def frame_figures(page, action) -> tuple[float, float, float]:
    """Runs ``action`` while recording animation frames: (frames per second, median and 95th-percentile interval ms)."""
    page.evaluate(RECORD_FRAMES)
    action()
    frames = page.evaluate("() => window.__frames")
    intervals = sorted(b - a for a, b in zip(frames, frames[1:], strict=False))
    if not intervals:
        return 0.0, float("nan"), float("nan")
    seconds = (frames[-1] - frames[0]) / 1000
    return (len(frames) - 1) / seconds, statistics.median(intervals), intervals[int(0.95 * (len(intervals) - 1))]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))]


def typing_figures(page, selector: str) -> str:
    """Types ``TYPED`` into the widget one key at a time, each after the last one's paint: latency figures."""
    field = page.locator(selector)
    field.click()
    page.keyboard.press("End")
    page.evaluate(RECORD_KEYSTROKES)
    started = time.perf_counter()
    for count, char in enumerate(TYPED, start=1):
        page.keyboard.type(char)
        page.wait_for_function("n => window.__keys.length >= n", arg=count)
    elapsed = time.perf_counter() - started
    keys = page.evaluate("() => window.__keys")
    long_tasks = page.evaluate("() => window.__longTasks")
    scripts = page.evaluate("() => window.__scripts")
    if not field.input_value().endswith(TYPED):
        raise RuntimeError(f"the prompt reads {field.input_value()!r} after typing")
    return (f"keystroke to paint median {statistics.median(keys):5.1f} ms, 95th pct {percentile(keys, 0.95):6.1f} ms, "
            f"max {max(keys):6.1f} ms; script per key median {statistics.median(scripts):5.1f} ms, "
            f"95th pct {percentile(scripts, 0.95):5.1f} ms; {len(long_tasks)} long tasks ({sum(long_tasks):.0f} ms); "
            f"{len(TYPED)} keys in {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--layout", choices=("root", "subgraph", "instances"), default="root")
    parser.add_argument("--dist", type=Path, help="serve the editor's files from this build instead of web/dist")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    doc = tiled_workflow(-(-args.nodes // 7))
    last, nodes, links = doc["nodes"][-1]["id"], len(doc["nodes"]), len(doc["links"])
    instance = None
    if args.layout == "subgraph":
        doc, instance = inside_subgraph(doc)
    elif args.layout == "instances":
        doc = with_prompt_instances(doc, 40)
    base = Path(tempfile.mkdtemp())
    server = start_server(base)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            if args.dist:
                serve_editor_from(page, server.url, args.dist.resolve())
            page.goto(server.url + "/")
            page.wait_for_selector("[data-testid=node-3]")
            started = time.perf_counter()
            page.dispatch_event("[data-testid=canvas]", "drop",
                                {"dataTransfer": page.evaluate_handle(DROP_JSON, json.dumps(doc))})
            page.wait_for_function("() => document.querySelector('.tabs').innerText.includes('big')")
            if instance is not None:  # with the root's nodes in view, open the subgraph
                page.locator(".react-flow__controls-fitview").click()
                page.click(f"[data-testid=open-subgraph-{instance}]")
                page.wait_for_selector("[data-testid=breadcrumbs]")
            page.locator(".react-flow__controls-fitview").click()
            page.wait_for_selector(f"[data-testid=node-{last}]")
            opened = time.perf_counter() - started
            page.wait_for_timeout(1000)
            shown = page.locator(".react-flow__node").count()
            print(f"CPU: {cpu_model()}; editor from {args.dist or 'web/dist'}; layout {args.layout}")
            print(f"{nodes} nodes, {links} links; {shown} rendered after fit view; "
                  f"opened and fitted in {opened * 1000:.0f} ms")

            def pan() -> None:
                page.mouse.move(800, 20)
                page.mouse.down()
                for step in range(60):
                    page.mouse.move(800 - 5 * step, 20 + 3 * step)
                page.mouse.up()

            def zoom() -> None:
                page.mouse.move(800, 500)
                for step in range(30):
                    page.mouse.wheel(0, -40 if step < 15 else 40)
                    page.wait_for_timeout(16)

            def drag_node() -> None:
                title = page.locator(".graph-node .node-title span").first.bounding_box()
                page.mouse.move(title["x"] + 5, title["y"] + 5)
                page.mouse.down()
                for step in range(60):
                    page.mouse.move(title["x"] + 5 + 3 * step, title["y"] + 5 + step)
                page.mouse.up()

            for name, action in (("pan", pan), ("zoom", zoom), ("drag a node", drag_node)):
                fps, median, p95 = frame_figures(page, action)
                print(f"{name:12s} {fps:5.1f} frames/s, frame interval median {median:5.1f} ms, 95th pct {p95:6.1f} ms")
            print(f"type {len(TYPED)} characters into a prompt: {typing_figures(page, '[data-testid=widget-6-text]')}")
            browser.close()
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
