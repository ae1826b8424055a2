// Edits share what they leave alone: untouched nodes, links, groups and extra keep their objects.
import { describe, expect, it } from "vitest";
import defaultGraph from "./__fixtures__/default_graph.json";
import { objectInfo } from "./__fixtures__/objectInfo";
import { applyControls } from "./controls";
import { addNode, connect, duplicate, nodeById, removeLink, removeNodes, setWidget, toggleWidgetInput, updateNode } from "./document";
import { buildNodeDef, type NodeDef } from "./nodeDefs";
import type { UIWorkflow } from "./types";

const defs: Record<string, NodeDef> = Object.fromEntries(Object.values(objectInfo).map((info) => [info.name, buildNodeDef(info)]));
const graph = () => structuredClone(defaultGraph) as unknown as UIWorkflow;

/** Ids of the nodes of ``after`` that are not the very objects of ``before``. */
function changedNodes(before: UIWorkflow, after: UIWorkflow): number[] {
  return after.nodes.filter((node) => !before.nodes.includes(node)).map((node) => node.id);
}

describe("structural sharing of edits", () => {
  it("a widget edit replaces only the edited node", () => {
    const doc = graph();
    const edited = setWidget(doc, 6, 0, "a fox");
    expect(changedNodes(doc, edited)).toEqual([6]);
    expect(edited.links).toBe(doc.links);
    expect(edited.groups).toBe(doc.groups);
    expect(edited.extra).toBe(doc.extra);
    expect(nodeById(edited, 6)!.widgets_values).toEqual(["a fox"]);
    expect(nodeById(doc, 6)!.widgets_values).toEqual(["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"]);
  });

  it("setting a widget to the value it has changes nothing", () => {
    const doc = graph();
    expect(setWidget(doc, 3, 2, 20)).toBe(doc);
    expect(setWidget(doc, 99, 0, "no such node")).toBe(doc);
  });

  it("connecting replaces the two ends, the replaced link's origin and nothing else", () => {
    const doc = graph();
    const connected = connect(doc, 7, 0, 3, 1); // the negative prompt into positive: link 2 from node 6 goes
    expect(changedNodes(doc, connected).sort()).toEqual([3, 6, 7]);
    expect(connected.links.filter((link) => !doc.links.includes(link)).map((link) => link[0])).toEqual([10]);
    expect(connected.links.filter((link) => link[0] !== 10).every((link) => doc.links.includes(link))).toBe(true);
  });

  it("removing a link or a node touches only the nodes at its ends", () => {
    const doc = graph();
    expect(changedNodes(doc, removeLink(doc, 9)).sort()).toEqual([8, 9]);
    expect(removeLink(doc, 99)).toBe(doc);
    const removed = removeNodes(doc, new Set([9]));
    expect(changedNodes(doc, removed)).toEqual([8]);
    expect(removed.links.every((link) => doc.links.includes(link))).toBe(true);
  });

  it("node-level edits keep every other node", () => {
    const doc = graph();
    expect(changedNodes(doc, updateNode(doc, 5, (node) => { node.mode = 2; }))).toEqual([5]);
    expect(changedNodes(doc, toggleWidgetInput(doc, 3, "steps", "INT"))).toEqual([3]);
    expect(changedNodes(doc, addNode(doc, defs.ImageInvert, [0, 0])[0])).toEqual([10]);
    const [pasted, ids] = duplicate(doc, doc.nodes.filter((n) => n.id === 8 || n.id === 9), [doc.links[8]], [40, 40]);
    expect(changedNodes(doc, pasted)).toEqual(ids);
  });

  it("queueing changes only the nodes whose seeds move", () => {
    const doc = setWidget(graph(), 3, 1, "increment");
    expect(changedNodes(doc, applyControls(doc, defs))).toEqual([3]);
    const fixed = setWidget(doc, 3, 1, "fixed");
    expect(applyControls(fixed, defs)).toBe(fixed);
  });

  it("finds nodes by id through an index that follows edits", () => {
    const doc = graph();
    expect(nodeById(doc, 8)!.type).toBe("VAEDecode");
    const edited = setWidget(doc, 9, 0, "fox");
    expect(nodeById(edited, 9)!.widgets_values).toEqual(["fox"]);
    expect(nodeById(edited, 8)).toBe(nodeById(doc, 8));
    expect(nodeById(removeNodes(edited, new Set([8])), 8)).toBeUndefined();
  });
});
