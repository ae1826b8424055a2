// A node on the canvas: typed handles, widgets, progress, previews, outputs and errors.
import { Handle, type NodeProps, Position } from "@xyflow/react";
import { memo, useCallback } from "react";
import { viewUrl } from "../api/client";
import { nodeById, setWidget, toggleWidgetInput, updateNode } from "../model/document";
import { typeColour } from "../model/nodeDefs";
import { MODE_BYPASSED, MODE_MUTED, type UINode } from "../model/types";
import { activeTab, editDoc, useStore } from "../state/store";
import { sameGraphNodeProps } from "./flowElements";
import { ImageInput } from "./ImageInput";
import { ControlWidget, Widget } from "./Widget";

export type GraphNodeData = { nodeId: number };

function useNode(id: number): UINode | undefined {
  return useStore((s) => {
    const doc = activeTab(s)?.doc;
    return doc && nodeById(doc, id);
  });
}

function NodeStatus({ id }: { id: string }) {
  const progress = useStore((s) => s.run.progress[id]);
  const preview = useStore((s) => s.run.previews[id]);
  const outputs = useStore((s) => s.run.outputs[id]);
  const texts = useStore((s) => s.run.texts[id]);
  const error = useStore((s) => s.run.nodeErrors[id]);
  return (
    <>
      {progress && (
        <div className="progress" data-testid={`progress-${id}`}>
          <div style={{ width: `${(100 * progress.value) / Math.max(1, progress.max)}%` }} />
        </div>
      )}
      {preview && !outputs && <img className="preview" src={preview} alt="live preview" />}
      {outputs && (
        <div className={outputs.length > 1 ? "outputs grid" : "outputs"}>
          {outputs.map((image) => (
            <img key={`${image.subfolder}/${image.filename}`} className="output" data-testid="output-image" src={viewUrl(image)} alt={image.filename} />
          ))}
        </div>
      )}
      {texts?.map((line, index) => <div key={index} className="node-text">{line}</div>)}
      {error && <div className="node-error" data-testid={`node-error-${id}`}>{error.message}</div>}
    </>
  );
}

function NoteBody({ node }: { node: UINode }) {
  const value = Array.isArray(node.widgets_values) ? String(node.widgets_values[0] ?? "") : "";
  return (
    <textarea className="nodrag nowheel note" value={value}
      onChange={(e) => editDoc((doc) => setWidget(doc, node.id, 0, e.target.value))} />
  );
}

export const GraphNode = memo(function GraphNode({ data, selected }: NodeProps) {
  const { nodeId } = data as GraphNodeData;
  const node = useNode(nodeId);
  const def = useStore((s) => (node ? s.defs[node.type] : undefined));
  const running = useStore((s) => s.run.executing === String(nodeId));
  const cached = useStore((s) => s.run.cached.includes(String(nodeId)));
  const inputErrors = useStore((s) => s.run.nodeErrors[String(nodeId)]?.inputs);
  const change = useCallback((index: number, value: unknown) => editDoc((doc) => setWidget(doc, nodeId, index, value)), [nodeId]);
  if (!node) return null;
  const virtual = node.type === "Note" || node.type === "MarkdownNote" || node.type === "Reroute" || node.type === "PrimitiveNode";
  const missing = !def && !virtual;
  const converted = new Set((node.inputs ?? []).filter((s) => s.widget).map((s) => s.widget!.name));
  const values = Array.isArray(node.widgets_values) ? node.widgets_values : [];
  const classes = ["graph-node", selected && "selected", running && "running", cached && "cached", missing && "missing",
    node.mode === MODE_MUTED && "muted", node.mode === MODE_BYPASSED && "bypassed", node.flags?.collapsed && "collapsed"];
  return (
    <div className={classes.filter(Boolean).join(" ")} data-testid={`node-${nodeId}`}>
      <div className="node-title">
        <button className="nodrag collapse" title="Collapse" onClick={() => editDoc((doc) => updateNode(doc, nodeId, (n) => {
          n.flags = { ...n.flags, collapsed: !n.flags?.collapsed };
        }))}>{node.flags?.collapsed ? "▸" : "▾"}</button>
        <span>{node.title ?? def?.displayName ?? node.type}</span>
        {missing && <span className="badge" title="No such node type on this server">missing</span>}
        {cached && <span className="badge cached-badge">cached</span>}
      </div>
      <div className="node-body">
        <div className="sockets">
          <div className="inputs">
            {(node.inputs ?? []).map((slot, index) => (
              <div key={`in-${index}`} className="socket in">
                <Handle type="target" position={Position.Left} id={`in-${index}`} style={{ background: typeColour(slot.type) }} />
                <span>{slot.name}</span>
                {inputErrors?.[slot.name] && <span className="input-error">{inputErrors[slot.name]}</span>}
              </div>
            ))}
          </div>
          <div className="outputs">
            {(node.outputs ?? []).map((slot, index) => (
              <div key={`out-${index}`} className="socket out">
                <span>{slot.name}</span>
                <Handle type="source" position={Position.Right} id={`out-${index}`} style={{ background: typeColour(slot.type) }} />
              </div>
            ))}
          </div>
        </div>
        {!node.flags?.collapsed && (
          <div className="widgets">
            {(node.type === "Note" || node.type === "MarkdownNote") && <NoteBody node={node} />}
            {node.type === "PrimitiveNode" && (
              <input className="nodrag" value={String(values[0] ?? "")} onChange={(e) => change(0, e.target.value)} />
            )}
            {def?.slots.map((slot, index) => {
              if ("widget" in slot) {
                if (converted.has(slot.widget.name)) return null;
                return (
                  <div key={slot.widget.name} className="widget-row">
                    <Widget nodeId={nodeId} widget={slot.widget} value={values[index]} error={inputErrors?.[slot.widget.name]}
                      onChange={(value) => change(index, value)} />
                    <button className="nodrag to-input" title="Convert to input"
                      onClick={() => editDoc((doc) => toggleWidgetInput(doc, nodeId, slot.widget.name, slot.widget.kind))}>⇤</button>
                  </div>
                );
              }
              if (slot.hidden === "control" && !converted.has(slot.of)) {
                return <ControlWidget key={`control-${slot.of}`} nodeId={nodeId} of={slot.of} value={values[index]} onChange={(v) => change(index, v)} />;
              }
              if (slot.hidden === "upload" && !converted.has(slot.of)) {
                const target = def.slots.findIndex((s) => "widget" in s && s.widget.name === slot.of);
                return <ImageInput key={`upload-${slot.of}`} nodeId={nodeId} value={values[target]} onChange={(v) => change(target, v)} />;
              }
              return null;
            })}
            {[...converted].map((name) => (
              <button key={name} className="nodrag to-widget" onClick={() => editDoc((doc) => toggleWidgetInput(doc, nodeId, name, ""))}>
                {name}: back to widget
              </button>
            ))}
            {missing && values.length > 0 && <div className="raw-values">{JSON.stringify(values)}</div>}
          </div>
        )}
        <NodeStatus id={String(nodeId)} />
      </div>
    </div>
  );
}, sameGraphNodeProps);
