// An API-format prompt (e.g. a PNG with only `prompt`) as an editable UI workflow, laid out in columns.
import { addNode, connect, emptyWorkflow, setWidget } from "./document";
import type { NodeDef } from "./nodeDefs";
import type { ApiPrompt, UIWorkflow } from "./types";

function isLink(value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && typeof value[1] === "number";
}

function depths(prompt: ApiPrompt): Map<string, number> {
  const depth = new Map<string, number>();
  const visit = (id: string, seen: Set<string>): number => {
    if (depth.has(id)) return depth.get(id)!;
    if (seen.has(id) || !prompt[id]) return 0;
    seen.add(id);
    const sources = Object.values(prompt[id].inputs).filter(isLink).map((l) => visit(l[0], seen) + 1);
    const d = Math.max(0, ...sources);
    depth.set(id, d);
    return d;
  };
  for (const id of Object.keys(prompt)) visit(id, new Set());
  return depth;
}

export function fromApiPrompt(prompt: ApiPrompt, defs: Record<string, NodeDef>): { doc: UIWorkflow; missing: string[] } {
  let doc = emptyWorkflow();
  const ids = new Map<string, number>();
  const rows = new Map<number, number>();
  const missing = new Set<string>();
  const levels = depths(prompt);
  for (const [key, node] of Object.entries(prompt)) {
    const def = defs[node.class_type];
    if (!def) {
      missing.add(node.class_type);
      continue;
    }
    const column = levels.get(key) ?? 0;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    let id: number;
    [doc, id] = addNode(doc, def, [40 + column * 340, 40 + row * 260]);
    ids.set(key, id);
    def.slots.forEach((slot, index) => {
      if ("widget" in slot && slot.widget.name in node.inputs && !isLink(node.inputs[slot.widget.name])) {
        const value = node.inputs[slot.widget.name];
        const unwrapped = value && typeof value === "object" && "__value__" in value ? (value as { __value__: unknown }).__value__ : value;
        doc = setWidget(doc, id, index, unwrapped);
      }
      if (!("widget" in slot) && slot.hidden === "control") doc = setWidget(doc, id, index, "fixed");
    });
  }
  for (const [key, node] of Object.entries(prompt)) {
    const target = ids.get(key);
    if (target == null) continue;
    for (const [name, value] of Object.entries(node.inputs)) {
      const origin = isLink(value) ? ids.get(value[0]) : undefined;
      if (origin == null || !isLink(value)) continue;
      const slot = doc.nodes.find((n) => n.id === target)!.inputs!.findIndex((s) => s.name === name);
      if (slot >= 0) doc = connect(doc, origin, value[1], target, slot);
    }
  }
  return { doc, missing: [...missing] };
}
