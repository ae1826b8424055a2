// Groups: titled boxes in a UI-format workflow (`groups[i].bounding` is [x, y, width, height]). As in ComfyUI,
// a group holds the nodes whose top-left corner lies inside it, and moving the group moves them.
import type { UIGroup, UINode, UIWorkflow } from "./types";

const PADDING = 20;
const TITLE_HEIGHT = 40;

function inside(node: UINode, [x, y, width, height]: UIGroup["bounding"]): boolean {
  return node.pos[0] >= x && node.pos[0] <= x + width && node.pos[1] >= y && node.pos[1] <= y + height;
}

export function nodesInGroup(doc: UIWorkflow, index: number): UINode[] {
  const group = doc.groups?.[index];
  return group ? doc.nodes.filter((node) => inside(node, group.bounding)) : [];
}

/** A new group framing ``ids`` (using each node's size); the document is unchanged when ``ids`` is empty. */
export function groupAround(doc: UIWorkflow, ids: number[], title = "Group"): UIWorkflow {
  const members = doc.nodes.filter((node) => ids.includes(node.id));
  if (!members.length) return doc;
  const left = Math.min(...members.map((n) => n.pos[0])) - PADDING;
  const top = Math.min(...members.map((n) => n.pos[1])) - PADDING - TITLE_HEIGHT;
  const right = Math.max(...members.map((n) => n.pos[0] + n.size[0])) + PADDING;
  const bottom = Math.max(...members.map((n) => n.pos[1] + n.size[1])) + PADDING;
  const group: UIGroup = { title, bounding: [left, top, right - left, bottom - top], color: "#3f789e", font_size: 24 };
  return { ...doc, groups: [...(doc.groups ?? []), group] };
}

/** Moves group ``index`` to ``to`` (its new top-left corner), carrying the nodes inside it. */
export function moveGroup(doc: UIWorkflow, index: number, to: [number, number]): UIWorkflow {
  const group = doc.groups?.[index];
  if (!group) return doc;
  const [x, y, width, height] = group.bounding;
  const [dx, dy] = [to[0] - x, to[1] - y];
  const members = new Set(nodesInGroup(doc, index).map((node) => node.id));
  return {
    ...doc,
    groups: doc.groups!.map((g, i) => (i === index ? { ...g, bounding: [to[0], to[1], width, height] } : g)),
    nodes: doc.nodes.map((node) => (members.has(node.id) ? { ...node, pos: [node.pos[0] + dx, node.pos[1] + dy] } : node)),
  };
}

export function updateGroup(doc: UIWorkflow, index: number, change: Partial<UIGroup>): UIWorkflow {
  return { ...doc, groups: (doc.groups ?? []).map((g, i) => (i === index ? { ...g, ...change } : g)) };
}

/** Removes the groups (their nodes stay). */
export function removeGroups(doc: UIWorkflow, indices: Set<number>): UIWorkflow {
  return { ...doc, groups: (doc.groups ?? []).filter((_, i) => !indices.has(i)) };
}
