// Subgraph edits: making one from a selection, opening it, changing its inputs and outputs, promoting a widget,
// unpacking it; each leaves the links consistent on both ends and the document it started from untouched.
import { describe, expect, it } from "vitest";
import defaultGraph from "./__fixtures__/default_graph.json";
import { objectInfo } from "./__fixtures__/objectInfo";
import { connect, setWidget } from "./document";
import { buildNodeDef, type NodeDef } from "./nodeDefs";
import {
  convertToSubgraph, graphAt, INPUT_NODE, OUTPUT_NODE, promoteWidget, promotedWidget, removeSubgraphSlot, renameSubgraphSlot,
  subgraphsOf, unpackSubgraph, validPath, withGraph,
} from "./subgraphs";
import type { UIWorkflow } from "./types";

const defs: Record<string, NodeDef> = Object.fromEntries(Object.values(objectInfo).map((info) => [info.name, buildNodeDef(info)]));
const graph = () => structuredClone(defaultGraph) as unknown as UIWorkflow;

/** Every link is listed by the output it leaves and the input it enters, and nothing lists a missing link. */
function expectConsistent(g: UIWorkflow): void {
  const ids = new Set(g.links.map((l) => l[0]));
  for (const [id, origin, slot, target, targetSlot] of g.links) {
    expect(g.nodes.find((n) => n.id === origin)?.outputs?.[slot]?.links, `link ${id} at its origin`).toContain(id);
    expect(g.nodes.find((n) => n.id === target)?.inputs?.[targetSlot]?.link, `link ${id} at its target`).toBe(id);
  }
  for (const node of g.nodes) {
    for (const input of node.inputs ?? []) if (input.link != null) expect(ids.has(input.link)).toBe(true);
    for (const output of node.outputs ?? []) for (const id of output.links ?? []) expect(ids.has(id)).toBe(true);
  }
}

/** The two prompt encoders of the default graph as a subgraph. */
function encoders(): [UIWorkflow, number] {
  const [doc, id] = convertToSubgraph(graph(), [], new Set([6, 7]), defs);
  return [doc, id!];
}

describe("converting a selection to a subgraph", () => {
  it("moves the nodes in, and makes the crossing links its inputs and outputs", () => {
    const original = graph();
    const [doc, id] = convertToSubgraph(original, [], new Set([6, 7]), defs);
    expect(original).toEqual(graph());
    const [def] = subgraphsOf(doc);
    expect(def.nodes.map((n) => n.id)).toEqual([6, 7]);
    expect(def.inputs.map((io) => [io.name, io.type])).toEqual([["clip", "CLIP"]]); // one input for one origin
    expect(def.outputs.map((io) => [io.name, io.type])).toEqual([["CONDITIONING", "CONDITIONING"], ["CONDITIONING_1", "CONDITIONING"]]);
    const instance = doc.nodes.find((n) => n.id === id)!;
    expect(instance.type).toBe(def.id);
    expect(doc.nodes.map((n) => n.id)).not.toContain(6);
    const sampler = doc.nodes.find((n) => n.id === 3)!;
    expect(sampler.inputs!.slice(1, 3).map((s) => s.link)).toEqual([2, 3]); // the links outside keep their ids
    expect(doc.links.filter((l) => l[3] === 3 && l[1] === id).map((l) => l[2])).toEqual([0, 1]);
    expectConsistent(doc);
    expectConsistent(graphAt(doc, [id!]));
  });

  it("works inside an open subgraph too, nesting the new one", () => {
    const [doc, outer] = convertToSubgraph(graph(), [], new Set([3, 8, 6, 7]), defs);
    const [nested, inner] = convertToSubgraph(doc, [outer!], new Set([6, 7]), defs);
    expect(subgraphsOf(nested)).toHaveLength(2);
    expect(graphAt(nested, [outer!]).nodes.map((n) => n.id)).toContain(inner);
    expectConsistent(graphAt(nested, [outer!]));
    expectConsistent(graphAt(nested, [outer!, inner!]));
    expect(validPath(nested, [outer!, inner!, 99])).toEqual([outer!, inner!]);
  });
});

