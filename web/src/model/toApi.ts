// UI-format workflow -> API-format prompt, with ComfyUI's front-end rules (graphToPrompt).
import type { NodeDef } from "./nodeDefs";
import { type ApiPrompt, MODE_BYPASSED, MODE_MUTED, type UILink, type UINode, type UIWorkflow, VIRTUAL_NODES } from "./types";

function wrap(value: unknown): unknown {
  return Array.isArray(value) ? { __value__: value } : value;
}

/** The named widget values of a node (hidden control/upload slots skipped). */
export function widgetValues(node: UINode, def: NodeDef | undefined): Record<string, unknown> {
  const values = node.widgets_values;
  if (values && !Array.isArray(values)) return { ...values };
  const out: Record<string, unknown> = {};
  if (!def || !values) return out;
  def.slots.forEach((slot, index) => {
    if ("widget" in slot && index < values.length) out[slot.widget.name] = values[index];
  });
  return out;
}

type Resolved = { link: [string, number] } | { value: unknown } | null;

class Converter {
  private nodes = new Map<number, UINode>();
  private links = new Map<number, UILink>();

  constructor(workflow: UIWorkflow, private defs: Record<string, NodeDef>) {
    for (const node of workflow.nodes) this.nodes.set(node.id, node);
    for (const link of workflow.links) this.links.set(link[0], link);
  }

  convert(): ApiPrompt {
    const prompt: ApiPrompt = {};
    for (const node of this.nodes.values()) {
      if (VIRTUAL_NODES.has(node.type) || node.mode === MODE_MUTED || node.mode === MODE_BYPASSED) continue;
      const inputs: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(widgetValues(node, this.defs[node.type]))) inputs[name] = wrap(value);
      for (const slot of node.inputs ?? []) {
        if (slot.link == null) continue;
        const resolved = this.resolve(slot.link, slot.type, 0);
        if (resolved && "link" in resolved) inputs[slot.name] = resolved.link;
        else if (resolved) inputs[slot.name] = resolved.value;
      }
      prompt[String(node.id)] = { class_type: node.type, inputs, _meta: { title: node.title ?? this.defs[node.type]?.displayName ?? node.type } };
    }
    return prompt;
  }

  private resolve(linkId: number, wanted: string, depth: number): Resolved {
    const link = this.links.get(linkId);
    if (!link || depth > 256) return null;
    const origin = this.nodes.get(link[1]);
    if (!origin || origin.mode === MODE_MUTED) return null;
    if (origin.type === "Reroute") {
      const upstream = origin.inputs?.[0]?.link;
      return upstream == null ? null : this.resolve(upstream, wanted, depth + 1);
    }
    if (origin.type === "PrimitiveNode") {
      const values = origin.widgets_values;
      return Array.isArray(values) && values.length ? { value: wrap(values[0]) } : null;
    }
    if (origin.mode === MODE_BYPASSED) {
      const candidates = (origin.inputs ?? []).filter((slot) => slot.link != null);
      const chosen = candidates.find((s) => s.type === wanted) ?? candidates.find((s) => s.type === "*" || wanted === "*");
      return chosen ? this.resolve(chosen.link as number, wanted, depth + 1) : null;
    }
    return { link: [String(origin.id), link[2]] };
  }
}

export function toApiPrompt(workflow: UIWorkflow, defs: Record<string, NodeDef>): ApiPrompt {
  return new Converter(workflow, defs).convert();
}
