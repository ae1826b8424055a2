// Subgraphs as ComfyUI keeps them (`definitions.subgraphs`): reading a workflow's graphs by path, editing the
// graph of an open subgraph, and the edits that make, change and unpack subgraphs. Like every edit of the
// document, each returns a new document and shares what it leaves alone.
//
// A subgraph open on the canvas is shown as a workflow whose nodes include its two boundary nodes: -10, whose
// outputs are the subgraph's inputs, and -20, whose inputs are its outputs, each with one more empty slot that
// a link dropped on adds a new input or output. The ordinary edits of document.ts then work inside subgraphs.
import { nodeIn, removeLink, setWidget, toggleWidgetInput, withNode } from "./document";
import type { NodeDef, WidgetDef } from "./nodeDefs";
import type { SubgraphDef, SubgraphIO, UILink, UINode, UISlotIn, UISlotOut, UIWorkflow } from "./types";

export const INPUT_NODE = -10;
export const OUTPUT_NODE = -20;
const BOUNDARY_WIDTH = 140;

/** What reading subgraph definitions needs. A component that only reads them passes ``{ definitions }``, so that
 * it re-renders when they change rather than on every edit of the document. */
export type Definitions = Pick<UIWorkflow, "definitions">;

export function subgraphsOf(doc: Definitions): SubgraphDef[] {
  return doc.definitions?.subgraphs ?? [];
}

const definitionIndexes = new WeakMap<SubgraphDef[], Map<string, SubgraphDef>>();

export function subgraphById(doc: Definitions, id: string): SubgraphDef | undefined {
  const list = subgraphsOf(doc);
  let index = definitionIndexes.get(list);
  if (!index) {
    index = new Map(list.map((def) => [def.id, def]));
    definitionIndexes.set(list, index);
  }
  return index.get(id);
}

/** The definition a node instances, if it is a subgraph instance. */
export function subgraphOf(doc: Definitions, node: UINode): SubgraphDef | undefined {
  return subgraphById(doc, node.type);
}

function withSubgraph(doc: UIWorkflow, id: string, change: (def: SubgraphDef) => SubgraphDef): UIWorkflow {
  const list = subgraphsOf(doc);
  const old = subgraphById(doc, id);
  if (!old) return doc;
  const def = change(old);
  if (def === old) return doc;
  return { ...doc, definitions: { ...doc.definitions, subgraphs: list.map((d) => (d === old ? def : d)) } };
}

// ---- Graphs by path -------------------------------------------------------------------------------------------

/** The definitions along ``path`` (instance node ids from the root inwards), as far as the path is valid. */
export function subgraphPath(doc: UIWorkflow, path: number[]): SubgraphDef[] {
  const defs: SubgraphDef[] = [];
  let nodes = doc.nodes;
  for (const id of path) {
    const node = nodeIn(nodes, id); // every node on the canvas asks for its graph after each edit
    const def = node && subgraphOf(doc, node);
    if (!def) break;
    defs.push(def);
    nodes = def.nodes;
  }
  return defs;
}

/** ``path`` cut where it stops naming an instance (after an undo took the subgraph away, say). */
export function validPath(doc: UIWorkflow, path: number[]): number[] {
  const length = subgraphPath(doc, path).length;
  return length === path.length ? path : path.slice(0, length);
}

function ioSlots<T>(list: SubgraphIO[], make: (io: SubgraphIO) => T, empty: T): T[] {
  return [...list.map(make), empty];
}

const boundaryInputs = new WeakMap<SubgraphDef, UINode>();
const boundaryOutputs = new WeakMap<SubgraphDef, UINode>();

