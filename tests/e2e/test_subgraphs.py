"""Subgraphs in the editor, in a real browser against the real server: make one from a selection and run it,
open it and come back, rename an input, unpack it; promote a widget, add an input, remove an output; and undo."""

from __future__ import annotations

import pytest

from tests.e2e.test_editor import editor_server, fill, page, sync_api  # noqa: F401  (fixtures and helpers)

pytestmark = pytest.mark.e2e


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
    page.wait_for_selector("[data-testid=node-9] [data-testid=output-image]", timeout=120_000)  # a busy CPU
    assert page.locator("[data-testid=progress-10]").count() == 1, "the instance shows its sampler's progress"

    instance.locator(".node-title span").first.dblclick()
    page.wait_for_selector("[data-testid=breadcrumbs]")
    page.wait_for_selector("[data-testid=node-3]")
    sync_api.expect(page.locator("[data-testid=boundary-inputs]")).to_have_count(1)
    assert page.locator("[data-testid=subgraph-inputs-0]").inner_text() == "model"
    page.dblclick("[data-testid=subgraph-inputs-0]")
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
