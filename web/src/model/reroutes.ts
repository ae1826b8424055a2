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

function distanceToSegment(p: [number, number], a: [number, number], b: [number, number]): number {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const length = dx * dx + dy * dy;
  const t = length === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length));
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

/** A new point on link ``linkId`` at ``pos``, put in the segment of its route nearest to ``pos``; ``ends`` are the
 * link's source and target positions. A point shared with other links is not re-chained: the new one goes after it. */
export function addReroute(doc: UIWorkflow, linkId: number, pos: [number, number],
                           ends: [[number, number], [number, number]]): UIWorkflow {
  const chain = linkWaypoints(doc).get(linkId) ?? [];
  const stops = [ends[0], ...chain.map((r) => r.pos), ends[1]];
  let index = 0; // insert before chain[index]
  for (let i = 1; i < stops.length; i++) {
    if (distanceToSegment(pos, stops[i - 1], stops[i]) < distanceToSegment(pos, stops[index], stops[index + 1])) {
      index = i - 1;
    }
  }
  while (index < chain.length && (chain[index].linkIds ?? []).some((id) => id !== linkId)) index++;
  const id = Math.max(0, ...reroutesOf(doc).map((r) => r.id)) + 1;
  const before = chain[index - 1];
  const created: Reroute = { id, pos, linkIds: [linkId], ...(before ? { parentId: before.id } : {}) };
  const reroutes = [...reroutesOf(doc).map((r) => (r === chain[index] ? { ...r, parentId: id } : r)), created];
  const extensions = listOf<LinkExtension>(doc.extra?.linkExtensions).filter((e) => e.id !== linkId);
  const last = index === chain.length ? id : chain[chain.length - 1].id;
  return { ...doc, extra: { ...doc.extra, reroutes, linkExtensions: [...extensions, { id: linkId, parentId: last }] } };
}

/** Removes a point: the points and links that led through it go to its parent (or straight to the source). */
export function removeReroute(doc: UIWorkflow, id: number): UIWorkflow {
  const gone = reroutesOf(doc).find((r) => r.id === id);
  if (!gone) return doc;
  const reroutes = reroutesOf(doc).filter((r) => r !== gone).map((r) => {
    if (r.parentId !== id) return r;
    const { parentId: _, ...rest } = r;
    return gone.parentId === undefined ? rest : { ...rest, parentId: gone.parentId };
  });
  const linkExtensions = listOf<LinkExtension>(doc.extra?.linkExtensions).flatMap((e) => {
    if (e.parentId !== id) return [e];
    return gone.parentId === undefined ? [] : [{ ...e, parentId: gone.parentId }];
  });
  return { ...doc, extra: { ...doc.extra, reroutes, linkExtensions } };
}