function boundaryNode(def: SubgraphDef, which: "input" | "output"): UINode {
  const cache = which === "input" ? boundaryInputs : boundaryOutputs;
  const cached = cache.get(def);
  if (cached) return cached;
  const { id, bounding } = which === "input" ? def.inputNode : def.outputNode;
  const node: UINode = {
    id, type: `subgraph/${which}`, pos: [bounding[0], bounding[1]], size: [bounding[2], bounding[3]], flags: {},
    order: 0, mode: 0, properties: {},
  };
  if (which === "input") {
    node.outputs = ioSlots<UISlotOut>(def.inputs, (io) => ({ name: io.label ?? io.name, type: io.type, links: io.linkIds ?? [] }),
      { name: "", type: "*", links: [] });
  } else {
    node.inputs = ioSlots<UISlotIn>(def.outputs, (io) => ({ name: io.label ?? io.name, type: io.type, link: io.linkIds?.[0] ?? null }),
      { name: "", type: "*", link: null });
  }
  cache.set(def, node);
  return node;
}

const views = new WeakMap<SubgraphDef, UIWorkflow>();

/** A subgraph as a workflow with its boundary nodes, the same object for as long as the definition is. */
function subgraphView(def: SubgraphDef, doc: UIWorkflow): UIWorkflow {
  let view = views.get(def);
  if (!view) {
    view = {
      last_node_id: doc.last_node_id, last_link_id: doc.last_link_id, version: doc.version, links: def.links,
      nodes: [boundaryNode(def, "input"), boundaryNode(def, "output"), ...def.nodes], groups: def.groups ?? [],
      extra: def.extra ?? {},
    };
    views.set(def, view);
  }
  return view;
}

/** The graph open at ``path``: the document itself at the root. */
export function graphAt(doc: UIWorkflow, path: number[]): UIWorkflow {
  const defs = subgraphPath(doc, path);
  return defs.length ? subgraphView(defs[defs.length - 1], doc) : doc;
}

export const isBoundary = (id: number) => id === INPUT_NODE || id === OUTPUT_NODE;

/** ``doc`` with ``change`` applied to the graph at ``path`` (node and link ids are counted across the document,
 * as ComfyUI does, so a node keeps its id when it moves in or out of a subgraph). */
export function withGraph(doc: UIWorkflow, path: number[], change: (graph: UIWorkflow) => UIWorkflow,
                          defs: Record<string, NodeDef> = {}): UIWorkflow {
  const def = subgraphPath(doc, path).at(-1);
  if (!def) return change(doc);
  const view = { ...subgraphView(def, doc), last_node_id: doc.last_node_id, last_link_id: doc.last_link_id };
  const edited = change(view);
  if (edited === view) return doc;
  const counted = { ...doc, last_node_id: edited.last_node_id, last_link_id: edited.last_link_id };
  return writeBack(counted, def, view, edited, defs);
}

function writeBack(doc: UIWorkflow, def: SubgraphDef, view: UIWorkflow, edited: UIWorkflow, defs: Record<string, NodeDef>): UIWorkflow {
  const inputNode = edited.nodes.find((n) => n.id === INPUT_NODE) ?? boundaryNode(def, "input");
  const outputNode = edited.nodes.find((n) => n.id === OUTPUT_NODE) ?? boundaryNode(def, "output");
  const next: SubgraphDef = {
    ...def,
    nodes: edited.nodes === view.nodes ? def.nodes : edited.nodes.filter((n) => !isBoundary(n.id)),
    links: edited.links, groups: edited.groups, extra: edited.extra,
    inputNode: { ...def.inputNode, bounding: [...inputNode.pos, ...inputNode.size] },
    outputNode: { ...def.outputNode, bounding: [...outputNode.pos, ...outputNode.size] },
    inputs: def.inputs.map((io, i) => sameIds(io.linkIds, inputNode.outputs![i].links) ? io : { ...io, linkIds: [...inputNode.outputs![i].links ?? []] }),
    outputs: def.outputs.map((io, i) => {
      const link = outputNode.inputs![i].link;
      return sameIds(io.linkIds, link == null ? [] : [link]) ? io : { ...io, linkIds: link == null ? [] : [link] };
    }),
  };
  let result = withSubgraph(doc, def.id, () => next);
  const newInputLinks = inputNode.outputs![def.inputs.length].links ?? [];
  if (newInputLinks.length) result = addInputFromLinks(result, def.id, newInputLinks, defs);
  const newOutputLink = outputNode.inputs![def.outputs.length].link;
  if (newOutputLink != null) result = addOutputFromLink(result, def.id, newOutputLink);
  return result;
}

