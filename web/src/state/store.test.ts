// Undo, redo and measured sizes on the store, with structurally shared documents.
import { beforeEach, describe, expect, it } from "vitest";
import defaultGraph from "../model/__fixtures__/default_graph.json";
import { setWidget } from "../model/document";
import type { UIWorkflow } from "../model/types";
import { activeTab, editDoc, getState, openTab, recordNodeSizes, redo, setState, undo } from "./store";

const graph = () => structuredClone(defaultGraph) as unknown as UIWorkflow;
const doc = () => activeTab()!.doc;

describe("the active document in the store", () => {
  beforeEach(() => {
    setState({ tabs: [], active: "" });
    openTab("default", graph());
  });

  it("undo and redo bring back the very documents, so untouched nodes keep their objects throughout", () => {
    const original = doc();
    editDoc((d) => setWidget(d, 6, 0, "a"));
    editDoc((d) => setWidget(d, 6, 0, "ab"));
    const typed = doc();
    expect(typed.nodes.filter((node) => !original.nodes.includes(node)).map((node) => node.id)).toEqual([6]);
    undo();
    undo();
    expect(doc()).toBe(original);
    redo();
    redo();
    expect(doc()).toBe(typed);
  });

  it("an edit that changes nothing adds no undo step", () => {
    editDoc((d) => setWidget(d, 3, 2, 20));
    expect(activeTab()!.undo).toHaveLength(0);
    expect(activeTab()!.dirty).toBe(false);
  });

  it("edits go to the active tab only", () => {
    const first = activeTab()!;
    openTab("second", graph());
    editDoc((d) => setWidget(d, 6, 0, "second tab"));
    expect(getState().tabs[0]).toBe(first);
  });

  it("recording sizes renews only the nodes whose size changed, and nothing when none did", () => {
    const before = doc();
    const node8 = before.nodes.find((n) => n.id === 8)!;
    recordNodeSizes(new Map([[8, node8.size], [9, [321, 123]]]));
    const after = doc();
    expect(after.nodes.filter((node) => !before.nodes.includes(node)).map((node) => node.id)).toEqual([9]);
    const tabs = getState().tabs;
    recordNodeSizes(new Map([[9, [321, 123]]]));
    expect(getState().tabs).toBe(tabs);
  });
});
