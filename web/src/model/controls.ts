// control_after_generate: after a prompt is queued, seeds marked increment/decrement/randomize change.
import type { NodeDef } from "./nodeDefs";
import type { UINode, UIWorkflow } from "./types";

const RANDOM_MAX = 1125899906842624; // 2^50, the front end's cap for random seeds

/** The seed that follows ``control`` (increment, decrement, randomize), or ``value`` itself when it stays. */
function nextSeed(value: number, control: unknown, min: number, top: number, random: () => number): number {
  switch (control) {
    case "increment":
      return Math.min(value + 1, top);
    case "decrement":
      return Math.max(value - 1, min);
    case "randomize":
      return Math.floor(random() * (top - min)) + min;
    default:
      return value;
  }
}

/** ``values`` after their controls are applied, or ``values`` itself when no seed changes. */
function controlledValues(values: unknown[], def: NodeDef, random: () => number): unknown[] {
  let next = values;
  def.slots.forEach((slot, index) => {
    if ("widget" in slot || slot.hidden !== "control" || index === 0) return;
    const previous = def.slots[index - 1];
    if (!("widget" in previous) || previous.widget.kind !== "INT") return;
    const { min = 0, max = RANDOM_MAX } = previous.widget.options as { min?: number; max?: number };
    const seed = Number(values[index - 1]);
    const seedAfter = nextSeed(seed, values[index], min, Math.min(max, RANDOM_MAX), random);
    if (seedAfter === seed) return;
    if (next === values) next = [...values];
    next[index - 1] = seedAfter;
  });
  return next;
}

/** ``nodes`` after their controls are applied, or ``nodes`` itself when no seed changes. */
function controlledNodes(nodes: UINode[], defs: Record<string, NodeDef>, random: () => number): UINode[] {
  let changed = false;
  const next = nodes.map((node) => {
    const def = defs[node.type];
    if (!def || !Array.isArray(node.widgets_values)) return node;
    const values = controlledValues(node.widgets_values, def, random);
    if (values === node.widgets_values) return node;
    changed = true;
    return { ...node, widgets_values: values };
  });
  return changed ? next : nodes;
}

/** Seeds change in every graph, subgraphs included; only the nodes whose seeds change become new objects. */
export function applyControls(doc: UIWorkflow, defs: Record<string, NodeDef>, random = Math.random): UIWorkflow {
  const nodes = controlledNodes(doc.nodes, defs, random);
  const subgraphs = doc.definitions?.subgraphs;
  const inner = subgraphs?.map((sub) => {
    const subNodes = controlledNodes(sub.nodes, defs, random);
    return subNodes === sub.nodes ? sub : { ...sub, nodes: subNodes };
  });
  const innerChanged = inner !== undefined && inner.some((sub, i) => sub !== subgraphs![i]);
  if (nodes === doc.nodes && !innerChanged) return doc;
  return { ...doc, nodes, ...(innerChanged ? { definitions: { ...doc.definitions, subgraphs: inner } } : {}) };
}