function sameIds(a: number[] | undefined, b: number[] | null | undefined): boolean {
  const [x, y] = [a ?? [], b ?? []];
  return x.length === y.length && x.every((id, i) => id === y[i]);
}

// ---- Inputs and outputs ---------------------------------------------------------------------------------------

function newId(): string {
  return crypto.randomUUID();
}

/** Every graph of the document (the root, then each definition) with ``change`` applied. */
function mapGraphs(doc: UIWorkflow, change: (graph: UIWorkflow) => UIWorkflow): UIWorkflow {
  let result = change(doc);
  for (const def of subgraphsOf(result)) {
    const plain: UIWorkflow = { ...result, nodes: def.nodes, links: def.links };
    const edited = change(plain);
    if (edited === plain) continue;
    result = { ...result, last_node_id: edited.last_node_id, last_link_id: edited.last_link_id };
    result = withSubgraph(result, def.id, (d) => ({ ...d, nodes: edited.nodes, links: edited.links }));
  }
  return result;
}

/** ``change`` applied to every instance of subgraph ``id``, in whichever graph it sits. */
function mapInstances(doc: UIWorkflow, id: string, change: (graph: UIWorkflow, node: UINode) => UIWorkflow): UIWorkflow {
  return mapGraphs(doc, (graph) => graph.nodes.filter((n) => n.type === id).reduce((g, node) => change(g, node), graph));
}

/** A new input at the end of subgraph ``id`` (and of its instances), fed inside by the links ``linkIds`` that a
 * link dropped on the boundary's empty slot made; it takes its name and type from the first link's target. */
function addInputFromLinks(doc: UIWorkflow, id: string, linkIds: number[], defs: Record<string, NodeDef>): UIWorkflow {
  const def = subgraphById(doc, id)!;
  const link = def.links.find((l) => l[0] === linkIds[0])!;
  const target = def.nodes.find((n) => n.id === link[3])!;
  const slot = target.inputs![link[4]];
  const io: SubgraphIO = { id: newId(), name: uniqueName(def.inputs, slot.name), type: slot.type, linkIds };
  let result = withSubgraph(doc, id, (d) => ({
    ...d, inputs: [...d.inputs, io],
    links: d.links.map((l) => (linkIds.includes(l[0]) ? [l[0], l[1], l[2], l[3], l[4], slot.type] as UILink : l)),
  }));
  result = mapInstances(result, id, (graph, node) => withNode(graph, node.id, (n) => ({
    ...n, inputs: [...(n.inputs ?? []), { name: io.name, type: io.type, link: null, ...(slot.widget ? { widget: { name: io.name } } : {}) }],
    ...(slot.widget ? { widgets_values: [...widgetList(n), widgetValue(target, slot.widget.name, defs)] } : {}),
  })));
  return result;
}

function addOutputFromLink(doc: UIWorkflow, id: string, linkId: number): UIWorkflow {
  const def = subgraphById(doc, id)!;
  const link = def.links.find((l) => l[0] === linkId)!;
  const origin = def.nodes.find((n) => n.id === link[1]);
  const slot = origin?.outputs?.[link[2]] ?? { name: "output", type: link[5] };
  const io: SubgraphIO = { id: newId(), name: uniqueName(def.outputs, slot.name), type: slot.type, linkIds: [linkId] };
  const result = withSubgraph(doc, id, (d) => ({
    ...d, outputs: [...d.outputs, io],
    links: d.links.map((l) => (l[0] === linkId ? [l[0], l[1], l[2], l[3], l[4], slot.type] as UILink : l)),
  }));
  return mapInstances(result, id, (graph, node) => withNode(graph, node.id, (n) => ({
    ...n, outputs: [...(n.outputs ?? []), { name: io.name, type: io.type, links: [] }],
  })));
}

