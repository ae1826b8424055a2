// Edits of a UI-format workflow. The document is the single source of truth: every edit returns a new one,
// which makes undo/redo a stack of documents and saving lossless (unknown fields are carried along). Edits never
// mutate: they copy only what they change and share the rest, so unchanged nodes and links keep their objects
// (the canvas re-renders by identity, and undo steps share what they have in common).
import { defaultWidgetValues, type NodeDef, typesMatch } from "./nodeDefs";
import type { UILink, UINode, UIWorkflow } from "./types";

export function emptyWorkflow(): UIWorkflow {
  return { last_node_id: 0, last_link_id: 0, nodes: [], links: [], groups: [], config: {}, extra: {}, version: 0.4 };
}

/** ``doc`` with node ``id`` replaced by ``change(node)``. Every other node, and every link, keeps its object, so
 * the canvas re-renders only what an edit touched; ``doc`` itself comes back when there is no such node. */
export function withNode(doc: UIWorkflow, id: number, change: (node: UINode) => UINode): UIWorkflow {
  const index = doc.nodes.findIndex((n) => n.id === id);
  if (index < 0) return doc;
  const node = change(doc.nodes[index]);
  if (node === doc.nodes[index]) return doc;
  return { ...doc, nodes: doc.nodes.map((n, i) => (i === index ? node : n)) };
}

const nodeIndexes = new WeakMap<UINode[], Map<number, UINode>>();

/** Node ``id`` of ``doc``, through an index built once per nodes array: every node on the canvas looks itself up
 * after each change, and a search each would cost the square of the graph's size. */
export function nodeById(doc: UIWorkflow, id: number): UINode | undefined {
  return nodeIn(doc.nodes, id);
}

/** Node ``id`` of a list of nodes (a graph's or a subgraph definition's), through the same index. */
export function nodeIn(nodes: UINode[], id: number): UINode | undefined {
  let index = nodeIndexes.get(nodes);
  if (!index) {
    index = new Map(nodes.map((node) => [node.id, node]));
    nodeIndexes.set(nodes, index);
  }
  return index.get(id);
}

/** ``items`` with the entry at ``index`` replaced by ``change(entry)``; ``items`` itself when there is none. */
function replaceAt<T>(items: T[] | undefined, index: number, change: (item: T) => T): T[] | undefined {
  if (!items || index < 0 || index >= items.length) return items;
  return items.map((item, i) => (i === index ? change(item) : item));
}

export function addNode(doc: UIWorkflow, def: NodeDef, pos: [number, number]): [UIWorkflow, number] {
  const id = doc.last_node_id + 1;
  const node: UINode = {
    id, type: def.name, pos, size: [280, 120], flags: {}, order: doc.nodes.length, mode: 0,
    inputs: def.sockets.map((s) => ({ name: s.name, type: s.type, link: null })),
    outputs: def.outputs.map((o, index) => ({ name: o.name, type: o.type, links: [], slot_index: index })),
    properties: { "Node name for S&R": def.name },
    widgets_values: defaultWidgetValues(def),
  };
  return [{ ...doc, last_node_id: id, nodes: [...doc.nodes, node] }, id];
}

export function removeNodes(doc: UIWorkflow, ids: Set<number>): UIWorkflow {
  let next = doc;
  for (const link of doc.links.filter((l) => ids.has(l[1]) || ids.has(l[3]))) next = removeLink(next, link[0]);
  const nodes = next.nodes.filter((n) => !ids.has(n.id));
  return nodes.length === next.nodes.length ? next : { ...next, nodes };
}

export function removeLink(doc: UIWorkflow, linkId: number): UIWorkflow {
  const link = doc.links.find((l) => l[0] === linkId);
  if (!link) return doc;
  const [, origin, slot, target, targetSlot] = link;
  let next: UIWorkflow = { ...doc, links: doc.links.filter((l) => l !== link) };
  next = withNode(next, origin, (node) => ({
    ...node, outputs: replaceAt(node.outputs, slot, (out) => ({ ...out, links: out.links && out.links.filter((id) => id !== linkId) })),
  }));
  return withNode(next, target, (node) => (node.inputs?.[targetSlot]?.link !== linkId ? node : {
    ...node, inputs: replaceAt(node.inputs, targetSlot, (input) => ({ ...input, link: null })),
  }));
}

