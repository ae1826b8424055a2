// The editor's state: open workflows (tabs, with undo/redo), node definitions, and what the server reports
// about the running prompt. Components subscribe with useStore(selector).
import { useSyncExternalStore } from "react";
import type { ImageRef } from "../api/client";
import type { NodeDef } from "../model/nodeDefs";
import type { PluginMessage } from "../model/plugins";
import { readWorkflow } from "../model/workflowFile";
import { graphAt, validPath, withGraph } from "../model/subgraphs";
import type { UINode, UIWorkflow } from "../model/types";

export interface Tab {
  id: string;
  name: string;
  savedAs: string | null; // file name in the server's workflows folder
  doc: UIWorkflow;
  path: number[]; // the subgraph open on the canvas: instance node ids from the root inwards
  undo: UIWorkflow[];
  redo: UIWorkflow[];
  dirty: boolean;
}

export interface RunState {
  promptId: string | null;
  executing: string | null;
  progress: Record<string, { value: number; max: number }>;
  cached: string[];
  previews: Record<string, string>;
  outputs: Record<string, ImageRef[]>;
  texts: Record<string, string[]>;
  nodeErrors: Record<string, { message: string; inputs: Record<string, string> }>;
}

export interface State {
  defs: Record<string, NodeDef>;
  tabs: Tab[];
  active: string;
  selected: number[];
  run: RunState;
  messages: { level: "error" | "warning" | "info"; text: string }[];
  gallery: ImageRef[];
  queueRemaining: number;
  connected: boolean;
  palette: { x: number; y: number; from?: { node: number; slot: number; type: string } } | null;
  panel: "queue" | "gallery" | "errors" | "workflows";
  plugins: PluginMessage[]; // failures and what packs did at import, from /api/atelier/plugins
  nodeSources: Record<string, string>; // node type -> the plug-in that usually provides it
}

export const emptyRun = (): RunState => ({
  promptId: null, executing: null, progress: {}, cached: [], previews: {}, outputs: {}, texts: {}, nodeErrors: {},
});

let state: State = {
  defs: {}, tabs: [], active: "", selected: [], run: emptyRun(), messages: [], gallery: [], queueRemaining: 0,
  connected: false, palette: null, panel: "queue", plugins: [], nodeSources: {},
};
const listeners = new Set<() => void>();

export function getState(): State {
  return state;
}

export function setState(change: Partial<State> | ((s: State) => Partial<State>)): void {
  state = { ...state, ...(typeof change === "function" ? change(state) : change) };
  for (const listener of listeners) listener();
}

export function useStore<T>(selector: (s: State) => T): T {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => selector(state),
  );
}

export function activeTab(s: State = state): Tab | undefined {
  return s.tabs.find((tab) => tab.id === s.active);
}

/** The path of the open subgraph, as far as it is still valid (an undo may have taken the subgraph away). */
export function openPath(s: State = state): number[] {
  const tab = activeTab(s);
  return tab ? validPath(tab.doc, tab.path) : [];
}

/** The graph on the canvas: the active document, or the subgraph open in it. */
export function activeGraph(s: State = state): UIWorkflow | undefined {
  const tab = activeTab(s);
  return tab && graphAt(tab.doc, tab.path);
}

/** Replace the active document; ``record`` pushes the old one on the undo stack. */
export function editDoc(change: (doc: UIWorkflow) => UIWorkflow, record = true): void {
  setState((s) => ({
    tabs: s.tabs.map((tab) => {
      if (tab.id !== s.active) return tab;
      const doc = change(tab.doc);
      if (doc === tab.doc) return tab;
      return record
        ? { ...tab, doc, undo: [...tab.undo.slice(-99), tab.doc], redo: [], dirty: true }
        : { ...tab, doc, dirty: true };
    }),
  }));
}

/** An edit of the graph on the canvas (the open subgraph, or the root). */
export function editGraph(change: (graph: UIWorkflow) => UIWorkflow, record = true): void {
  const path = openPath();
  const defs = state.defs;
  editDoc((doc) => withGraph(doc, path, change, defs), record);
}

/** Opens a subgraph (``path`` of instance ids from the root), or the root with ``[]``. */
export function openGraph(path: number[]): void {
  setState((s) => ({ tabs: s.tabs.map((tab) => (tab.id === s.active ? { ...tab, path } : tab)), selected: [] }));
}

/** Records the sizes the canvas measured into the active document: layout, not an edit (no undo step, not dirty). */
export function recordNodeSizes(sizes: Map<number, [number, number]>): void {
  const tab = activeTab();
  const graph = activeGraph();
  if (!tab || !graph) return;
  const resized = (node: UINode) => {
    const size = sizes.get(node.id);
    return size !== undefined && (size[0] !== node.size[0] || size[1] !== node.size[1]);
  };
  if (!graph.nodes.some(resized)) return; // unchanged nodes keep their objects, so nothing re-renders
  const resize = (g: UIWorkflow) => ({ ...g, nodes: g.nodes.map((node) => (resized(node) ? { ...node, size: sizes.get(node.id)! } : node)) });
  const doc = withGraph(tab.doc, openPath(), resize, state.defs);
  setState((s) => ({ tabs: s.tabs.map((t) => (t.id === tab.id ? { ...t, doc } : t)) }));
}

export function undo(): void {
  setState((s) => ({
    tabs: s.tabs.map((tab) => (tab.id === s.active && tab.undo.length
      ? { ...tab, doc: tab.undo[tab.undo.length - 1], undo: tab.undo.slice(0, -1), redo: [...tab.redo, tab.doc], dirty: true }
      : tab)),
  }));
}

export function redo(): void {
  setState((s) => ({
    tabs: s.tabs.map((tab) => (tab.id === s.active && tab.redo.length
      ? { ...tab, doc: tab.redo[tab.redo.length - 1], redo: tab.redo.slice(0, -1), undo: [...tab.undo, tab.doc], dirty: true }
      : tab)),
  }));
}

export function openTab(name: string, doc: UIWorkflow, savedAs: string | null = null): void {
  const tab: Tab = { id: crypto.randomUUID(), name, savedAs, doc, path: [], undo: [], redo: [], dirty: false };
  setState((s) => ({ tabs: [...s.tabs, tab], active: tab.id, selected: [], run: emptyRun() }));
}

export function notify(level: "error" | "warning" | "info", text: string): void {
  setState((s) => ({ messages: [...s.messages.slice(-49), { level, text }] }));
}

const SESSION_KEY = "atelier.session.v1";

let savedSession: Pick<State, "tabs" | "active"> | null = null;

export function saveSession(): void {
  const { tabs, active } = state;
  if (savedSession?.tabs === tabs && savedSession.active === active) return; // every edit makes new tabs
  savedSession = { tabs, active };
  const stored = tabs.map(({ id, name, savedAs, doc, dirty }) => ({ id, name, savedAs, doc, dirty }));
  try {
    localStorage.setItem(SESSION_KEY, JSON.stringify({ tabs: stored, active }));
  } catch {
    // storage full or unavailable: the session just is not restored
  }
}

export function restoreSession(): boolean {
  const raw = localStorage.getItem(SESSION_KEY);
  if (!raw) return false;
  try {
    const { tabs, active } = JSON.parse(raw) as { tabs: Omit<Tab, "undo" | "redo">[]; active: string };
    if (!tabs.length) return false;
    setState({ tabs: tabs.map((tab) => ({ ...tab, doc: readWorkflow(tab.doc), path: [], undo: [], redo: [] })), active });
    return true;
  } catch {
    return false;
  }
}