function uniqueName(list: SubgraphIO[], name: string): string {
  const taken = new Set(list.map((io) => io.name));
  if (!taken.has(name)) return name;
  let n = 1;
  while (taken.has(`${name}_${n}`)) n++;
  return `${name}_${n}`;
}

function widgetList(node: UINode): unknown[] {
  return Array.isArray(node.widgets_values) ? node.widgets_values : [];
}

/** The position in an instance's widgets_values of its input ``index``: one value per input that shows a widget. */
export function promotedValueIndex(node: UINode, index: number): number {
  return (node.inputs ?? []).slice(0, index).filter((slot) => slot.widget).length;
}

/** Where node ``node`` holds its widget ``name`` in widgets_values (by its definition's widget order), or -1. */
function widgetIndex(node: UINode, name: string, defs: Record<string, NodeDef>): number {
  return defs[node.type]?.slots.findIndex((slot) => "widget" in slot && slot.widget.name === name) ?? -1;
}

/** The value node ``node`` holds for its widget ``name`` (by its definition's widget order). */
export function widgetValue(node: UINode, name: string, defs: Record<string, NodeDef>): unknown {
  const index = widgetIndex(node, name, defs);
  return index < 0 ? undefined : widgetList(node)[index];
}

/** Renames input or output ``index`` of subgraph ``id``: its label, as ComfyUI renames (the name stays the key
 * that promoted widget values and the server's conversion go by). */
export function renameSubgraphSlot(doc: UIWorkflow, id: string, side: "inputs" | "outputs", index: number, label: string): UIWorkflow {
  const def = subgraphById(doc, id);
  if (!def?.[side][index] || !label) return doc;
  const relabel = <T extends object>(slot: T): T => ({ ...slot, label });
  let result = withSubgraph(doc, id, (d) => ({ ...d, [side]: d[side].map((io, i) => (i === index ? relabel(io) : io)) }));
  result = mapInstances(result, id, (graph, node) => withNode(graph, node.id, (n) => ({
    ...n, [side]: (n[side] as (UISlotIn | UISlotOut)[] | undefined)?.map((slot, i) => (i === index ? relabel(slot) : slot)),
  })));
  return result;
}

/** Removes input or output ``index`` of subgraph ``id`` with the links on both sides of it. */
export function removeSubgraphSlot(doc: UIWorkflow, id: string, side: "inputs" | "outputs", index: number): UIWorkflow {
  const def = subgraphById(doc, id);
  if (!def?.[side][index]) return doc;
  const boundary = side === "inputs" ? INPUT_NODE : OUTPUT_NODE;
  let result = withSubgraph(doc, id, (d) => {
    const gone = new Set(d[side][index].linkIds ?? []);
    const links = d.links.filter((l) => !gone.has(l[0])).map((l) => shiftSlot(l, boundary, index));
    const nodes = d.nodes.map((n) => withoutLinks(n, gone));
    return { ...d, links, nodes, [side]: d[side].filter((_, i) => i !== index) };
  });
  result = mapInstances(result, id, (graph, node) => {
    let g = graph;
    const slots = side === "inputs" ? [node.inputs?.[index]?.link] : node.outputs?.[index]?.links ?? [];
    for (const link of slots) if (link != null) g = removeLink(g, link);
    const valueIndex = side === "inputs" && node.inputs?.[index]?.widget ? promotedValueIndex(node, index) : -1;
    g = withNode(g, node.id, (n) => ({
      ...n, [side]: (n[side] as unknown[]).filter((_, i) => i !== index),
      ...(valueIndex >= 0 ? { widgets_values: widgetList(n).filter((_, i) => i !== valueIndex) } : {}),
    }));
    const [end, slot]: [1 | 3, 2 | 4] = side === "inputs" ? [3, 4] : [1, 2];
    return { ...g, links: g.links.map((l) => (l[end] === node.id && l[slot] > index ? shifted(l, slot) : l)) };
  });
  return result;
}