describe("an open subgraph", () => {
  it("shows its inputs and outputs as boundary nodes, each with an empty slot", () => {
    const [doc, id] = encoders();
    const view = graphAt(doc, [id]);
    expect(view.nodes.find((n) => n.id === INPUT_NODE)!.outputs!.map((o) => o.name)).toEqual(["clip", ""]);
    expect(view.nodes.find((n) => n.id === OUTPUT_NODE)!.inputs!.length).toBe(3);
    expect(graphAt(doc, [id])).toBe(view); // the same view while the definition is unchanged
  });

  it("takes edits; a link dropped on the empty slot adds an output to the subgraph and its instances", () => {
    const [doc, id] = encoders();
    const edited = withGraph(doc, [id], (g) => setWidget(g, 6, 0, "a fox"));
    expect(subgraphsOf(edited)[0].nodes[0].widgets_values).toEqual(["a fox"]);
    expect(edited.nodes).toBe(doc.nodes);
    const wired = withGraph(doc, [id], (g) => connect(g, 6, 0, OUTPUT_NODE, 2), defs);
    expect(subgraphsOf(wired)[0].outputs).toHaveLength(3);
    expect(wired.nodes.find((n) => n.id === id)!.outputs).toHaveLength(3);
    expectConsistent(graphAt(wired, [id]));
  });
});

describe("inputs and outputs", () => {
  it("are renamed by label on the definition and every instance", () => {
    const [doc, id] = encoders();
    const renamed = renameSubgraphSlot(doc, subgraphsOf(doc)[0].id, "inputs", 0, "text encoder");
    expect(subgraphsOf(renamed)[0].inputs[0]).toMatchObject({ name: "clip", label: "text encoder" });
    expect(renamed.nodes.find((n) => n.id === id)!.inputs![0]).toMatchObject({ name: "clip", label: "text encoder" });
    expect(graphAt(renamed, [id]).nodes.find((n) => n.id === INPUT_NODE)!.outputs![0].name).toBe("text encoder");
  });

  it("are removed with their links on both sides, the later ones moving up", () => {
    const [doc, id] = encoders();
    const removed = removeSubgraphSlot(doc, subgraphsOf(doc)[0].id, "outputs", 0);
    expect(subgraphsOf(removed)[0].outputs.map((o) => o.name)).toEqual(["CONDITIONING_1"]);
    const sampler = removed.nodes.find((n) => n.id === 3)!;
    expect(sampler.inputs![1].link).toBeNull();
    expect(removed.links.find((l) => l[0] === sampler.inputs![2].link)!.slice(1, 3)).toEqual([id, 0]);
    expectConsistent(removed);
    expectConsistent(graphAt(removed, [id]));
  });
});

describe("promoting a widget", () => {
  it("adds an input showing the widget on the instance, whose value the instance holds", () => {
    const [doc, id] = encoders();
    const promoted = promoteWidget(doc, [id], 6, "text", "STRING", defs);
    const def = subgraphsOf(promoted)[0];
    expect(def.inputs.map((io) => io.name)).toEqual(["clip", "text"]);
    const instance = promoted.nodes.find((n) => n.id === id)!;
    expect(instance.inputs![1]).toMatchObject({ name: "text", link: null, widget: { name: "text" } });
    expect(instance.widgets_values).toEqual(["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"]);
    expect(promotedWidget(promoted, instance, 1, defs)?.kind).toBe("STRING");
    expectConsistent(graphAt(promoted, [id]));
  });
});

describe("unpacking", () => {
  it("puts the nodes back wired as before, and the definition goes", () => {
    const [doc, id] = encoders();
    const unpacked = unpackSubgraph(doc, [], id, defs);
    expect(subgraphsOf(unpacked)).toHaveLength(0);
    expect(unpacked.nodes.map((n) => n.type).sort()).toEqual(graph().nodes.map((n) => n.type).sort());
    const sampler = unpacked.nodes.find((n) => n.id === 3)!;
    const sources = sampler.inputs!.map((s) => unpacked.nodes.find((n) => n.id === unpacked.links.find((l) => l[0] === s.link)![1])!.type);
    expect(sources).toEqual(["CheckpointLoaderSimple", "CLIPTextEncode", "CLIPTextEncode", "EmptyLatentImage"]);
    expectConsistent(unpacked);
  });

  it("gives a promoted widget's value back to its node", () => {
    const [doc, id] = encoders();
    let promoted = promoteWidget(doc, [id], 6, "text", "STRING", defs);
    promoted = { ...promoted, nodes: promoted.nodes.map((n) => (n.id === id ? { ...n, widgets_values: ["a red fox"] } : n)) };
    const unpacked = unpackSubgraph(promoted, [], id, defs);
    const encoder = unpacked.nodes.find((n) => n.type === "CLIPTextEncode" && (n.widgets_values as unknown[])[0] === "a red fox");
    expect(encoder).toBeDefined();
    expect(encoder!.inputs!.map((s) => s.name)).toEqual(["clip"]); // the widget is a widget again
    expectConsistent(unpacked);
  });
});
