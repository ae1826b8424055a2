// Reading workflow files (schemas 0.4 and 1.0, subgraph links as objects, nested definitions) and writing them back
// in ComfyUI's form.
import { describe, expect, it } from "vitest";
import defaultGraph from "./__fixtures__/default_graph.json";
import type { UIWorkflow } from "./types";
import { readWorkflow, writeWorkflow } from "./workflowFile";

const graph = () => structuredClone(defaultGraph) as unknown as UIWorkflow;
const link = (id: number, origin: number, slot: number, target: number, targetSlot: number, type: string) =>
  ({ id, origin_id: origin, origin_slot: slot, target_id: target, target_slot: targetSlot, type });

function subgraph(id: string, nested: unknown[] = []) {
  return {
    id, name: id, version: 1, state: { lastNodeId: 40, lastLinkId: 50 }, nodes: [{ id: 31, type: "VAEDecode", pos: [0, 0], size: [1, 1], flags: {}, order: 0, mode: 0, properties: {} }],
    links: [link(44, -10, 0, 31, 0, "LATENT")], inputs: [{ id: "a", name: "samples", type: "LATENT", linkIds: [44] }], outputs: [],
    inputNode: { id: -10, bounding: [0, 0, 100, 60] }, outputNode: { id: -20, bounding: [300, 0, 100, 60] },
    ...(nested.length ? { definitions: { subgraphs: nested } } : {}),
  };
}

describe("reading workflow files", () => {
  it("keeps a schema 0.4 file without subgraphs as it is", () => {
    const doc = readWorkflow(graph());
    expect(doc).toEqual(graph());
    expect(writeWorkflow(doc)).toBe(doc);
  });

  it("reads a schema 1.0 file: links as objects, counters from its state", () => {
    const v1 = { ...graph(), version: 1, state: { lastNodeId: 12, lastLinkId: 30 }, links: graph().links.map((l) => link(...l)) };
    delete (v1 as Record<string, unknown>).last_node_id;
    const doc = readWorkflow(v1 as unknown as UIWorkflow);
    expect(doc.links).toEqual(graph().links);
    expect([doc.last_node_id, doc.last_link_id, doc.version, doc.state]).toEqual([12, 30, 0.4, undefined]);
  });

  it("hoists nested definitions, counts ids across every graph, and writes subgraph links as objects", () => {
    const raw = { ...graph(), definitions: { subgraphs: [subgraph("outer", [subgraph("inner")])] } } as unknown as UIWorkflow;
    const doc = readWorkflow(raw);
    expect(doc.definitions!.subgraphs!.map((d) => d.id)).toEqual(["outer", "inner"]);
    expect(doc.definitions!.subgraphs![0].links).toEqual([[44, -10, 0, 31, 0, "LATENT"]]);
    expect([doc.last_node_id, doc.last_link_id]).toEqual([31, 44]);
    const written = writeWorkflow(doc);
    expect(written.definitions!.subgraphs![0].links).toEqual([link(44, -10, 0, 31, 0, "LATENT")]);
    expect(written.definitions!.subgraphs![0].state).toMatchObject({ lastNodeId: 31, lastLinkId: 44 });
    expect(written.links).toEqual(graph().links); // the root keeps arrays, as ComfyUI writes schema 0.4
    expect(readWorkflow(written)).toEqual(doc);
  });

  it("keeps native reroutes: a 1.0 file's and a subgraph's (reroutes, links' parentId) held as 0.4's extra", () => {
    const reroutes = [{ id: 1, pos: [10, 20], linkIds: [9] }, { id: 2, parentId: 1, pos: [30, 40], linkIds: [9] }];
    const v1 = { ...graph(), version: 1, reroutes, links: graph().links.map((l) => ({ ...link(...l), ...(l[0] === 9 ? { parentId: 2 } : {}) })) };
    const doc = readWorkflow(v1 as unknown as UIWorkflow);
    expect(doc.extra).toMatchObject({ reroutes, linkExtensions: [{ id: 9, parentId: 2 }] });
    expect(doc.reroutes).toBeUndefined();

    const inner = { ...subgraph("outer"), reroutes: [{ id: 3, pos: [0, 0], linkIds: [44] }] };
    inner.links = [{ ...inner.links[0], parentId: 3 } as (typeof inner.links)[0]];
    const withSubgraph = readWorkflow({ ...graph(), definitions: { subgraphs: [inner] } } as unknown as UIWorkflow);
    const def = withSubgraph.definitions!.subgraphs![0];
    expect(def.extra).toMatchObject({ reroutes: inner.reroutes, linkExtensions: [{ id: 44, parentId: 3 }] });
    const written = writeWorkflow(withSubgraph).definitions!.subgraphs![0];
    expect(written.reroutes).toEqual(inner.reroutes);
    expect(written.links).toEqual([{ ...link(44, -10, 0, 31, 0, "LATENT"), parentId: 3 }]);
    expect(written.extra).toEqual({});
    expect(written.state).toMatchObject({ lastRerouteId: 3 });
  });
});
