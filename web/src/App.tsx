// The editor shell: loads node definitions and the last session, connects the websocket, wires shortcuts.
import { ReactFlowProvider } from "@xyflow/react";
import { useEffect } from "react";
import { api } from "./api/client";
import { ServerSocket } from "./api/socket";
import { Canvas } from "./components/Canvas";
import { Palette } from "./components/Palette";
import { SidePanel } from "./components/Panels";
import { Tabs, Toolbar } from "./components/Toolbar";
import { duplicate, removeNodes, updateNode } from "./model/document";
import { groupAround } from "./model/groups";
import { missingMessage } from "./model/nodeSources";
import { isBoundary } from "./model/subgraphs";
import { readWorkflow } from "./model/workflowFile";
import { convertSelection } from "./state/subgraphActions";
import { MODE_ALWAYS, MODE_BYPASSED, MODE_MUTED, type UILink, type UINode } from "./model/types";
import { handleEvent, loadDefinitions, missingTypes, openData, queuePrompt, saveActive, showPreview } from "./state/actions";
import { activeGraph, activeTab, editGraph, getState, notify, openTab, redo, restoreSession, saveSession, setState, undo, useStore } from "./state/store";

let clipboard: { nodes: UINode[]; links: UILink[] } | null = null;

function copySelection(): void {
  const doc = activeGraph();
  const ids = new Set(getState().selected);
  if (!doc || !ids.size) return;
  clipboard = { nodes: doc.nodes.filter((n) => ids.has(n.id)), links: doc.links.filter((l) => ids.has(l[1]) && ids.has(l[3])) };
}

function paste(): void {
  if (!clipboard) return;
  const { nodes, links } = clipboard;
  let created: number[] = [];
  editGraph((doc) => {
    const [next, ids] = duplicate(doc, nodes, links, [40, 40]);
    created = ids;
    return next;
  });
  setState({ selected: created });
}

/** Ctrl+V: a workflow (or API prompt) copied as text opens in a new tab, as ComfyUI's web app opens it;
 * otherwise the nodes copied in the editor are pasted. */
function onPaste(event: ClipboardEvent): void {
  const target = event.target as HTMLElement;
  if (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return;
  const text = event.clipboardData?.getData("text/plain")?.trim() ?? "";
  if (text.startsWith("{")) {
    try {
      const data: unknown = JSON.parse(text);
      event.preventDefault();
      void openData("Pasted workflow", data);
      return;
    } catch {
      // not JSON: paste the editor's own clipboard
    }
  }
  paste();
}

function toggleMode(mode: number): void {
  const ids = getState().selected;
  editGraph((doc) => ids.reduce((d, id) => updateNode(d, id, (n) => {
    n.mode = n.mode === mode ? MODE_ALWAYS : mode;
  }), doc));
}

function onKey(event: KeyboardEvent): void {
  const target = event.target as HTMLElement;
  const typing = target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT";
  const ctrl = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  if (ctrl && key === "enter") {
    event.preventDefault();
    void queuePrompt();
  } else if (ctrl && key === "s") {
    event.preventDefault();
    void saveActive();
  } else if (typing) {
    return;
  } else if (ctrl && key === "z") {
    event.preventDefault();
    if (event.shiftKey) redo();
    else undo();
  } else if (ctrl && key === "y") {
    event.preventDefault();
    redo();
  } else if (ctrl && key === "c") {
    copySelection();
  } else if (ctrl && key === "d") {
    event.preventDefault();
    copySelection();
    paste();
  } else if (ctrl && key === "m") {
    event.preventDefault();
    toggleMode(MODE_MUTED);
  } else if (ctrl && key === "b") {
    event.preventDefault();
    toggleMode(MODE_BYPASSED);
  } else if (ctrl && key === "g") {
    event.preventDefault();
    editGraph((doc) => groupAround(doc, getState().selected));
  } else if (ctrl && key === "a") {
    event.preventDefault();
    setState({ selected: activeGraph()?.nodes.filter((n) => !isBoundary(n.id)).map((n) => n.id) ?? [] });
  } else if (ctrl && event.shiftKey && key === "e") {
    event.preventDefault();
    convertSelection();
  } else if (key === "delete" && getState().selected.length) {
    const ids = new Set(getState().selected.filter((id) => !isBoundary(id)));
    editGraph((doc) => removeNodes(doc, ids));
    setState({ selected: [] });
  }
}

async function start(): Promise<void> {
  try {
    await loadDefinitions();
  } catch (error) {
    notify("error", `Could not read node definitions: ${error}`);
  }
  if (!restoreSession()) {
    const doc = await api.defaultWorkflow().catch(() => null);
    if (doc) openTab("default", readWorkflow(doc));
    else openTab("untitled", { last_node_id: 0, last_link_id: 0, nodes: [], links: [], version: 0.4 });
  }
}

function MissingBanner() {
  const missing = useStore((s) => {
    const tab = activeTab(s);
    return tab && Object.keys(s.defs).length ? missingMessage(missingTypes(tab.doc), s.nodeSources) : "";
  });
  if (!missing) return null;
  return <div className="banner" data-testid="missing-banner">Missing node types (kept as placeholders): {missing}</div>;
}

export function App() {
  useEffect(() => {
    const socket = new ServerSocket(handleEvent, showPreview, (connected) => setState({ connected }));
    (window as unknown as { atelierSocket: ServerSocket }).atelierSocket = socket;
    socket.connect();
    void start();
    window.addEventListener("keydown", onKey);
    window.addEventListener("paste", onPaste);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const persist = () => {
      clearTimeout(timer);
      timer = setTimeout(saveSession, 300);
    };
    const unsubscribe = setInterval(persist, 1000);
    window.addEventListener("beforeunload", saveSession);
    return () => {
      socket.close();
      window.removeEventListener("keydown", onKey);
      window.removeEventListener("paste", onPaste);
      clearInterval(unsubscribe);
    };
  }, []);
  return (
    <ReactFlowProvider>
      <div className="app">
        <Toolbar />
        <Tabs />
        <MissingBanner />
        <main>
          <Canvas />
          <SidePanel />
        </main>
        <Palette />
      </div>
    </ReactFlowProvider>
  );
}
