// What the editor needs to know about a node type, derived once from /object_info.
import type { InputSpec, NodeInfo } from "./types";

export const WIDGET_TYPES = new Set(["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"]);
export const CONTROL_VALUES = ["fixed", "increment", "decrement", "randomize"] as const;

export interface WidgetDef {
  name: string;
  kind: "INT" | "FLOAT" | "STRING" | "BOOLEAN" | "COMBO";
  options: Record<string, unknown>;
  choices: string[];
  optional: boolean;
}

/** One entry of widgets_values: a widget, or a hidden slot (seed control value, upload button value). */
export type WidgetSlot = { widget: WidgetDef } | { hidden: "control" | "upload"; of: string };

export interface SocketDef {
  name: string;
  type: string;
  optional: boolean;
}

export interface NodeDef {
  name: string;
  displayName: string;
  category: string;
  description: string;
  outputNode: boolean;
  sockets: SocketDef[];
  widgets: WidgetDef[];
  slots: WidgetSlot[];
  outputs: { name: string; type: string }[];
}

function orderedInputs(info: NodeInfo): { name: string; spec: InputSpec; optional: boolean }[] {
  const out: { name: string; spec: InputSpec; optional: boolean }[] = [];
  for (const section of ["required", "optional"] as const) {
    const specs = info.input[section] ?? {};
    const order = info.input_order?.[section] ?? Object.keys(specs);
    for (const name of order) if (specs[name]) out.push({ name, spec: specs[name], optional: section === "optional" });
  }
  return out;
}

export function hasControl(widget: WidgetDef): boolean {
  if (widget.kind === "INT") return Boolean(widget.options.control_after_generate) || widget.name === "seed" || widget.name === "noise_seed";
  return widget.kind === "COMBO" && Boolean(widget.options.control_after_generate);
}

export function buildNodeDef(info: NodeInfo): NodeDef {
  const sockets: SocketDef[] = [];
  const widgets: WidgetDef[] = [];
  const slots: WidgetSlot[] = [];
  for (const { name, spec, optional } of orderedInputs(info)) {
    const [kind, rawOptions] = spec;
    const options = (rawOptions ?? {}) as Record<string, unknown>;
    const isCombo = Array.isArray(kind) || kind === "COMBO";
    const choices = Array.isArray(kind) ? kind : ((options.options as string[]) ?? []);
    if (!(isCombo || WIDGET_TYPES.has(kind as string)) || options.forceInput) {
      sockets.push({ name, type: isCombo ? "COMBO" : (kind as string), optional });
      continue;
    }
    const widget: WidgetDef = { name, kind: isCombo ? "COMBO" : (kind as WidgetDef["kind"]), options, choices, optional };
    widgets.push(widget);
    slots.push({ widget });
    if (hasControl(widget)) slots.push({ hidden: "control", of: name });
    if (options.image_upload) slots.push({ hidden: "upload", of: name });
  }
  return {
    name: info.name,
    displayName: info.display_name || info.name,
    category: info.category,
    description: info.description,
    outputNode: info.output_node,
    sockets,
    widgets,
    slots,
    outputs: info.output.map((type, index) => ({ type, name: info.output_name?.[index] ?? type })),
  };
}

export function defaultValue(widget: WidgetDef): unknown {
  if (widget.options.default !== undefined) return widget.options.default;
  switch (widget.kind) {
    case "INT":
    case "FLOAT":
      return (widget.options.min as number) ?? 0;
    case "BOOLEAN":
      return false;
    case "COMBO":
      return widget.choices[0] ?? "";
    default:
      return "";
  }
}

/** widgets_values for a new node: defaults, "randomize" after seeds, "image" after upload combos. */
export function defaultWidgetValues(def: NodeDef): unknown[] {
  return def.slots.map((slot) => {
    if ("widget" in slot) return defaultValue(slot.widget);
    return slot.hidden === "control" ? "randomize" : "image";
  });
}

/** ComfyUI's type rule: equal, "*" on either side, or overlapping comma-separated unions. */
export function typesMatch(output: string, input: string): boolean {
  if (output === "*" || input === "*" || output === input) return true;
  const outputs = new Set(output.split(","));
  return input.split(",").some((type) => outputs.has(type));
}

const TYPE_COLOURS: Record<string, string> = {
  MODEL: "#b39ddb", CLIP: "#ffd54f", VAE: "#ef9a9a", CONDITIONING: "#ffab91", LATENT: "#f48fb1",
  IMAGE: "#64b5f6", MASK: "#81c784", CONTROL_NET: "#4db6ac", GAN: "#ce93d8", METRICS: "#fff176",
  INT: "#90caf9", FLOAT: "#a5d6a7", STRING: "#bcaaa4", BOOLEAN: "#80deea", "*": "#e0e0e0",
};

export function typeColour(type: string): string {
  return TYPE_COLOURS[type] ?? `hsl(${[...type].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7)}, 55%, 65%)`;
}
