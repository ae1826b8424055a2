// The canvas: React Flow over the active workflow document.
import {
  Background, type Connection, Controls, type Edge, type EdgeChange, MiniMap, type Node, type NodeChange, ReactFlow,
  useReactFlow,
} from "@xyflow/react";
import { type DragEvent, type MouseEvent as ReactMouseEvent, useCallback, useMemo, useRef, useState } from "react";
import { canConnect, connect, moveNodes, removeLink, removeNodes } from "../model/document";
import { typeColour } from "../model/nodeDefs";
import { openFile } from "../state/actions";
import { activeTab, editDoc, getState, setState, useStore } from "../state/store";
import { GraphNode } from "./GraphNode";

const nodeTypes = { atelier: GraphNode };
const slotOf = (handle: string | null | undefined) => Number((handle ?? "-0").split("-")[1]);

export function Canvas() {
  const doc = useStore((s) => activeTab(s)?.doc);
  const selected = useStore((s) => s.selected);
  const flow = useReactFlow();
  const dragging = useRef(false);
  // React Flow reports measured sizes through onNodesChange; controlled nodes must carry them back (minimap, edges).
  const [sizes, setSizes] = useState<Map<string, { width: number; height: number }>>(() => new Map());

  const nodes: Node[] = useMemo(() => (doc?.nodes ?? []).map((node) => ({
    id: String(node.id), type: "atelier", position: { x: node.pos[0], y: node.pos[1] },
    data: { nodeId: node.id }, selected: selected.includes(node.id), measured: sizes.get(String(node.id)),
  })), [doc?.nodes, selected, sizes]);

  const edges: Edge[] = useMemo(() => (doc?.links ?? []).map((link) => ({
    id: String(link[0]), source: String(link[1]), sourceHandle: `out-${link[2]}`, target: String(link[3]),
    targetHandle: `in-${link[4]}`, style: { stroke: typeColour(link[5]), strokeWidth: 2 },
  })), [doc?.links]);

  const onNodesChange = useCallback((changes: NodeChange[]) => {
    const positions = new Map<number, [number, number]>();
    let selection: number[] | null = null;
    const removed = new Set<number>();
    let dragEnded = false;
    const measured: [string, { width: number; height: number }][] = [];
    for (const change of changes) {
      if (change.type === "dimensions") {
        if (change.dimensions) measured.push([change.id, change.dimensions]);
      } else if (change.type === "position") {
        if (change.position) positions.set(Number(change.id), [change.position.x, change.position.y]);
        if (!change.dragging) dragEnded = true;
      } else if (change.type === "select") {
        selection = selection ?? [...getState().selected];
        const id = Number(change.id);
        selection = change.selected ? [...new Set([...selection, id])] : selection.filter((other) => other !== id);
      } else if (change.type === "remove") {
        removed.add(Number(change.id));
      }
    }
    if (measured.length) setSizes((old) => new Map([...old, ...measured]));
    if (positions.size) {
      editDoc((d) => moveNodes(d, positions), !dragging.current); // one undo step per drag, taken at its start
      dragging.current = true;
    }
    if (dragEnded) dragging.current = false;
    if (selection) setState({ selected: selection });
    if (removed.size) {
      editDoc((d) => removeNodes(d, removed));
      setState({ selected: [] });
    }
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    for (const change of changes) if (change.type === "remove") editDoc((d) => removeLink(d, Number(change.id)));
  }, []);

  const isValidConnection = useCallback((c: Edge | Connection) => {
    const current = activeTab()?.doc;
    return Boolean(current && canConnect(current, Number(c.source), slotOf(c.sourceHandle), Number(c.target), slotOf(c.targetHandle)));
  }, []);

  const onConnect = useCallback((c: Connection) => {
    editDoc((d) => connect(d, Number(c.source), slotOf(c.sourceHandle), Number(c.target), slotOf(c.targetHandle)));
  }, []);

  const onConnectEnd = useCallback((event: MouseEvent | TouchEvent, state: { isValid: boolean | null; fromNode: { id: string } | null; fromHandle: { id?: string | null; type: string } | null; toNode: unknown }) => {
    if (state.toNode || !state.fromNode || !state.fromHandle || state.fromHandle.type !== "source") return;
    const point = "clientX" in event ? event : event.changedTouches[0];
    const node = activeTab()?.doc.nodes.find((n) => n.id === Number(state.fromNode!.id));
    const slot = slotOf(state.fromHandle.id);
    const type = node?.outputs?.[slot]?.type;
    if (type) setState({ palette: { x: point.clientX, y: point.clientY, from: { node: Number(state.fromNode.id), slot, type } } });
  }, []);

  const onDoubleClick = useCallback((event: ReactMouseEvent) => {
    if ((event.target as HTMLElement).classList.contains("react-flow__pane")) setState({ palette: { x: event.clientX, y: event.clientY } });
  }, []);

  const onDrop = useCallback((event: DragEvent) => {
    event.preventDefault();
    for (const file of Array.from(event.dataTransfer.files)) void openFile(file);
  }, []);

  (window as unknown as { atelierFlow?: unknown }).atelierFlow = flow;

  return (
    <div className="canvas" data-testid="canvas" onDoubleClick={onDoubleClick} onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
      <ReactFlow
        nodes={nodes} edges={edges} nodeTypes={nodeTypes} onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
        onConnect={onConnect} onConnectEnd={onConnectEnd as never} isValidConnection={isValidConnection}
        deleteKeyCode={["Delete", "Backspace"]} multiSelectionKeyCode={["Shift", "Meta", "Control"]} zoomOnDoubleClick={false}
        minZoom={0.1} maxZoom={3} fitView onlyRenderVisibleElements proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} />
        <Controls />
        <MiniMap pannable zoomable />
      </ReactFlow>
    </div>
  );
}