export function canConnect(doc: UIWorkflow, origin: number, slot: number, target: number, targetSlot: number): boolean {
  const from = doc.nodes.find((n) => n.id === origin)?.outputs?.[slot];
  const to = doc.nodes.find((n) => n.id === target)?.inputs?.[targetSlot];
  return Boolean(from && to && origin !== target && typesMatch(from.type, to.type));
}

export function connect(doc: UIWorkflow, origin: number, slot: number, target: number, targetSlot: number): UIWorkflow {
  if (!canConnect(doc, origin, slot, target, targetSlot)) return doc;
  const existing = doc.nodes.find((n) => n.id === target)?.inputs?.[targetSlot]?.link;
  let next = existing != null ? removeLink(doc, existing) : doc;
  const id = next.last_link_id + 1;
  const type = next.nodes.find((n) => n.id === origin)!.outputs![slot].type;
  next = { ...next, last_link_id: id, links: [...next.links, [id, origin, slot, target, targetSlot, type] as UILink] };
  next = withNode(next, origin, (node) => ({
    ...node, outputs: replaceAt(node.outputs, slot, (out) => ({ ...out, links: [...(out.links ?? []), id] })),
  }));
  return withNode(next, target, (node) => ({
    ...node, inputs: replaceAt(node.inputs, targetSlot, (input) => ({ ...input, link: id })),
  }));
}

/** ``change`` edits a copy of the node; the rest of the document is shared with ``doc``. */
export function updateNode(doc: UIWorkflow, id: number, change: (node: UINode) => void): UIWorkflow {
  return withNode(doc, id, (node) => {
    const copy = structuredClone(node);
    change(copy);
    return copy;
  });
}

export function setWidget(doc: UIWorkflow, id: number, index: number, value: unknown): UIWorkflow {
  return withNode(doc, id, (node) => {
    const current = node.widgets_values;
    if (Array.isArray(current) && index < current.length && current[index] === value) return node;
    const values = Array.isArray(current) ? [...current] : [];
    values[index] = value;
    return { ...node, widgets_values: values };
  });
}

/** Only the moved nodes are new objects: a drag then re-renders those nodes alone. */
export function moveNodes(doc: UIWorkflow, positions: Map<number, [number, number]>): UIWorkflow {
  return { ...doc, nodes: doc.nodes.map((node) => (positions.has(node.id) ? { ...node, pos: positions.get(node.id)! } : node)) };
}

/** A widget becomes a socket (and back): the value stays in widgets_values, as ComfyUI keeps it. */
export function toggleWidgetInput(doc: UIWorkflow, id: number, widget: string, type: string): UIWorkflow {
  const node = doc.nodes.find((n) => n.id === id);
  if (!node) return doc;
  const index = (node.inputs ?? []).findIndex((slot) => slot.widget?.name === widget);
  if (index < 0) {
    return withNode(doc, id, (n) => ({ ...n, inputs: [...(n.inputs ?? []), { name: widget, type, link: null, widget: { name: widget } }] }));
  }
  const link = node.inputs![index].link;
  let next = link != null ? removeLink(doc, link) : doc;
  next = withNode(next, id, (n) => ({ ...n, inputs: n.inputs!.filter((_, i) => i !== index) }));
  const shifted = (l: UILink): UILink => [l[0], l[1], l[2], l[3], l[4] - 1, l[5]];
  return { ...next, links: next.links.map((l) => (l[3] === id && l[4] > index ? shifted(l) : l)) };
}

/** Copies of ``nodes`` (with the links between them) pasted at an offset. */
export function duplicate(doc: UIWorkflow, nodes: UINode[], links: UILink[], offset: [number, number]): [UIWorkflow, number[]] {
  const mapping = new Map<number, number>();
  let lastId = doc.last_node_id;
  const copies = nodes.map((node): UINode => {
    const copy = structuredClone(node);
    copy.id = ++lastId;
    copy.pos = [node.pos[0] + offset[0], node.pos[1] + offset[1]];
    copy.inputs = (copy.inputs ?? []).map((s) => ({ ...s, link: null }));
    copy.outputs = (copy.outputs ?? []).map((s) => ({ ...s, links: [] }));
    mapping.set(node.id, copy.id);
    return copy;
  });
  let result: UIWorkflow = { ...doc, last_node_id: lastId, nodes: [...doc.nodes, ...copies] };
  for (const link of links) {
    const origin = mapping.get(link[1]);
    const target = mapping.get(link[3]);
    if (origin != null && target != null) result = connect(result, origin, link[2], target, link[4]);
  }
  return [result, [...mapping.values()]];
}