function shifted(link: UILink, position: 2 | 4): UILink {
  const copy: UILink = [...link];
  copy[position] -= 1;
  return copy;
}

/** A link at a boundary slot after ``index`` moves up one slot when that slot goes. */
function shiftSlot(link: UILink, boundary: number, index: number): UILink {
  if (boundary === INPUT_NODE && link[1] === INPUT_NODE && link[2] > index) return shifted(link, 2);
  if (boundary === OUTPUT_NODE && link[3] === OUTPUT_NODE && link[4] > index) return shifted(link, 4);
  return link;
}

function withoutLinks(node: UINode, gone: Set<number>): UINode {
  const touches = node.inputs?.some((s) => s.link != null && gone.has(s.link)) ||
    node.outputs?.some((s) => s.links?.some((l) => gone.has(l)));
  if (!touches) return node;
  return {
    ...node,
    inputs: node.inputs?.map((s) => (s.link != null && gone.has(s.link) ? { ...s, link: null } : s)),
    outputs: node.outputs?.map((s) => (s.links?.some((l) => gone.has(l)) ? { ...s, links: s.links.filter((l) => !gone.has(l)) } : s)),
  };
}

export function renameSubgraph(doc: UIWorkflow, id: string, name: string): UIWorkflow {
  return name ? withSubgraph(doc, id, (d) => (d.name === name ? d : { ...d, name })) : doc;
}

/** Shows widget ``widget`` of node ``nodeId`` (inside the subgraph open at ``path``) on the subgraph's instances:
 * the widget becomes an input fed by a new subgraph input whose value each instance holds. */
export function promoteWidget(doc: UIWorkflow, path: number[], nodeId: number, widget: string, type: string,
                              defs: Record<string, NodeDef>): UIWorkflow {
  const def = subgraphPath(doc, path).at(-1);
  const node = def?.nodes.find((n) => n.id === nodeId);
  if (!def || !node || node.inputs?.some((s) => s.widget?.name === widget && s.link != null)) return doc;
  return withGraph(doc, path, (graph) => {
    let g = node.inputs?.some((s) => s.widget?.name === widget) ? graph : toggleWidgetInput(graph, nodeId, widget, type);
    const slot = g.nodes.find((n) => n.id === nodeId)!.inputs!.findIndex((s) => s.widget?.name === widget);
    const emptySlot = def.inputs.length;
    const id = g.last_link_id + 1;
    const link: UILink = [id, INPUT_NODE, emptySlot, nodeId, slot, type];
    g = { ...g, last_link_id: id, links: [...g.links, link] };
    g = withNode(g, INPUT_NODE, (n) => ({ ...n, outputs: n.outputs!.map((o, i) => (i === emptySlot ? { ...o, links: [id] } : o)) }));
    return withNode(g, nodeId, (n) => ({ ...n, inputs: n.inputs!.map((s, i) => (i === slot ? { ...s, link: id } : s)) }));
  }, defs);
}

// ---- Making and unpacking subgraphs ---------------------------------------------------------------------------

type Endpoint = [number, number]; // node id, slot

/** Groups ``links`` by their origin (node and slot): one subgraph input or output per distinct origin. */
function byOrigin(links: UILink[]): [Endpoint, UILink[]][] {
  const groups = new Map<string, [Endpoint, UILink[]]>();
  for (const link of links) {
    const key = `${link[1]}:${link[2]}`;
    if (!groups.has(key)) groups.set(key, [[link[1], link[2]], []]);
    groups.get(key)![1].push(link);
  }
  return [...groups.values()];
}

