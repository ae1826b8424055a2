// A node on the canvas: typed handles, widgets, progress, previews, outputs and errors. A subgraph's instance
// shows its promoted widgets and, for the nodes inside it, their progress and errors (ids "12:5" and the like).
import { Handle, type NodeProps, Position } from "@xyflow/react";
import { memo, useCallback } from "react";
import { viewUrl } from "../api/client";
import { nodeById, setWidget, toggleWidgetInput, updateNode, withNode } from "../model/document";
import { typeColour } from "../model/nodeDefs";
import { hasProxyWidgets, proxyWidgets, setProxyWidget } from "../model/proxyWidgets";
import { promotedValueIndex, promotedWidget, subgraphOf } from "../model/subgraphs";
import { MODE_BYPASSED, MODE_MUTED, type SubgraphDef, type UINode, VIRTUAL_NODES } from "../model/types";
import { enterSubgraph, promote, unpack } from "../state/subgraphActions";
import { activeGraph, activeTab, editDoc, editGraph, getState, openPath, type State, useStore } from "../state/store";
import { sameGraphNodeProps } from "./flowElements";
import { ImageInput } from "./ImageInput";
import { ControlWidget, Widget } from "./Widget";

export type GraphNodeData = { nodeId: number };

function useNode(id: number): UINode | undefined {
  return useStore((s) => {
    const graph = activeGraph(s);
    return graph && nodeById(graph, id);
  });
}

/** The entry of ``record`` for ``id``, or with ``inner`` for the first of the nodes inside it ("id:..."). */
function own<T>(record: Record<string, T>, id: string, inner: boolean): T | undefined {
  if (id in record || !inner) return record[id];
  const key = Object.keys(record).find((k) => k.startsWith(`${id}:`));
  return key === undefined ? undefined : record[key];
}

function innerErrors(s: State, id: string): string {
  return Object.entries(s.run.nodeErrors).filter(([key]) => key.startsWith(`${id}:`))
    .map(([key, error]) => `#${key}: ${error.message}`).join("\n");
}

/** ``id``: the node's path id; ``inner``: whether it is a subgraph instance, which reports for its nodes too. */
function NodeStatus({ id, inner }: { id: string; inner: boolean }) {
  const progress = useStore((s) => own(s.run.progress, id, inner));
  const preview = useStore((s) => own(s.run.previews, id, inner));
  const outputs = useStore((s) => own(s.run.outputs, id, inner));
  const texts = useStore((s) => s.run.texts[id]);
  const error = useStore((s) => s.run.nodeErrors[id]?.message ?? (inner ? innerErrors(s, id) : ""));
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
      {error && <div className="node-error" data-testid={`node-error-${id}`}>{error}</div>}
    </>
  );
}

function NoteBody({ node }: { node: UINode }) {
  const value = Array.isArray(node.widgets_values) ? String(node.widgets_values[0] ?? "") : "";
  return (
    <textarea className="nodrag nowheel note" value={value}
      onChange={(e) => editGraph((doc) => setWidget(doc, node.id, 0, e.target.value))} />
  );
}

/** The document's subgraph definitions: all that an instance's widgets read, so an edit elsewhere in the
 * document (which keeps the definitions object) re-renders none of the instances. */
const selectDefinitions = (s: State) => activeTab(s)?.doc.definitions;

/** The widgets an instance shows: those of its inputs that are promoted inner widgets and are not linked. */
function PromotedWidgets({ node }: { node: UINode }) {
  const defs = useStore((s) => s.defs);
  const definitions = useStore(selectDefinitions);
  const doc = { definitions };
  const values = Array.isArray(node.widgets_values) ? node.widgets_values : [];
  return (
    <>
      {(node.inputs ?? []).map((slot, index) => {
        if (!slot.widget || slot.link != null) return null;
        const widget = promotedWidget(doc, node, index, defs);
        const at = promotedValueIndex(node, index);
        if (!widget) return null;
        const change = (value: unknown) => editGraph((g) => withNode(g, node.id, (n) => {
          const next = Array.isArray(n.widgets_values) ? [...n.widgets_values] : [];
          next[at] = value;
          return { ...n, widgets_values: next };
        }));
        return <Widget key={index} nodeId={node.id} widget={{ ...widget, name: (slot.label as string | undefined) ?? slot.name }} value={values[at]} onChange={change} />;
      })}
    </>
  );
}

/** The widgets of an instance whose promoted widgets are listed in ``properties.proxyWidgets``. */
function ProxyWidgets({ node }: { node: UINode }) {
  const defs = useStore((s) => s.defs);
  const definitions = useStore(selectDefinitions);
  return (
    <>
      {proxyWidgets({ definitions }, node, defs).map((shown) => {
        const change = (value: unknown) => editDoc((d) => setProxyWidget(d, openPath(), node.id, shown, value, getState().defs));
        return <Widget key={shown.index} nodeId={node.id} widget={{ ...shown.widget, name: shown.label }} value={shown.value} onChange={change} />;
      })}
    </>
  );
}

