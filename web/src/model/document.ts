// Edits of a UI-format workflow. The document is the single source of truth: every edit returns a new one,
// which makes undo/redo a stack of documents and saving lossless (unknown fields are carried along).
import { defaultWidgetValues, type NodeDef, typesMatch } from "./nodeDefs";
import type { UILink, UINode, UIWorkflow } from "./types";

export function emptyWorkflow(): UIWorkflow {
  return { last_node_id: 0, last_link_id: 0, nodes: [], links: [], groups: [], config: {}, extra: {}, version: 0.4 };
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

export function addNode(doc: UIWorkflow, def: NodeDef, pos: [number, number]): [UIWorkflow, number] {
  const next = clone(doc);
  const id = next.last_node_id + 1;
  next.last_node_id = id;
  const node: UINode = {
    id, type: def.name, pos, size: [280, 120], flags: {}, order: next.nodes.length, mode: 0,
    inputs: def.sockets.map((s) => ({ name: s.name, type: s.type, link: null })),
    outputs: def.outputs.map((o, index) => ({ name: o.name, type: o.type, links: [], slot_index: index })),
    properties: { "Node name for S&R": def.name },
    widgets_values: defaultWidgetValues(def),
  };
  next.nodes.push(node);
  return [next, id];
}

export function removeNodes(doc: UIWorkflow, ids: Set<number>): UIWorkflow {
  let next = clone(doc);
  for (const link of doc.links.filter((l) => ids.has(l[1]) || ids.has(l[3]))) next = removeLink(next, link[0]);
  next.nodes = next.nodes.filter((n) => !ids.has(n.id));
  return next;
}

export function removeLink(doc: UIWorkflow, linkId: number): UIWorkflow {
  const next = clone(doc);
  const link = next.links.find((l) => l[0] === linkId);
  if (!link) return next;
  next.links = next.links.filter((l) => l[0] !== linkId);
  const origin = next.nodes.find((n) => n.id === link[1]);
  const target = next.nodes.find((n) => n.id === link[3]);
  const out = origin?.outputs?.[link[2]];
  if (out?.links) out.links = out.links.filter((id) => id !== linkId);
  const input = target?.inputs?.[link[4]];
  if (input && input.link === linkId) input.link = null;
  return next;
}

export function canConnect(doc: UIWorkflow, origin: number, slot: number, target: number, targetSlot: number): boolean {
  const from = doc.nodes.find((n) => n.id === origin)?.outputs?.[slot];
  const to = doc.nodes.find((n) => n.id === target)?.inputs?.[targetSlot];
  return Boolean(from && to && origin !== target && typesMatch(from.type, to.type));
}

export function connect(doc: UIWorkflow, origin: number, slot: number, target: number, targetSlot: number): UIWorkflow {
  if (!canConnect(doc, origin, slot, target, targetSlot)) return doc;
  let next = clone(doc);
  const existing = next.nodes.find((n) => n.id === target)?.inputs?.[targetSlot]?.link;
  if (existing != null) next = removeLink(next, existing);
  const id = next.last_link_id + 1;
  next.last_link_id = id;
  const from = next.nodes.find((n) => n.id === origin)!;
  const to = next.nodes.find((n) => n.id === target)!;
  const type = from.outputs![slot].type;
  next.links.push([id, origin, slot, target, targetSlot, type] as UILink);
  from.outputs![slot].links = [...(from.outputs![slot].links ?? []), id];
  to.inputs![targetSlot].link = id;
  return next;
}

export function updateNode(doc: UIWorkflow, id: number, change: (node: UINode) => void): UIWorkflow {
  const next = clone(doc);
  const node = next.nodes.find((n) => n.id === id);
  if (node) change(node);
  return next;
}

export function setWidget(doc: UIWorkflow, id: number, index: number, value: unknown): UIWorkflow {
  return updateNode(doc, id, (node) => {
    const values = Array.isArray(node.widgets_values) ? node.widgets_values : [];
    values[index] = value;
    node.widgets_values = values;
  });
}

/** Only the moved nodes are new objects: a drag then re-renders those nodes alone. */
export function moveNodes(doc: UIWorkflow, positions: Map<number, [number, number]>): UIWorkflow {
  return { ...doc, nodes: doc.nodes.map((node) => (positions.has(node.id) ? { ...node, pos: positions.get(node.id)! } : node)) };
}

/** A widget becomes a socket (and back): the value stays in widgets_values, as ComfyUI keeps it. */
export function toggleWidgetInput(doc: UIWorkflow, id: number, widget: string, type: string): UIWorkflow {
  let next = clone(doc);
  const node = next.nodes.find((n) => n.id === id);
  if (!node) return next;
  const index = (node.inputs ?? []).findIndex((slot) => slot.widget?.name === widget);
  if (index < 0) {
    node.inputs = [...(node.inputs ?? []), { name: widget, type, link: null, widget: { name: widget } }];
    return next;
  }
  const link = node.inputs![index].link;
  if (link != null) next = removeLink(next, link);
  const target = next.nodes.find((n) => n.id === id)!;
  target.inputs!.splice(index, 1);
  for (const l of next.links) if (l[3] === id && l[4] > index) l[4] -= 1;
  return next;
}

/** Copies of ``ids`` (with the links between them) pasted at an offset. */
export function duplicate(doc: UIWorkflow, nodes: UINode[], links: UILink[], offset: [number, number]): [UIWorkflow, number[]] {
  const next = clone(doc);
  const mapping = new Map<number, number>();
  for (const node of nodes) {
    const copy = clone(node);
    copy.id = ++next.last_node_id;
    copy.pos = [node.pos[0] + offset[0], node.pos[1] + offset[1]];
    copy.inputs = (copy.inputs ?? []).map((s) => ({ ...s, link: null }));
    copy.outputs = (copy.outputs ?? []).map((s) => ({ ...s, links: [] }));
    mapping.set(node.id, copy.id);
    next.nodes.push(copy);
  }
  let result = next;
  for (const link of links) {
    const origin = mapping.get(link[1]);
    const target = mapping.get(link[3]);
    if (origin != null && target != null) result = connect(result, origin, link[2], target, link[4]);
  }
  return [result, [...mapping.values()]];
}
