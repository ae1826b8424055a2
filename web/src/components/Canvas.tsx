// The canvas: React Flow over the active workflow document.
import {
  Background, type Connection, Controls, type Edge, type EdgeChange, MiniMap, type Node, type NodeChange, ReactFlow,
  useReactFlow,
} from "@xyflow/react";
import { type DragEvent, type MouseEvent as ReactMouseEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { canConnect, connect, moveNodes, removeLink, removeNodes } from "../model/document";
import { addReroute, linkWaypoints } from "../model/reroutes";
import type { UIWorkflow } from "../model/types";
import { openFile } from "../state/actions";
import { moveGroup, removeGroups, updateGroup } from "../model/groups";
import { isBoundary } from "../model/subgraphs";
import { enterSubgraph } from "../state/subgraphActions";
import { activeGraph, editGraph, getState, openPath, recordNodeSizes, setState, useStore } from "../state/store";
import { BoundaryNode } from "./BoundaryNode";
import { Breadcrumbs } from "./Breadcrumbs";
import { GROUP, toFlowEdges, toFlowNodes, toGroupNodes } from "./flowElements";
import { GraphNode } from "./GraphNode";
import { GroupBox } from "./GroupBox";
import { RoutedEdge } from "./RoutedEdge";

const nodeTypes = { atelier: GraphNode, groupBox: GroupBox, boundary: BoundaryNode };
const edgeTypes = { routed: RoutedEdge };
const groupIndex = (id: string) => Number(id.slice(GROUP.length));
const slotOf = (handle: string | null | undefined) => Number((handle ?? "-0").split("-")[1]);

export function Canvas() {
  const doc = useStore((s) => activeGraph(s));
  const selected = useStore((s) => s.selected);
  const flow = useReactFlow();
  const dragging = useRef(false);
  const [selectedGroups, setSelectedGroups] = useState<number[]>([]);
  const tabId = useStore((s) => s.active);
  const level = useStore((s) => openPath(s).join(":"));
  const shown = useRef({ tabId, level });

  useEffect(() => { // a subgraph opened or left in this tab: show the whole of its graph
    const sameTab = shown.current.tabId === tabId;
    const moved = shown.current.level !== level;
    shown.current = { tabId, level };
    if (!sameTab || !moved) return;
    setSelectedGroups([]);
    const timer = setTimeout(() => void flow.fitView(), 50);
    return () => clearTimeout(timer);
  }, [tabId, level, flow]);

  const groupNodes = useMemo(() => toGroupNodes(doc?.groups ?? [], selectedGroups), [doc?.groups, selectedGroups]);
  const shownNodes = useRef<Node[]>([]);
  const graphNodes = useMemo(() => {
    shownNodes.current = toFlowNodes(doc?.nodes ?? [], selected, shownNodes.current);
    return shownNodes.current;
  }, [doc?.nodes, selected]);
  const nodes = useMemo(() => [...groupNodes, ...graphNodes], [groupNodes, graphNodes]);
  const waypoints = useMemo(() => (doc ? linkWaypoints(doc) : new Map()), [doc?.extra]);
  const edges = useMemo(() => toFlowEdges(doc?.links ?? [], waypoints), [doc?.links, waypoints]);

  /** An edit made while dragging or resizing: one undo step per gesture, taken at its start. */
  const gestureEdit = useCallback((change: (doc: UIWorkflow) => UIWorkflow, ended: boolean) => {
    editGraph(change, !dragging.current);
    dragging.current = !ended;
  }, []);

  const onGroupChanges = useCallback((changes: NodeChange[]) => {
    for (const index of new Set(changes.map((c) => groupIndex((c as { id: string }).id)))) {
      const mine = changes.filter((c) => "id" in c && groupIndex(c.id) === index);
      const moved = mine.find((c) => c.type === "position");
      const resized = mine.find((c) => c.type === "dimensions" && c.resizing !== undefined);
      if (resized?.type === "dimensions" && resized.dimensions) {
        const { width, height } = resized.dimensions;
        const corner = moved?.type === "position" ? moved.position : undefined; // resizing from the top or left edge
        gestureEdit((d) => {
          const [x, y] = d.groups![index].bounding;
          return updateGroup(d, index, { bounding: [corner?.x ?? x, corner?.y ?? y, width, height] });
        }, !resized.resizing);
      } else if (moved?.type === "position" && moved.position) {
        const { x, y } = moved.position;
        gestureEdit((d) => moveGroup(d, index, [x, y]), !moved.dragging);
      }
      for (const change of mine) {
        if (change.type === "select") {
          setSelectedGroups((old) => (change.selected ? [...new Set([...old, index])] : old.filter((other) => other !== index)));
        }
      }
    }
    const removed = new Set(changes.filter((c) => c.type === "remove").map((c) => groupIndex(c.id)));
    if (removed.size) {
      editGraph((d) => removeGroups(d, removed));
      setSelectedGroups([]);
    }
  }, [gestureEdit]);

  const onNodesChange = useCallback((allChanges: NodeChange[]) => {
    const isGroup = (c: NodeChange) => "id" in c && c.id.startsWith(GROUP);
    if (allChanges.some(isGroup)) onGroupChanges(allChanges.filter(isGroup));
    const changes = allChanges.filter((c) => !isGroup(c));
    const positions = new Map<number, [number, number]>();
    const sizes = new Map<number, [number, number]>();
    let selection: number[] | null = null;
    const removed = new Set<number>();
    for (const change of changes) {
      if (change.type === "dimensions") {
        if (change.dimensions) sizes.set(Number(change.id), [change.dimensions.width, change.dimensions.height]);
      } else if (change.type === "position") {
        if (change.position) positions.set(Number(change.id), [change.position.x, change.position.y]);
      } else if (change.type === "select") {
        selection = selection ?? [...getState().selected];
        const id = Number(change.id);
        selection = change.selected ? [...new Set([...selection, id])] : selection.filter((other) => other !== id);
      } else if (change.type === "remove" && !isBoundary(Number(change.id))) {
        removed.add(Number(change.id));
      }
    }
    if (sizes.size) recordNodeSizes(sizes);
    if (positions.size) gestureEdit((d) => moveNodes(d, positions), !changes.some((c) => c.type === "position" && c.dragging));
    if (selection) setState({ selected: selection });
    if (removed.size) {
      editGraph((d) => removeNodes(d, removed));
      setState({ selected: [] });
    }
  }, [onGroupChanges, gestureEdit]);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    for (const change of changes) if (change.type === "remove") editGraph((d) => removeLink(d, Number(change.id)));
  }, []);

  const isValidConnection = useCallback((c: Edge | Connection) => {
    const current = activeGraph();
    return Boolean(current && canConnect(current, Number(c.source), slotOf(c.sourceHandle), Number(c.target), slotOf(c.targetHandle)));
  }, []);

  const onConnect = useCallback((c: Connection) => {
    editGraph((d) => connect(d, Number(c.source), slotOf(c.sourceHandle), Number(c.target), slotOf(c.targetHandle)));
  }, []);

  const onConnectEnd = useCallback((event: MouseEvent | TouchEvent, state: { isValid: boolean | null; fromNode: { id: string } | null; fromHandle: { id?: string | null; type: string } | null; toNode: unknown }) => {
    // A link dropped on a handle connected (isValid; toNode can be null when it snapped to one): no palette.
    if (state.isValid || state.toNode || !state.fromNode || !state.fromHandle || state.fromHandle.type !== "source") return;
    const point = "clientX" in event ? event : event.changedTouches[0];
    const node = activeGraph()?.nodes.find((n) => n.id === Number(state.fromNode!.id));
    const slot = slotOf(state.fromHandle.id);
    const type = node?.outputs?.[slot]?.type;
    if (type) setState({ palette: { x: point.clientX, y: point.clientY, from: { node: Number(state.fromNode.id), slot, type } } });
  }, []);

  const onDoubleClick = useCallback((event: ReactMouseEvent) => {
    if ((event.target as HTMLElement).classList.contains("react-flow__pane")) setState({ palette: { x: event.clientX, y: event.clientY } });
  }, []);

  /** Double-clicking a link adds a reroute point there (ComfyUI's native reroutes). */
  const onEdgeDoubleClick = useCallback((event: ReactMouseEvent, edge: Edge) => {
    const current = activeGraph();
    const link = current?.links.find((l) => String(l[0]) === edge.id);
    const source = current?.nodes.find((n) => n.id === link?.[1]);
    const target = current?.nodes.find((n) => n.id === link?.[3]);
    if (!link || !source || !target) return;
    const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    const ends: [[number, number], [number, number]] = [[source.pos[0] + source.size[0], source.pos[1] + 40],
      [target.pos[0], target.pos[1] + 40]];
    editGraph((doc) => addReroute(doc, link[0], [Math.round(at.x), Math.round(at.y)], ends));
  }, [flow]);

  /** Double-clicking a subgraph's instance opens it. */
  const onNodeDoubleClick = useCallback((event: ReactMouseEvent, node: { id: string; type?: string }) => {
    if (node.type !== "atelier" || (event.target as HTMLElement).closest("input, textarea, select, button")) return;
    enterSubgraph(Number(node.id));
  }, []);

  const onDrop = useCallback((event: DragEvent) => {
    event.preventDefault();
    for (const file of Array.from(event.dataTransfer.files)) void openFile(file);
  }, []);

  (window as unknown as { atelierFlow?: unknown }).atelierFlow = flow;

  return (
    <div className="canvas" data-testid="canvas" onDoubleClick={onDoubleClick} onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
      <ReactFlow
        nodes={nodes} edges={edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes} onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
        onConnect={onConnect} onConnectEnd={onConnectEnd as never} isValidConnection={isValidConnection}
        onEdgeDoubleClick={onEdgeDoubleClick} onNodeDoubleClick={onNodeDoubleClick}
        deleteKeyCode={["Delete", "Backspace"]} multiSelectionKeyCode={["Shift", "Meta", "Control"]} zoomOnDoubleClick={false}
        minZoom={0.1} maxZoom={3} fitView onlyRenderVisibleElements proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} />
        <Controls />
        <MiniMap pannable zoomable />
      </ReactFlow>
      <Breadcrumbs />
    </div>
  );
}
