// The ComfyUI frontend's native reroutes: points a link is drawn through, kept in the workflow's extra section.
// `extra.reroutes` holds the points (each may chain to the one before it through `parentId`), and
// `extra.linkExtensions` names each routed link's last point; the chain is followed back towards the source.
import type { UIWorkflow } from "./types";

export interface Reroute {
  id: number;
  pos: [number, number];
  parentId?: number;
  linkIds?: number[];
}

interface LinkExtension {
  id: number;
  parentId: number;
}

function listOf<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

export function reroutesOf(doc: UIWorkflow): Reroute[] {
  return listOf<Reroute>(doc.extra?.reroutes);
}

/** For each link drawn through reroutes, the points in order from the source to the target. */
export function linkWaypoints(doc: UIWorkflow): Map<number, Reroute[]> {
  const byId = new Map(reroutesOf(doc).map((reroute) => [reroute.id, reroute]));
  const waypoints = new Map<number, Reroute[]>();
  for (const extension of listOf<LinkExtension>(doc.extra?.linkExtensions)) {
    const chain: Reroute[] = [];
    for (let id: number | undefined = extension.parentId; id !== undefined && byId.has(id);) {
      const reroute: Reroute = byId.get(id)!;
      if (chain.includes(reroute)) break; // a malformed file with a cycle
      chain.push(reroute);
      id = reroute.parentId;
    }
    if (chain.length > 0) waypoints.set(extension.id, chain.reverse());
  }
  return waypoints;
}

export function moveReroute(doc: UIWorkflow, id: number, pos: [number, number]): UIWorkflow {
  const reroutes = reroutesOf(doc).map((reroute) => (reroute.id === id ? { ...reroute, pos } : reroute));
  return { ...doc, extra: { ...doc.extra, reroutes } };
}
