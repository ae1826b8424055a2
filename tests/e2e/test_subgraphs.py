"""Subgraphs in the editor, in a real browser against the real server: make one from a selection and run it,
open it and come back, rename an input, unpack it; promote a widget, add an input, remove an output; rename and
remove an output; unpack a nested subgraph; and undo."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_editor import drop_workflow, editor_server, fill, page, sync_api  # noqa: F401  (fixtures, helpers)
from tests.server.api_client import get_json, http
from tests.workflows import corpus

pytestmark = pytest.mark.e2e


def start_rename(page, side: str, index: int) -> None:  # noqa: F811
    """Double-click a subgraph boundary slot until its rename field shows: the opened subgraph's view may still be
    settling when the first double-click lands, on the canvas, which opens the node palette (closed again here)."""
    field = page.locator(f"[data-testid=rename-{side}-{index}]")
    for _ in range(3):
        if page.locator(".palette-backdrop").count():
            page.locator(".palette-backdrop").click(position={"x": 3, "y": 3})  # outside the palette: closes it
            page.locator(".palette-backdrop").wait_for(state="detached")
        page.dblclick(f"[data-testid=subgraph-{side}-{index}]")
        try:
            field.wait_for(timeout=2000)
            return
        except sync_api.TimeoutError:
            continue
    field.wait_for()


def select(page, *nodes: int) -> None:  # noqa: F811
    page.click(f"[data-testid=node-{nodes[0]}] .node-title span")
    for node in nodes[1:]:
        page.click(f"[data-testid=node-{node}] .node-title span", modifiers=["Shift"])


def test_make_run_open_rename_unpack_and_undo_a_subgraph(page):  # noqa: F811
    fill(page, "widget-5-width", "64")
    fill(page, "widget-5-height", "64")
    fill(page, "widget-3-steps", "3")
    select(page, 3, 8)  # the sampler and the decoder
    page.click("[data-testid=to-subgraph]")
    instance = page.locator("[data-testid=node-10]")
    instance.wait_for()
    sync_api.expect(page.locator("[data-testid=node-3]")).to_have_count(0)
    assert "subgraph" in instance.locator(".node-title").inner_text()

    page.click("[data-testid=queue-button]")  # the server converts it: nodes "10:3" and "10:8" run
    page.wait_for_selector("[data-testid=node-9] [data-testid=output-image]", timeout=240_000)  # a busy CPU, cold
    assert page.locator("[data-testid=progress-10]").count() == 1, "the instance shows its sampler's progress"

    instance.locator(".node-title span").first.dblclick()
    page.wait_for_selector("[data-testid=breadcrumbs]")
    page.wait_for_selector("[data-testid=node-3]")
    sync_api.expect(page.locator("[data-testid=boundary-inputs]")).to_have_count(1)
    assert page.locator("[data-testid=subgraph-inputs-0]").inner_text() == "model"
    start_rename(page, "inputs", 0)
    fill(page, "rename-inputs-0", "the model")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("[data-testid=subgraph-inputs-0]")).to_have_text("the model")
    page.click("[data-testid=crumb-0]")
    sync_api.expect(page.locator("[data-testid=breadcrumbs]")).to_have_count(0)
    sync_api.expect(page.locator("[data-testid=input-10-0]")).to_have_text("the model")

    page.click("[data-testid=unpack-10]")
    sync_api.expect(instance).to_have_count(0)
    sync_api.expect(page.locator(".graph-node", has_text="KSampler")).to_have_count(1)
    assert page.locator(".react-flow__edge").count() == 9, "every link of the default graph is back"
    page.keyboard.press("Control+z")
    instance.wait_for()
    sync_api.expect(page.locator("[data-testid=input-10-0]")).to_have_text("the model")
    page.keyboard.press("Control+z")  # the rename
    sync_api.expect(page.locator("[data-testid=input-10-0]")).to_have_text("model")


def test_promote_add_and_remove_subgraph_slots_and_undo_them(page):  # noqa: F811
    select(page, 3, 8)
    page.click("[data-testid=to-subgraph]")
    instance = page.locator("[data-testid=node-10]")
    instance.locator(".node-title span").first.dblclick()
    page.wait_for_selector("[data-testid=breadcrumbs]")
    inputs = page.locator("[data-testid=boundary-inputs] .socket")
    sync_api.expect(inputs).to_have_count(6)  # model, positive, negative, latent_image, vae and the empty slot

    page.click("[data-testid=promote-3-steps]")  # a widget promoted: a new input feeding it
    sync_api.expect(page.locator("[data-testid=subgraph-inputs-5]")).to_have_text("steps")
    page.locator("[data-testid=node-3] .widget-row", has=page.locator("[data-testid=widget-3-cfg]")).locator(
        ".to-input").click()  # cfg as an input, then a link from the empty slot to it adds an input
    cfg = page.locator("[data-testid=node-3] .socket.in", has=page.get_by_text("cfg", exact=True))
    empty = page.locator("[data-testid=boundary-inputs] .socket").last.locator(".react-flow__handle")
    empty.drag_to(cfg.locator(".react-flow__handle"))
    sync_api.expect(page.locator("[data-testid=subgraph-inputs-6]")).to_have_text("cfg")
    page.click("[data-testid=remove-outputs-0]")  # the decoded image leaves the subgraph no more
    sync_api.expect(page.locator("[data-testid=boundary-outputs] .socket")).to_have_count(1)

    page.click("[data-testid=crumb-0]")
    fill(page, "widget-10-steps", "2")  # both promoted widgets are on the instance, and edited there
    page.locator("[data-testid=widget-10-steps]").blur()  # Control+Z goes to the editor, not to the field
    sync_api.expect(page.locator("[data-testid=widget-10-cfg]")).to_have_count(1)
    sync_api.expect(page.locator("[data-testid=output-10-0]")).to_have_count(0)

    for _ in range(4):  # the value, the removal, the new input, the cfg input (each one undo step)
        page.keyboard.press("Control+z")
    sync_api.expect(page.locator("[data-testid=output-10-0]")).to_have_count(1)
    sync_api.expect(page.locator("[data-testid=widget-10-cfg]")).to_have_count(0)
    sync_api.expect(page.locator("[data-testid=widget-10-steps]")).to_have_value("20")
    page.keyboard.press("Control+z")  # the promotion
    sync_api.expect(page.locator("[data-testid=widget-10-steps]")).to_have_count(0)


def test_rename_and_remove_a_subgraph_output_and_undo(page):  # noqa: F811
    select(page, 4)  # the checkpoint loader: a subgraph with three outputs, MODEL, CLIP and VAE
    page.click("[data-testid=to-subgraph]")
    page.locator("[data-testid=node-10]").wait_for()
    edges = page.locator(".react-flow__edge")
    sync_api.expect(edges).to_have_count(9)
    assert [page.locator(f"[data-testid=output-10-{i}]").inner_text() for i in range(3)] == ["MODEL", "CLIP", "VAE"]

    page.click("[data-testid=open-subgraph-10]")
    page.wait_for_selector("[data-testid=breadcrumbs]")
    page.wait_for_selector("[data-testid=node-4]")  # the loader inside: the subgraph's view is drawn
    start_rename(page, "outputs", 0)
    fill(page, "rename-outputs-0", "the model")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("[data-testid=subgraph-outputs-0]")).to_have_text("the model")
    page.click("[data-testid=remove-outputs-1]")  # CLIP: both prompts lose their clip input
    sync_api.expect(page.locator("[data-testid=subgraph-outputs-1]")).to_have_text("VAE")
    page.click("[data-testid=crumb-0]")
    sync_api.expect(page.locator("[data-testid=breadcrumbs]")).to_have_count(0)
    sync_api.expect(page.locator("[data-testid=output-10-0]")).to_have_text("the model")
    sync_api.expect(page.locator("[data-testid=output-10-1]")).to_have_text("VAE")
    sync_api.expect(page.locator("[data-testid=output-10-2]")).to_have_count(0)
    sync_api.expect(edges).to_have_count(7)  # the VAE link moved up a slot and still reaches the decoder
    page.keyboard.press("Control+z")  # the removal
    sync_api.expect(page.locator("[data-testid=output-10-1]")).to_have_text("CLIP")
    sync_api.expect(edges).to_have_count(9)
    page.keyboard.press("Control+z")  # the rename
    sync_api.expect(page.locator("[data-testid=output-10-0]")).to_have_text("MODEL")


def by_class(prompt: dict) -> list:
    """A prompt without its ids (unpacking gives the nodes new ones): each node's class and inputs, a link named by
    the class of the node it leaves."""
    def value(entry):
        if isinstance(entry, list) and len(entry) == 2:
            return prompt[entry[0]]["class_type"], entry[1]
        return int(entry) if isinstance(entry, float) and entry.is_integer() else entry  # JavaScript writes 5.0 as 5
    return sorted(json.dumps([node["class_type"], sorted((name, value(v)) for name, v in node["inputs"].items())])
                  for node in prompt.values())


def converted(url: str, name: str) -> dict:
    """The prompt the server converts the saved workflow ``name`` to."""
    workflow = get_json(f"{url}/api/userdata/workflows%2F{name}.json")
    status, body = http(url + "/api/atelier/convert", {"workflow": workflow})
    assert status == 200, body
    return json.loads(body)["prompt"]


def test_unpack_a_nested_subgraph_inside_its_parent_then_the_parent(page, editor_server):  # noqa: F811
    case = corpus.nested_subgraph_with_bypass(seed=11)  # 10 holds 20 (sampler, bypassed upscale) and a decoder
    flat = by_class(corpus.flat_prompt(seed=11))  # the seed promoted to 20, then to 10, and set there
    drop_workflow(page, case.ui, "nested")
    page.click("[data-testid=open-subgraph-10]")
    page.wait_for_selector("[data-testid=breadcrumbs]")
    page.click("[data-testid=unpack-20]")
    sync_api.expect(page.locator("[data-testid=node-20]")).to_have_count(0)
    sync_api.expect(page.locator(".graph-node", has_text="KSampler")).to_have_count(1)
    sync_api.expect(page.locator(".graph-node.bypassed")).to_have_count(1)  # the upscale, still bypassed
    sync_api.expect(page.locator("[data-testid=crumb-1]")).to_have_text("Sample and decode")

    def saved_prompt() -> dict:
        page.click("[data-testid=save-workflow]")
        sync_api.expect(page.locator(".tab.active .dirty")).to_have_count(0)
        return converted(editor_server.url, "nested")

    prompt = saved_prompt()
    assert by_class(prompt) == flat, "the inner sampler now sits in 10 and keeps the promoted seed"
    assert sorted(key.count(":") for key in prompt) == [0, 0, 0, 0, 0, 1, 1], "sampler and decoder inside 10"

    page.click("[data-testid=crumb-0]")
    page.click("[data-testid=unpack-10]")
    sync_api.expect(page.locator("[data-testid=node-10]")).to_have_count(0)
    sync_api.expect(page.locator(".graph-node", has_text="KSampler")).to_have_count(1)
    prompt = saved_prompt()
    assert by_class(prompt) == flat and all(":" not in key for key in prompt), "a flat workflow again"
    sync_api.expect(page.locator(".react-flow__edge")).to_have_count(10)  # with the bypassed upscale's two

    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    page.click("[data-testid=open-subgraph-10]")
    sync_api.expect(page.locator("[data-testid=node-20]")).to_have_count(1)