/** Output ``slot`` of ``node`` with the link ids ``remove`` replaced by ``add``. */
function relinkOutput(node: UINode, slot: number, remove: Set<number>, add: number[]): UINode {
  return {
    ...node,
    outputs: node.outputs?.map((out, i) => (i !== slot ? out : {
      ...out, links: [...(out.links ?? []).filter((id) => !remove.has(id)), ...add.filter((id) => !(out.links ?? []).includes(id))],
    })),
  };
}

function bounds(nodes: UINode[]): [number, number, number, number] {
  const left = Math.min(...nodes.map((n) => n.pos[0]));
  const top = Math.min(...nodes.map((n) => n.pos[1]));
  const right = Math.max(...nodes.map((n) => n.pos[0] + n.size[0]));
  const bottom = Math.max(...nodes.map((n) => n.pos[1] + n.size[1]));
  return [left, top, right, bottom];
}

/** The nodes ``ids`` of the graph at ``path`` become a new subgraph, and one instance of it takes their place.
 * Links that cross the selection become the subgraph's inputs (one per outside origin) and outputs (one per inside
 * origin). Nodes and the links that stay on one side keep their ids. Returns the new document and instance id. */
export function convertToSubgraph(doc: UIWorkflow, path: number[], ids: Set<number>,
                                  defs: Record<string, NodeDef>): [UIWorkflow, number | null] {
  const graph = graphAt(doc, path);
  const members = graph.nodes.filter((n) => ids.has(n.id) && !isBoundary(n.id));
  if (!members.length) return [doc, null];
  const inside = new Set(members.map((n) => n.id));
  const crossing = (l: UILink) => inside.has(l[1]) !== inside.has(l[3]);
  const incoming = byOrigin(graph.links.filter((l) => crossing(l) && inside.has(l[3])));
  const outgoing = byOrigin(graph.links.filter((l) => crossing(l) && inside.has(l[1])));
  const instanceId = doc.last_node_id + 1;
  let linkId = doc.last_link_id;
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const innerLinks: UILink[] = graph.links.filter((l) => inside.has(l[1]) && inside.has(l[3]));
  const outerLinks: UILink[] = graph.links.filter((l) => !inside.has(l[1]) && !inside.has(l[3]));
  const inputs: SubgraphIO[] = [];
  const instanceInputs: UISlotIn[] = [];
  const widgetValues: unknown[] = [];
  incoming.forEach(([[origin, slot], links], k) => {
    // Inside, each link keeps its id and now starts at the boundary; outside, one new link feeds the instance.
    const first = nodes.get(links[0][3])!.inputs![links[0][4]];
    const name = uniqueName(inputs, first.name);
    inputs.push({ id: newId(), name, type: links[0][5], linkIds: links.map((l) => l[0]) });
    innerLinks.push(...links.map((l): UILink => [l[0], INPUT_NODE, k, l[3], l[4], l[5]]));
    const outer = ++linkId;
    outerLinks.push([outer, origin, slot, instanceId, k, links[0][5]]);
    nodes.set(origin, relinkOutput(nodes.get(origin)!, slot, new Set(links.map((l) => l[0])), [outer]));
    instanceInputs.push({ name, type: links[0][5], link: outer, ...(first.widget ? { widget: { name } } : {}) });
    if (first.widget) widgetValues.push(widgetValue(nodes.get(links[0][3])!, first.widget.name, defs));
  });
  const outputs: SubgraphIO[] = [];
  const instanceOutputs: UISlotOut[] = [];
  outgoing.forEach(([[origin, slot], links], k) => {
    // Outside, each link keeps its id and now starts at the instance; inside, one new link reaches the boundary.
    const inner = ++linkId;
    const name = uniqueName(outputs, nodes.get(origin)!.outputs![slot].name);
    outputs.push({ id: newId(), name, type: links[0][5], linkIds: [inner] });
    innerLinks.push([inner, origin, slot, OUTPUT_NODE, k, links[0][5]]);
    outerLinks.push(...links.map((l): UILink => [l[0], instanceId, k, l[3], l[4], l[5]]));
    nodes.set(origin, relinkOutput(nodes.get(origin)!, slot, new Set(links.map((l) => l[0])), [inner]));
    instanceOutputs.push({ name, type: links[0][5], links: links.map((l) => l[0]) });
  });
  const [left, top, right, bottom] = bounds(members);
  const height = Math.max(60, 30 + 24 * Math.max(inputs.length, outputs.length));
  const def: SubgraphDef = {
    id: newId(), version: 1, revision: 0, config: {}, name: "New Subgraph",
    nodes: members.map((n) => nodes.get(n.id)!), links: innerLinks, groups: [], extra: {}, inputs, outputs, widgets: [],
    inputNode: { id: INPUT_NODE, bounding: [left - BOUNDARY_WIDTH - 80, (top + bottom) / 2 - height / 2, BOUNDARY_WIDTH, height] },
    outputNode: { id: OUTPUT_NODE, bounding: [right + 80, (top + bottom) / 2 - height / 2, BOUNDARY_WIDTH, height] },
  };
  const instance: UINode = {
    id: instanceId, type: def.id, pos: [left, top], size: [240, height], flags: {}, order: graph.nodes.length, mode: 0,
    inputs: instanceInputs, outputs: instanceOutputs, properties: {}, widgets_values: widgetValues,
  };
  const parentNodes = [...graph.nodes.filter((n) => !inside.has(n.id)).map((n) => nodes.get(n.id)!), instance];
  let result = withGraph(doc, path, (g) => ({ ...g, last_node_id: instanceId, last_link_id: linkId, nodes: parentNodes, links: outerLinks }), defs);
  result = { ...result, definitions: { ...result.definitions, subgraphs: [...subgraphsOf(result), def] } };
  return [result, instanceId];
}

