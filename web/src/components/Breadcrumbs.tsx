// Where the canvas is: the workflow, then each subgraph opened on the way in. A click goes back out to that level;
// double-clicking the open subgraph's name renames it.
import { useState } from "react";
import { subgraphPath } from "../model/subgraphs";
import { renameOpenSubgraph } from "../state/subgraphActions";
import { activeTab, openGraph, openPath, useStore } from "../state/store";

export function Breadcrumbs() {
  const names = useStore((s) => {
    const tab = activeTab(s);
    return tab ? subgraphPath(tab.doc, openPath(s)).map((def) => def.name).join("\n") : "";
  });
  const path = useStore((s) => openPath(s).join(":"));
  const [renaming, setRenaming] = useState(false);
  if (!names) return null;
  const ids = path.split(":").map(Number);
  const crumbs = names.split("\n");
  const rename = (name: string) => {
    setRenaming(false);
    renameOpenSubgraph(name.trim());
  };
  return (
    <nav className="breadcrumbs" data-testid="breadcrumbs">
      <button data-testid="crumb-0" onClick={() => openGraph([])}>Workflow</button>
      {crumbs.map((name, i) => {
        const last = i === crumbs.length - 1;
        return (
          <span key={i}>
            <span className="crumb-separator">›</span>
            {last && renaming
              ? <input autoFocus data-testid="subgraph-name" defaultValue={name} onBlur={(e) => rename(e.target.value)}
                onKeyDown={(e) => { if (e.key === "Enter" || e.key === "Escape") (e.target as HTMLInputElement).blur(); }} />
              : <button data-testid={`crumb-${i + 1}`} className={last ? "current" : ""}
                onClick={() => openGraph(ids.slice(0, i + 1))} onDoubleClick={() => last && setRenaming(true)}>{name}</button>}
          </span>
        );
      })}
    </nav>
  );
}
