// Shapes of ComfyUI's wire formats that the editor reads and writes.

export type InputSpec = [string | string[], Record<string, unknown>?] | [string | string[]];

export interface NodeInfo {
  input: { required?: Record<string, InputSpec>; optional?: Record<string, InputSpec>; hidden?: Record<string, unknown> };
  input_order?: { required?: string[]; optional?: string[] };
  output: string[];
  output_name: string[];
  output_is_list?: boolean[];
  name: string;
  display_name: string;
  description: string;
  category: string;
  output_node: boolean;
  python_module?: string;
  deprecated?: boolean;
}

export type ObjectInfo = Record<string, NodeInfo>;

/** A link in a UI workflow (schema 0.4): [id, origin node, origin slot, target node, target slot, type]. */
export type UILink = [number, number, number, number, number, string];

export interface UISlotIn {
  name: string;
  type: string;
  link: number | null;
  widget?: { name: string };
  [key: string]: unknown;
}

export interface UISlotOut {
  name: string;
  type: string;
  links: number[] | null;
  slot_index?: number;
  [key: string]: unknown;
}

export interface UINode {
  id: number;
  type: string;
  pos: [number, number];
  size: [number, number];
  flags: { collapsed?: boolean; [key: string]: unknown };
  order: number;
  mode: number; // 0 always, 2 muted (never), 4 bypassed
  inputs?: UISlotIn[];
  outputs?: UISlotOut[];
  properties: Record<string, unknown>;
  widgets_values?: unknown[] | Record<string, unknown>;
  title?: string;
  [key: string]: unknown;
}

export interface UIGroup {
  title: string;
  bounding: [number, number, number, number];
  color?: string;
  [key: string]: unknown;
}

export interface UIWorkflow {
  last_node_id: number;
  last_link_id: number;
  nodes: UINode[];
  links: UILink[];
  groups?: UIGroup[];
  config?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  version: number;
  definitions?: { subgraphs?: SubgraphDef[]; [key: string]: unknown };
  [key: string]: unknown;
}

/** An input or output of a subgraph: a slot of its instance nodes and of its boundary node inside. */
export interface SubgraphIO {
  id: string;
  name: string;
  type: string;
  linkIds?: number[];
  label?: string;
  [key: string]: unknown;
}

/** One of `definitions.subgraphs` (ComfyUI's format; its links are held as arrays while the editor has it, and
 * written back as objects on save). Instance nodes have ``type`` = ``id``; inside, the links from the subgraph's
 * inputs start at node -10 and those to its outputs end at node -20. */
export interface SubgraphDef {
  id: string;
  name: string;
  nodes: UINode[];
  links: UILink[];
  groups?: UIGroup[];
  extra?: Record<string, unknown>;
  inputs: SubgraphIO[];
  outputs: SubgraphIO[];
  widgets?: { id: number; name: string }[];
  inputNode: { id: number; bounding: [number, number, number, number]; [key: string]: unknown };
  outputNode: { id: number; bounding: [number, number, number, number]; [key: string]: unknown };
  [key: string]: unknown;
}

export interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title: string };
}

export type ApiPrompt = Record<string, ApiNode>;

export const MODE_ALWAYS = 0;
export const MODE_MUTED = 2;
export const MODE_BYPASSED = 4;
/** Node types that live only in the editor (the server turns them into nothing or into constants). */
export const VIRTUAL_NODES = new Set(["PrimitiveNode", "Reroute", "Note", "MarkdownNote"]);
