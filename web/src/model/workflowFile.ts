// A UI-format workflow as files hold it and as the editor holds it. Files come in schema 0.4 (links as arrays)
// and 1.0 (links as objects, counters in `state`), with subgraph definitions whose links are objects and which
// older files nest inside each other. The editor holds every graph's links as arrays, all definitions in the
// root's `definitions.subgraphs` and the id counters on the root; it writes subgraph links back as objects, as
// ComfyUI's web app does, so each opens what the other saved. Native reroutes follow the links' form: with
// arrays (schema 0.4) they are `extra.reroutes` and each routed link's last point is in `extra.linkExtensions`;
// with objects (1.0 and subgraphs) they are `reroutes` and that point is the link's `parentId`. The editor holds
// them in the 0.4 form in every graph.
import type { SubgraphDef, UILink, UINode, UIWorkflow } from "./types";

interface LinkObject {
  id: number;
  origin_id: number;
  origin_slot: number;
  target_id: number;
  target_slot: number;
  type: string;
  [key: string]: unknown;
}

function linkArray(link: UILink | LinkObject): UILink {
  if (Array.isArray(link)) return link;
  return [link.id, Number(link.origin_id), link.origin_slot, Number(link.target_id), link.target_slot, String(link.type)];
}

/** Links as arrays, whether a file wrote a list of arrays, a list of objects or an object keyed by id. */
function linkArrays(links: unknown): UILink[] {
  if (!links) return [];
  const list = Array.isArray(links) ? links : Object.values(links as Record<string, LinkObject>);
  return list.filter(Boolean).map((link) => linkArray(link as UILink | LinkObject));
}

function linkObject(link: UILink, parentId: number | undefined): LinkObject {
  const object = { id: link[0], origin_id: link[1], origin_slot: link[2], target_id: link[3], target_slot: link[4], type: link[5] };
  return parentId === undefined ? object : { ...object, parentId };
}

interface LinkExtension {
  id: number;
  parentId: number;
}

/** ``extra`` with a 1.0 graph's reroutes in the 0.4 form: `reroutes`, and the links' `parentId`s as extensions. */
function reroutesAsExtra(graph: { links?: unknown; reroutes?: unknown; extra?: Record<string, unknown> }): Record<string, unknown> | undefined {
  if (!Array.isArray(graph.reroutes) || !graph.reroutes.length) return graph.extra;
  const links = Array.isArray(graph.links) ? graph.links : Object.values((graph.links ?? {}) as Record<string, unknown>);
  const linkExtensions: LinkExtension[] = links
    .filter((link): link is LinkObject => !Array.isArray(link) && typeof link?.parentId === "number")
    .map((link) => ({ id: link.id, parentId: link.parentId as number }));
  return { ...graph.extra, reroutes: graph.reroutes, linkExtensions };
}

/** A definition's reroutes and links in the 1.0 form ComfyUI's web app reads for subgraphs. */
function writeDefinitionLinks(def: SubgraphDef): Partial<SubgraphDef> {
  const { reroutes, linkExtensions, ...extra } = def.extra ?? {};
  const parents = new Map(((linkExtensions ?? []) as LinkExtension[]).map((e) => [e.id, e.parentId]));
  const links = def.links.map((link) => linkObject(link, parents.get(link[0]))) as unknown as UILink[];
  return { links, ...(def.extra ? { extra } : {}), ...(Array.isArray(reroutes) && reroutes.length ? { reroutes } : {}) };
}

/** Every definition, nested ones hoisted to the top (the first of two with one id wins, as ComfyUI's does). */
function allDefinitions(defs: SubgraphDef[], seen = new Map<string, SubgraphDef>()): Map<string, SubgraphDef> {
  for (const def of defs) {
    if (!seen.has(def.id)) seen.set(def.id, def);
    const nested = (def.definitions as { subgraphs?: SubgraphDef[] } | undefined)?.subgraphs;
    if (nested?.length) allDefinitions(nested, seen);
  }
  return seen;
}

function readDefinition(def: SubgraphDef): SubgraphDef {
  const { definitions: _, state: __, reroutes: ___, ...rest } = def;
  const extra = reroutesAsExtra(def);
  return { ...rest, nodes: def.nodes ?? [], links: linkArrays(def.links), inputs: def.inputs ?? [], outputs: def.outputs ?? [],
    ...(extra ? { extra } : {}) };
}

function largest(values: number[]): number {
  return values.reduce((a, b) => (b > a ? b : a), 0);
}

/** A workflow from a file (or the server) as the editor holds it; one already in that form comes back as is. */
export function readWorkflow(raw: UIWorkflow): UIWorkflow {
  const state = (raw.state ?? {}) as { lastNodeId?: number; lastLinkId?: number };
  const rawDefs = raw.definitions?.subgraphs ?? [];
  const subgraphs = [...allDefinitions(rawDefs).values()].map(readDefinition);
  const nodes: UINode[] = raw.nodes ?? [];
  const links = linkArrays(raw.links);
  const everyNode = [...nodes, ...subgraphs.flatMap((d) => d.nodes)];
  const everyLink = [...links, ...subgraphs.flatMap((d) => d.links)];
  const { state: _, reroutes: __, ...rest } = raw;
  const extra = reroutesAsExtra(raw);
  const doc: UIWorkflow = {
    ...rest, nodes, links, version: raw.version === 1 ? 0.4 : raw.version ?? 0.4, ...(extra ? { extra } : {}),
    last_node_id: largest([raw.last_node_id ?? 0, state.lastNodeId ?? 0, ...everyNode.map((n) => Number(n.id) || 0)]),
    last_link_id: largest([raw.last_link_id ?? 0, state.lastLinkId ?? 0, ...everyLink.map((l) => l[0])]),
  };
  if (rawDefs.length) doc.definitions = { ...raw.definitions, subgraphs };
  return doc;
}

/** The workflow as ComfyUI's web app writes it: the root's links as arrays, each subgraph's as objects. */
export function writeWorkflow(doc: UIWorkflow): UIWorkflow {
  const subgraphs = doc.definitions?.subgraphs;
  if (!subgraphs?.length) return doc;
  const rerouteIds = [doc, ...subgraphs].flatMap((graph) => ((graph.extra?.reroutes ?? []) as { id: number }[]).map((r) => r.id));
  const state = { lastGroupId: 0, lastNodeId: doc.last_node_id, lastLinkId: doc.last_link_id, lastRerouteId: largest(rerouteIds) };
  return {
    ...doc,
    definitions: {
      ...doc.definitions,
      subgraphs: subgraphs.map((def) => ({ ...def, version: 1, state, ...writeDefinitionLinks(def) })),
    },
  };
}