/** Puts the nodes of subgraph instance ``instanceId`` (in the graph at ``path``) back into that graph, with new
 * ids, wired to what the instance was wired to; a promoted widget's value goes back to its node. The definition
 * goes when no other instance uses it. */
export function unpackSubgraph(doc: UIWorkflow, path: number[], instanceId: number, defs: Record<string, NodeDef>): UIWorkflow {
  const graph = graphAt(doc, path);
  const instance = graph.nodes.find((n) => n.id === instanceId);
  const def = instance && subgraphOf(doc, instance);
  if (!instance || !def) return doc;
  let nodeId = doc.last_node_id;
  let linkId = doc.last_link_id;
  const ids = new Map(def.nodes.map((n) => [n.id, ++nodeId]));
  const linkIds = new Map<number, number>(); // inner link id -> the ids it becomes
  const [left, top] = def.nodes.length ? bounds(def.nodes) : [0, 0];
  const nodes = new Map(graph.nodes.filter((n) => n.id !== instanceId).map((n) => [n.id, n]));
  const copies = new Map(def.nodes.map((n) => [ids.get(n.id)!, {
    ...n, id: ids.get(n.id)!, pos: [n.pos[0] - left + instance.pos[0], n.pos[1] - top + instance.pos[1]] as [number, number],
  }]));
  const links: UILink[] = graph.links.filter((l) => l[1] !== instanceId && l[3] !== instanceId);
  const unfed: [number, string, unknown][] = []; // promoted widgets with no link outside: node, widget, value
  const addLink = (link: UILink) => links.push(link);
  for (const l of def.links) {
    if (l[1] === INPUT_NODE && l[3] === OUTPUT_NODE) continue;
    if (l[1] === INPUT_NODE) {
      const target = ids.get(l[3])!;
      const slot = instance.inputs?.[l[2]];
      const outer = graph.links.find((o) => o[0] === slot?.link);
      if (outer) {
        const id = ++linkId;
        addLink([id, outer[1], outer[2], target, l[4], l[5]]);
        linkIds.set(l[0], id);
        nodes.set(outer[1], relinkOutput(nodes.get(outer[1])!, outer[2], new Set([outer[0]]), [id]));
      } else {
        linkIds.set(l[0], -1);
        const widget = copies.get(target)!.inputs?.[l[4]]?.widget?.name;
        if (widget && slot?.widget) unfed.push([target, widget, widgetList(instance)[promotedValueIndex(instance, l[2])]]);
      }
    } else if (l[3] === OUTPUT_NODE) {
      const origin = ids.get(l[1])!;
      const outers = graph.links.filter((o) => o[1] === instanceId && o[2] === l[4]);
      for (const o of outers) addLink([o[0], origin, l[2], o[3], o[4], o[5]]);
      copies.set(origin, relinkOutput(copies.get(origin)!, l[2], new Set([l[0]]), outers.map((o) => o[0])));
    } else {
      const id = ++linkId;
      linkIds.set(l[0], id);
      addLink([id, ids.get(l[1])!, l[2], ids.get(l[3])!, l[4], l[5]]);
    }
  }
  for (const [id, copy] of copies) copies.set(id, renumberLinks(copy, linkIds));
  for (const l of graph.links.filter((o) => o[3] === instanceId)) {
    nodes.set(l[1], relinkOutput(nodes.get(l[1])!, l[2], new Set([l[0]]), []));
  }
  let result = withGraph(doc, path, (g) => {
    let next: UIWorkflow = { ...g, last_node_id: nodeId, last_link_id: linkId, links, nodes: [...nodes.values(), ...copies.values()] };
    for (const [node, widget, value] of unfed) {
      next = toggleWidgetInput(next, node, widget, "");
      const copy = nodeIn(next.nodes, node);
      const index = copy ? widgetIndex(copy, widget, defs) : -1;
      if (index >= 0 && value !== undefined) next = setWidget(next, node, index, value);
    }
    return next;
  }, defs);
  if (!usesSubgraph(result, def.id)) {
    result = { ...result, definitions: { ...result.definitions, subgraphs: subgraphsOf(result).filter((d) => d.id !== def.id) } };
  }
  return result;
}

