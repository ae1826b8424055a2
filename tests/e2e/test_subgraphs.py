"""Subgraphs in the editor, in a real browser against the real server: make one from a selection and run it,
open it and come back, rename an input, unpack it, and undo."""

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
    page.wait_for_selector("[data-testid=node-9] [data-testid=output-image]", timeout=60_000)
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
