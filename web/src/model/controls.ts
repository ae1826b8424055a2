// control_after_generate: after a prompt is queued, seeds marked increment/decrement/randomize change.
import type { NodeDef } from "./nodeDefs";
import type { UIWorkflow } from "./types";

const RANDOM_MAX = 1125899906842624; // 2^50, the front end's cap for random seeds

export function applyControls(doc: UIWorkflow, defs: Record<string, NodeDef>, random = Math.random): UIWorkflow {
  const next = structuredClone(doc);
  for (const node of next.nodes) {
    const def = defs[node.type];
    const values = node.widgets_values;
    if (!def || !Array.isArray(values)) continue;
    def.slots.forEach((slot, index) => {
      if ("widget" in slot || slot.hidden !== "control" || index === 0) return;
      const previous = def.slots[index - 1];
      if (!("widget" in previous) || previous.widget.kind !== "INT") return;
      const { min = 0, max = RANDOM_MAX } = previous.widget.options as { min?: number; max?: number };
      const value = Number(values[index - 1]);
      const top = Math.min(max, RANDOM_MAX);
      switch (values[index]) {
        case "increment":
          values[index - 1] = Math.min(value + 1, top);
          break;
        case "decrement":
          values[index - 1] = Math.max(value - 1, min);
          break;
        case "randomize":
          values[index - 1] = Math.floor(random() * (top - min)) + min;
          break;
      }
    });
  }
  return next;
}