/** A copied node's link ids renamed (inner ids that became nothing are cleared; outer ones it keeps). */
function renumberLinks(node: UINode, linkIds: Map<number, number>): UINode {
  const rename = (id: number) => (linkIds.has(id) ? linkIds.get(id)! : id);
  return {
    ...node,
    inputs: node.inputs?.map((s) => (s.link == null ? s : { ...s, link: rename(s.link) < 0 ? null : rename(s.link) })),
    outputs: node.outputs?.map((s) => ({ ...s, links: (s.links ?? []).map(rename).filter((id) => id >= 0) })),
  };
}

function usesSubgraph(doc: UIWorkflow, id: string): boolean {
  return doc.nodes.some((n) => n.type === id) || subgraphsOf(doc).some((d) => d.nodes.some((n) => n.type === id));
}

/** The inner widget that input ``index`` of instance ``node`` shows (following nested instances inwards). */
export function promotedWidget(doc: Definitions, node: UINode, index: number, defs: Record<string, NodeDef>,
                               depth = 0): WidgetDef | undefined {
  const def = subgraphOf(doc, node);
  const linkId = def?.inputs[index]?.linkIds?.[0];
  const link = def?.links.find((l) => l[0] === linkId);
  const target = link && nodeIn(def!.nodes, link[3]);
  const slot = target?.inputs?.[link![4]];
  if (!target || !slot?.widget || depth > 32) return undefined;
  if (subgraphOf(doc, target)) return promotedWidget(doc, target, link![4], defs, depth + 1);
  return defs[target.type]?.widgets.find((w) => w.name === slot.widget!.name);
}
