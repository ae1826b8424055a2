// Add a node: a searchable list built from /object_info (double-click the canvas, or drop a wire on it).
import { useReactFlow } from "@xyflow/react";
import { useMemo, useState } from "react";
import { addNode, connect } from "../model/document";
import { type NodeDef, typesMatch } from "../model/nodeDefs";
import { editGraph, setState, useStore } from "../state/store";

function accepts(def: NodeDef, type: string): number {
  const socket = def.sockets.findIndex((s) => typesMatch(type, s.type));
  return socket;
}

export function Palette() {
  const palette = useStore((s) => s.palette);
  const defs = useStore((s) => s.defs);
  const [query, setQuery] = useState("");
  const [category, setCategory] = useState("");
  const flow = useReactFlow();
  const categories = useMemo(() => [...new Set(Object.values(defs).map((d) => d.category.split("/")[0]))].sort(), [defs]);
  const matches = useMemo(() => {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    return Object.values(defs)
      .filter((def) => !palette?.from || accepts(def, palette.from.type) >= 0)
      .filter((def) => !category || def.category.startsWith(category))
      .filter((def) => words.every((w) => `${def.displayName} ${def.name} ${def.category}`.toLowerCase().includes(w)))
      .sort((a, b) => a.displayName.localeCompare(b.displayName))
      .slice(0, 60);
  }, [defs, query, category, palette]);
  if (!palette) return null;
  const close = () => {
    setState({ palette: null });
    setQuery("");
  };
  const choose = (def: NodeDef) => {
    const position = flow.screenToFlowPosition({ x: palette.x, y: palette.y });
    editGraph((doc) => {
      const [next, id] = addNode(doc, def, [position.x, position.y]);
      const from = palette.from;
      return from ? connect(next, from.node, from.slot, id, accepts(def, from.type)) : next;
    });
    close();
  };
  return (
    <div className="palette-backdrop" onClick={close}>
      <div className="palette" style={{ left: Math.min(palette.x, innerWidth - 380), top: Math.min(palette.y, innerHeight - 420) }}
        onClick={(e) => e.stopPropagation()}>
        <input autoFocus data-testid="palette-search" placeholder={palette.from ? `Nodes that take ${palette.from.type}…` : "Search nodes…"}
          value={query} onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && matches[0]) choose(matches[0]);
            if (e.key === "Escape") close();
          }} />
        <div className="palette-categories">
          <button className={category === "" ? "active" : ""} onClick={() => setCategory("")}>all</button>
          {categories.map((c) => <button key={c} className={category === c ? "active" : ""} onClick={() => setCategory(c)}>{c}</button>)}
        </div>
        <ul>
          {matches.map((def) => (
            <li key={def.name} data-testid={`palette-item-${def.name}`} onClick={() => choose(def)} title={def.description}>
              <strong>{def.displayName}</strong> <small>{def.category}</small>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