function SubgraphButtons({ id }: { id: number }) {
  return (
    <div className="subgraph-buttons">
      <button className="nodrag" data-testid={`open-subgraph-${id}`} title="Open the subgraph (or double-click the node)"
        onClick={() => enterSubgraph(id)}>open</button>
      <button className="nodrag" data-testid={`unpack-${id}`} title="Put its nodes back in this graph" onClick={() => unpack(id)}>unpack</button>
    </div>
  );
}

export const GraphNode = memo(function GraphNode({ data, selected }: NodeProps) {
  const { nodeId } = data as GraphNodeData;
  const node = useNode(nodeId);
  const prefix = useStore((s) => openPath(s).join(":"));
  const key = prefix ? `${prefix}:${nodeId}` : String(nodeId);
  const def = useStore((s) => (node ? s.defs[node.type] : undefined));
  const subgraph: SubgraphDef | undefined = useStore((s) => {
    const definitions = selectDefinitions(s);
    return definitions && node ? subgraphOf({ definitions }, node) : undefined;
  });
  const running = useStore((s) => s.run.executing === key || Boolean(subgraph && s.run.executing?.startsWith(`${key}:`)));
  const cached = useStore((s) => s.run.cached.includes(key));
  const inputErrors = useStore((s) => s.run.nodeErrors[key]?.inputs);
  const change = useCallback((index: number, value: unknown) => editGraph((doc) => setWidget(doc, nodeId, index, value)), [nodeId]);
  if (!node) return null;
  const virtual = VIRTUAL_NODES.has(node.type);
  const missing = !def && !virtual && !subgraph;
  const converted = new Set((node.inputs ?? []).filter((s) => s.widget).map((s) => s.widget!.name));
  const values = Array.isArray(node.widgets_values) ? node.widgets_values : [];
  const classes = ["graph-node", selected && "selected", running && "running", cached && "cached", missing && "missing",
    subgraph && "subgraph-instance", node.mode === MODE_MUTED && "muted", node.mode === MODE_BYPASSED && "bypassed",
    node.flags?.collapsed && "collapsed"];
  return (
    <div className={classes.filter(Boolean).join(" ")} data-testid={`node-${nodeId}`}>
      <div className="node-title">
        <button className="nodrag collapse" title="Collapse" onClick={() => editGraph((doc) => updateNode(doc, nodeId, (n) => {
          n.flags = { ...n.flags, collapsed: !n.flags?.collapsed };
        }))}>{node.flags?.collapsed ? "▸" : "▾"}</button>
        <span>{node.title ?? subgraph?.name ?? def?.displayName ?? node.type}</span>
        {subgraph && <span className="badge subgraph-badge" title="A subgraph: double-click to open it">subgraph</span>}
        {missing && <span className="badge" title="No such node type on this server">missing</span>}
        {cached && <span className="badge cached-badge">cached</span>}
      </div>
      <div className="node-body">
        <div className="sockets">
          <div className="inputs">
            {(node.inputs ?? []).map((slot, index) => (
              <div key={`in-${index}`} className="socket in">
                <Handle type="target" position={Position.Left} id={`in-${index}`} style={{ background: typeColour(slot.type) }} />
                <span data-testid={`input-${nodeId}-${index}`}>{(slot.label as string | undefined) ?? slot.name}</span>
                {inputErrors?.[slot.name] && <span className="input-error">{inputErrors[slot.name]}</span>}
              </div>
            ))}
          </div>
          <div className="outputs">
            {(node.outputs ?? []).map((slot, index) => (
              <div key={`out-${index}`} className="socket out">
                <span data-testid={`output-${nodeId}-${index}`}>{(slot.label as string | undefined) ?? slot.name}</span>
                <Handle type="source" position={Position.Right} id={`out-${index}`} style={{ background: typeColour(slot.type) }} />
              </div>
            ))}
          </div>
        </div>
        {!node.flags?.collapsed && (
          <div className="widgets">
            {subgraph && (hasProxyWidgets(node) ? <ProxyWidgets node={node} /> : <PromotedWidgets node={node} />)}
            {subgraph && <SubgraphButtons id={nodeId} />}
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
                      onClick={() => editGraph((doc) => toggleWidgetInput(doc, nodeId, slot.widget.name, slot.widget.kind))}>⇤</button>
                    {prefix && (
                      <button className="nodrag promote" title="Show on the subgraph's node" data-testid={`promote-${nodeId}-${slot.widget.name}`}
                        onClick={() => promote(nodeId, slot.widget.name, slot.widget.kind)}>⇡</button>
                    )}
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
            {def && [...converted].map((name) => (
              <button key={name} className="nodrag to-widget" onClick={() => editGraph((doc) => toggleWidgetInput(doc, nodeId, name, ""))}>
                {name}: back to widget
              </button>
            ))}
            {missing && values.length > 0 && <div className="raw-values">{JSON.stringify(values)}</div>}
          </div>
        )}
        <NodeStatus id={key} inner={Boolean(subgraph)} />
      </div>
    </div>
  );
}, sameGraphNodeProps);
