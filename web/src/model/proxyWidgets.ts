// Promoted widgets in the form current ComfyUI web apps write: an instance's `properties.proxyWidgets` lists
// [inner node id, widget name] pairs ("-1" names one of the subgraph's own inputs), and its `widgets_values`
// holds one value per pair, in order (null: the inner widget's own value stands). The server reads them the
// same way. A pair naming an inner subgraph instance (a widget it promotes in turn) takes its value from that
// instance, as the server does, so it is shown and edited there.
import { withNode } from "./document";
import type { NodeDef, WidgetDef } from "./nodeDefs";
import { type Definitions, promotedValueIndex, promotedWidget, subgraphOf, widgetValue, withGraph } from "./subgraphs";
import type { SubgraphDef, UINode, UIWorkflow } from "./types";

export const SUBGRAPH_INPUT_ENTRY = "-1";

/** One widget an instance shows for a proxyWidgets entry. */
export interface ProxyWidget {
  index: number; // the entry's position, which is also its value's position in widgets_values
  label: string;
  widget: WidgetDef;
  value: unknown;
  /** Set when the entry names a widget that an inner instance promotes: the value lives on that instance. */
  nested?: { nodeId: number; valueIndex: number };
}

/** The entries of ``properties.proxyWidgets`` (saved as a list, or as its JSON text by some versions). */
export function proxyEntries(node: UINode): [string, string][] {
  let raw = node.properties?.proxyWidgets;
  if (typeof raw === "string") {
    try {
      raw = JSON.parse(raw);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(raw)) return [];
  return raw.filter((entry): entry is unknown[] => Array.isArray(entry) && entry.length >= 2)
    .map((entry) => [String(entry[0]), String(entry[1])]);
}

export function hasProxyWidgets(node: UINode): boolean {
  return proxyEntries(node).length > 0;
}

function values(node: UINode): unknown[] {
  return Array.isArray(node.widgets_values) ? node.widgets_values : [];
}

/** The widget an entry names, the value it falls back to, and where a nested one keeps its value. */
function resolve(doc: Definitions, def: SubgraphDef, instance: UINode, [nodeId, name]: [string, string],
                 defs: Record<string, NodeDef>): Omit<ProxyWidget, "index" | "label" | "value"> & { own: unknown } | null {
  if (nodeId === SUBGRAPH_INPUT_ENTRY) {
    const input = def.inputs.findIndex((io) => io.name === name);
    const widget = input < 0 ? undefined : promotedWidget(doc, instance, input, defs);
    return widget ? { widget, own: innerValue(def, input, defs) } : null;
  }
  const inner = def.nodes.find((n) => String(n.id) === nodeId);
  if (!inner) return null;
  if (subgraphOf(doc, inner)) {
    const input = (inner.inputs ?? []).findIndex((slot) => slot.name === name && slot.widget);
    const widget = input < 0 ? undefined : promotedWidget(doc, inner, input, defs);
    if (!widget) return null;
    const valueIndex = promotedValueIndex(inner, input);
    return { widget, own: values(inner)[valueIndex], nested: { nodeId: inner.id, valueIndex } };
  }
  const widget = defs[inner.type]?.widgets.find((w) => w.name === name);
  return widget ? { widget, own: widgetValue(inner, name, defs) } : null;
}

/** The value of the inner widget that subgraph input ``input`` feeds (when the instance gives none). */
function innerValue(def: SubgraphDef, input: number, defs: Record<string, NodeDef>): unknown {
  const link = def.links.find((l) => l[0] === def.inputs[input]?.linkIds?.[0]);
  const target = link && def.nodes.find((n) => n.id === link[3]);
  const slot = target?.inputs?.[link![4]];
  return target && slot?.widget ? widgetValue(target, slot.widget.name, defs) : undefined;
}

/** The widgets instance ``node`` shows for its proxyWidgets entries, in order; entries that name nothing
 * (a preview, a node that is gone) are left out. */
export function proxyWidgets(doc: Definitions, node: UINode, defs: Record<string, NodeDef>): ProxyWidget[] {
  const def = subgraphOf(doc, node);
  if (!def) return [];
  const entries = proxyEntries(node);
  const names = entries.map(([, name]) => name);
  const shown: ProxyWidget[] = [];
  entries.forEach((entry, index) => {
    const found = resolve(doc, def, node, entry, defs);
    if (!found) return;
    const { own, ...rest } = found;
    const given = values(node)[index];
    const value = rest.nested || given == null ? own : given;
    const label = names.indexOf(entry[1]) !== names.lastIndexOf(entry[1]) ? `${entry[0]}: ${entry[1]}` : entry[1];
    shown.push({ ...rest, index, label, value });
  });
  return shown;
}

/** ``doc`` with ``value`` for ``shown`` on instance ``instanceId`` of the graph at ``path``: in the instance's
 * widgets_values, or (nested) in the inner instance's promoted value inside the definition. */
export function setProxyWidget(doc: UIWorkflow, path: number[], instanceId: number, shown: ProxyWidget, value: unknown,
                               defs: Record<string, NodeDef>): UIWorkflow {
  const { nested } = shown;
  if (nested) {
    return withGraph(doc, [...path, instanceId], (g) => withNode(g, nested.nodeId, (n) => withValueAt(n, nested.valueIndex, value)), defs);
  }
  return withGraph(doc, path, (g) => withNode(g, instanceId, (n) => withValueAt(n, shown.index, value)), defs);
}

function withValueAt(node: UINode, index: number, value: unknown): UINode {
  const next = [...values(node)];
  while (next.length <= index) next.push(null);
  next[index] = value;
  return { ...node, widgets_values: next };
}
