// What the subgraph gestures do: open and leave subgraphs, make one from the selection, unpack one, promote a
// widget, and rename or remove a subgraph's inputs and outputs. Each is one undo step.
import {
  convertToSubgraph, promoteWidget, removeSubgraphSlot, renameSubgraph, renameSubgraphSlot, subgraphPath, unpackSubgraph,
} from "../model/subgraphs";
import { activeTab, editDoc, getState, openGraph, openPath, setState } from "./store";

/** Opens the subgraph that instance ``id`` of the graph on the canvas holds. */
export function enterSubgraph(id: number): void {
  const tab = activeTab();
  const path = [...openPath(), id];
  if (tab && subgraphPath(tab.doc, path).length === path.length) openGraph(path);
}

/** The selected nodes become a subgraph, whose instance is then the selection. */
export function convertSelection(): void {
  const ids = new Set(getState().selected);
  if (!ids.size) return;
  const path = openPath();
  let instance: number | null = null;
  editDoc((doc) => {
    const [next, id] = convertToSubgraph(doc, path, ids, getState().defs);
    instance = id;
    return next;
  });
  setState({ selected: instance === null ? [] : [instance] });
}

export function unpack(instanceId: number): void {
  const path = openPath();
  editDoc((doc) => unpackSubgraph(doc, path, instanceId, getState().defs));
  setState({ selected: [] });
}

export function promote(nodeId: number, widget: string, type: string): void {
  const path = openPath();
  editDoc((doc) => promoteWidget(doc, path, nodeId, widget, type, getState().defs));
}

/** The definition open on the canvas (its id), if a subgraph is open. */
function openSubgraphId(): string | undefined {
  const tab = activeTab();
  return tab ? subgraphPath(tab.doc, openPath()).at(-1)?.id : undefined;
}

export function renameSlot(side: "inputs" | "outputs", index: number, label: string): void {
  const id = openSubgraphId();
  if (id) editDoc((doc) => renameSubgraphSlot(doc, id, side, index, label));
}

export function removeSlot(side: "inputs" | "outputs", index: number): void {
  const id = openSubgraphId();
  if (id) editDoc((doc) => removeSubgraphSlot(doc, id, side, index));
}

export function renameOpenSubgraph(name: string): void {
  const id = openSubgraphId();
  if (id) editDoc((doc) => renameSubgraph(doc, id, name));
}
