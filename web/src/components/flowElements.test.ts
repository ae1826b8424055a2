// React Flow gets new node and edge objects only for what an edit changed; the rest keep their identity, so
// only the edited node re-renders.
import type { NodeProps } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import defaultGraph from "../model/__fixtures__/default_graph.json";
import { connect, moveNodes, setWidget } from "../model/document";
import { addReroute, linkWaypoints, moveReroute } from "../model/reroutes";
import type { UIWorkflow } from "../model/types";
import { sameGraphNodeProps, toFlowEdges, toFlowNodes, toGroupNodes } from "./flowElements";

const graph = () => structuredClone(defaultGraph) as unknown as UIWorkflow;
const flowNodesOf = (doc: UIWorkflow, selected: number[] = []) => toFlowNodes(doc.nodes, selected);
const flowEdgesOf = (doc: UIWorkflow) => toFlowEdges(doc.links, linkWaypoints(doc));

/** React Flow ids of the entries of ``after`` that are new objects compared with ``before``. */
function renewed<T extends { id: string }>(before: T[], after: T[]): string[] {
  return after.filter((item) => !before.includes(item)).map((item) => item.id);
}

describe("React Flow elements of a document", () => {
  it("after a widget edit, only the edited node is a new object, and no edge is", () => {
    const doc = graph();
    const [nodes, edges] = [flowNodesOf(doc), flowEdgesOf(doc)];
    const edited = setWidget(doc, 6, 0, "a fox in the snow");
    expect(renewed(nodes, flowNodesOf(edited))).toEqual(["6"]);
    expect(renewed(edges, flowEdgesOf(edited))).toEqual([]);
  });

  it("given the nodes on the canvas, a widget edit gives that very array back, and a move renews only the node", () => {
    const doc = graph();
    const shown = toFlowNodes(doc.nodes, []);
    expect(toFlowNodes(setWidget(doc, 6, 0, "a fox in the snow").nodes, [], shown)).toBe(shown);
    const moved = toFlowNodes(moveNodes(doc, new Map([[5, [1, 2]]])).nodes, [], shown);
    expect(moved).not.toBe(shown);
    expect(renewed(shown, moved)).toEqual(["5"]);
    expect(toFlowNodes(doc.nodes, [3], shown)).not.toBe(shown);
  });

  it("the same document gives the very same objects", () => {
    const doc = graph();
    const nodes = flowNodesOf(doc);
    expect(flowNodesOf(doc)).toEqual(nodes);
    expect(renewed(nodes, flowNodesOf(doc))).toEqual([]);
  });

  it("selection renews only the nodes whose selection changed", () => {
    const doc = graph();
    const nodes = flowNodesOf(doc, [3]);
    const more = flowNodesOf(doc, [3, 8]);
    expect(renewed(nodes, more)).toEqual(["8"]);
    expect(renewed(more, flowNodesOf(doc, [8]))).toEqual(["3"]);
  });

  it("a moved node, a new link and a moved reroute renew only themselves", () => {
    const doc = graph();
    const [nodes, edges] = [flowNodesOf(doc), flowEdgesOf(doc)];
    expect(renewed(nodes, flowNodesOf(moveNodes(doc, new Map([[5, [1, 2]]]))))).toEqual(["5"]);
    const rewired = connect(doc, 7, 0, 3, 1); // replaces link 2 with link 10
    expect(renewed(edges, flowEdgesOf(rewired))).toEqual(["10"]);
    const routed = addReroute(doc, 9, [900, 300], [[800, 200], [1000, 200]]);
    const routedEdges = flowEdgesOf(routed);
    expect(renewed(edges, routedEdges)).toEqual(["9"]);
    expect(renewed(routedEdges, flowEdgesOf(moveReroute(routed, 1, [950, 320])))).toEqual(["9"]);
  });

  it("group boxes keep their objects while their groups are unchanged", () => {
    const doc = graph();
    const groups = [{ title: "A", bounding: [0, 0, 100, 100] as [number, number, number, number] }];
    const boxes = toGroupNodes(groups, []);
    expect(toGroupNodes(groups, [])[0]).toBe(boxes[0]);
    expect(toGroupNodes(groups, [0])[0]).not.toBe(boxes[0]);
    expect(flowNodesOf(doc)).toHaveLength(7);
  });
});

describe("GraphNode's memo", () => {
  const props = (id: string, selected: boolean, x: number) => ({ id, selected, positionAbsoluteX: x, data: { nodeId: Number(id) } }) as unknown as NodeProps;

  it("re-renders for selection, not for position or a new data object", () => {
    expect(sameGraphNodeProps(props("3", false, 0), props("3", false, 50))).toBe(true);
    expect(sameGraphNodeProps(props("3", false, 0), props("3", true, 0))).toBe(false);
    expect(sameGraphNodeProps(props("3", false, 0), props("4", false, 0))).toBe(false);
  });
});
