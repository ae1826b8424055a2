// The active document as React Flow's nodes and edges. Each workflow node, group and link keeps one React Flow
// object for as long as it is unchanged, so after an edit React Flow gets new objects only for what the edit
// touched, and only those re-render.
import type { Edge, Node, NodeProps } from "@xyflow/react";
import { typeColour } from "../model/nodeDefs";
import type { Reroute } from "../model/reroutes";
import { isBoundary } from "../model/subgraphs";
import type { UIGroup, UILink, UINode } from "../model/types";

export const GROUP = "group-"; // React Flow ids of groups; nodes use their numeric ids

const flowNodes = new WeakMap<UINode, Node>();
const flowGroups = new WeakMap<UIGroup, Node>();
const flowEdges = new WeakMap<UILink, Edge>();

/** Whether ``flow`` draws ``node`` as it is now: same place, size and selection. */
function drawsAsIs(flow: Node, node: UINode, selected: boolean): boolean {
  return flow.selected === selected && flow.position.x === node.pos[0] && flow.position.y === node.pos[1]
    && flow.measured?.width === node.size[0] && flow.measured?.height === node.size[1];
}

/** Measured sizes live in the document (node.size) and come back as ``measured``, which React Flow needs on
 * controlled nodes to keep their handle positions (edges) and to draw the minimap. ``before``: the node's React
 * Flow object on the canvas now, kept when the edit changed nothing React Flow draws (a widget's value). */
function toFlowNode(node: UINode, selected: boolean, before: Node | undefined): Node {
  const cached = flowNodes.get(node);
  if (cached?.selected === selected) return cached;
  if (before && drawsAsIs(before, node, selected)) {
    flowNodes.set(node, before);
    return before;
  }
  const boundary = isBoundary(node.id); // a subgraph's inputs or outputs, drawn inside it
  const created: Node = {
    id: String(node.id), type: boundary ? "boundary" : "atelier", position: { x: node.pos[0], y: node.pos[1] },
    data: { nodeId: node.id }, selected, measured: { width: node.size[0], height: node.size[1] },
    ...(boundary ? { deletable: false } : {}),
  };
  flowNodes.set(node, created);
  return created;
}

/** React Flow's nodes for ``nodes``; ``previous`` itself when every one of them is unchanged: typing into a
 * widget then leaves React Flow alone, where a new array makes it look over every node and edge on each key. */
export function toFlowNodes(nodes: UINode[], selected: number[], previous: Node[] = []): Node[] {
  const chosen = new Set(selected);
  const before = new Map(previous.map((flow) => [flow.id, flow]));
  const next = nodes.map((node) => toFlowNode(node, chosen.has(node.id), before.get(String(node.id))));
  return next.length === previous.length && next.every((flow, i) => flow === previous[i]) ? previous : next;
}

function toGroupNode(group: UIGroup, index: number, selected: boolean): Node {
  const cached = flowGroups.get(group);
  if (cached?.selected === selected && cached.id === `${GROUP}${index}`) return cached;
  const [x, y, width, height] = group.bounding;
  const created: Node = {
    id: `${GROUP}${index}`, type: "groupBox", position: { x, y }, width, height, measured: { width, height },
    zIndex: -1, className: "group-node", dragHandle: ".group-title", data: { index }, selected,
  };
  flowGroups.set(group, created);
  return created;
}

export function toGroupNodes(groups: UIGroup[], selected: number[]): Node[] {
  return groups.map((group, index) => toGroupNode(group, index, selected.includes(index)));
}

function samePoints(a: Reroute[] | undefined, b: Reroute[] | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.length === b.length && a.every((point, i) => point === b[i]));
}

/** ``points``: the reroutes the link is drawn through, if any. */
function toFlowEdge(link: UILink, points: Reroute[] | undefined): Edge {
  const cached = flowEdges.get(link);
  if (cached && samePoints(cached.data?.points as Reroute[] | undefined, points)) return cached;
  const created: Edge = {
    id: String(link[0]), source: String(link[1]), sourceHandle: `out-${link[2]}`, target: String(link[3]),
    targetHandle: `in-${link[4]}`, style: { stroke: typeColour(link[5]), strokeWidth: 2 },
    ...(points ? { type: "routed", data: { points } } : {}),
  };
  flowEdges.set(link, created);
  return created;
}

export function toFlowEdges(links: UILink[], waypoints: Map<number, Reroute[]>): Edge[] {
  return links.map((link) => toFlowEdge(link, waypoints.get(link[0])));
}

/** GraphNode draws its workflow node from the store (which re-renders it when that node changes) and only
 * ``selected`` from React Flow: a moved or re-measured node need not re-render for its props. */
export function sameGraphNodeProps(previous: NodeProps, next: NodeProps): boolean {
  return previous.id === next.id && previous.selected === next.selected;
}
