// The toolbar and the workflow tabs.
import { useRef } from "react";
import { emptyWorkflow } from "../model/document";
import { exportApi, exportWorkflow, openFile, queuePrompt, saveActive } from "../state/actions";
import { convertSelection } from "../state/subgraphActions";
import { activeTab, openTab, setState, useStore } from "../state/store";

export function Toolbar() {
  const name = useStore((s) => activeTab(s)?.name); // not the tab, which every edit renews
  const remaining = useStore((s) => s.queueRemaining);
  const connected = useStore((s) => s.connected);
  const selected = useStore((s) => s.selected.length > 0);
  const fileInput = useRef<HTMLInputElement>(null);
  return (
    <header className="toolbar">
      <strong className="brand">Atelier</strong>
      <button data-testid="queue-button" className="primary" onClick={() => void queuePrompt()} title="Ctrl+Enter">Queue</button>
      <span className="queue-count">{remaining} in queue</span>
      <input data-testid="workflow-name" className="name" value={name ?? ""} onChange={(e) => {
        const name = e.target.value;
        setState((s) => ({ tabs: s.tabs.map((t) => (t.id === s.active ? { ...t, name, dirty: true } : t)) }));
      }} />
      <button data-testid="save-workflow" onClick={() => void saveActive()} title="Ctrl+S">Save</button>
      <button data-testid="open-workflow" onClick={() => setState({ panel: "workflows" })}>Open…</button>
      <button onClick={() => fileInput.current?.click()}>Import</button>
      <button onClick={exportWorkflow}>Export</button>
      <button onClick={() => void exportApi()}>Export (API)</button>
      <button onClick={() => setState({ palette: { x: innerWidth / 2 - 180, y: 120 } })}>Add node</button>
      <button data-testid="to-subgraph" disabled={!selected} onClick={convertSelection} title="Ctrl+Shift+E">To subgraph</button>
      <span className={`connection ${connected ? "up" : "down"}`}>{connected ? "connected" : "offline"}</span>
      <input ref={fileInput} type="file" accept=".json,.png" hidden onChange={(e) => {
        for (const file of Array.from(e.target.files ?? [])) void openFile(file);
        e.target.value = "";
      }} />
    </header>
  );
}

export function Tabs() {
  const tabs = useStore((s) => s.tabs);
  const active = useStore((s) => s.active);
  return (
    <div className="tabs">
      {tabs.map((tab) => (
        <div key={tab.id} className={`tab${tab.id === active ? " active" : ""}`} onClick={() => setState({ active: tab.id, selected: [] })}>
          {tab.name}{tab.dirty && <span className="dirty" title="Unsaved changes"> ●</span>}
          <button onClick={(e) => {
            e.stopPropagation();
            if (tab.dirty && !confirm(`Close ${tab.name} without saving?`)) return;
            setState((s) => {
              const rest = s.tabs.filter((t) => t.id !== tab.id);
              return { tabs: rest, active: s.active === tab.id ? rest[rest.length - 1]?.id ?? "" : s.active };
            });
          }}>×</button>
        </div>
      ))}
      <button className="new-tab" onClick={() => openTab("untitled", emptyWorkflow())}>+</button>
    </div>
  );
}
