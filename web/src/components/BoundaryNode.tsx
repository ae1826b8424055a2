// A subgraph's inputs (node -10) or outputs (node -20), drawn inside it. Each slot can be renamed (double-click)
// or removed; a link dropped on the empty slot at the end adds a new input or output.
import { Handle, type NodeProps, Position } from "@xyflow/react";
import { memo, useState } from "react";
import { nodeById } from "../model/document";
import { INPUT_NODE } from "../model/subgraphs";
import { typeColour } from "../model/nodeDefs";
import { removeSlot, renameSlot } from "../state/subgraphActions";
import { activeGraph, useStore } from "../state/store";
import { sameGraphNodeProps } from "./flowElements";

function SlotLabel({ side, index, name }: { side: "inputs" | "outputs"; index: number; name: string }) {
  const [editing, setEditing] = useState(false);
  const done = (value: string) => {
    setEditing(false);
    if (value.trim() && value !== name) renameSlot(side, index, value.trim());
  };
  return editing
    ? <input className="nodrag slot-rename" autoFocus data-testid={`rename-${side}-${index}`} defaultValue={name}
      onBlur={(e) => done(e.target.value)}
      onKeyDown={(e) => { if (e.key === "Enter" || e.key === "Escape") (e.target as HTMLInputElement).blur(); }} />
    : <span data-testid={`subgraph-${side}-${index}`} onDoubleClick={(e) => { e.stopPropagation(); setEditing(true); }}>{name}</span>;
}

export const BoundaryNode = memo(function BoundaryNode({ data }: NodeProps) {
  const { nodeId } = data as { nodeId: number };
  const node = useStore((s) => {
    const graph = activeGraph(s);
    return graph && nodeById(graph, nodeId);
  });
  if (!node) return null;
  const inputs = nodeId === INPUT_NODE;
  const side = inputs ? "inputs" : "outputs";
  const slots = (inputs ? node.outputs : node.inputs) ?? [];
  return (
    <div className={`boundary-node ${side}`} data-testid={`boundary-${side}`}>
      <div className="node-title">{inputs ? "Inputs" : "Outputs"}</div>
      {slots.map((slot, index) => {
        const empty = index === slots.length - 1;
        return (
          <div key={index} className={`socket ${inputs ? "out" : "in"}`}>
            {!inputs && <Handle type="target" position={Position.Left} id={`in-${index}`} style={{ background: typeColour(slot.type) }} />}
            {empty ? <span className="empty-slot">+</span> : (
              <>
                <SlotLabel side={side} index={index} name={slot.name} />
                <button className="nodrag remove-slot" title="Remove" data-testid={`remove-${side}-${index}`}
                  onClick={() => removeSlot(side, index)}>✕</button>
              </>
            )}
            {inputs && <Handle type="source" position={Position.Right} id={`out-${index}`} style={{ background: typeColour(slot.type) }} />}
          </div>
        );
      })}
    </div>
  );
}, sameGraphNodeProps);
