// Promoted widgets in the properties.proxyWidgets form: shown on the instance with the value the server uses,
// and edited where the server reads it (the instance's widgets_values, or an inner instance for a nested one).
import { describe, expect, it } from "vitest";
import defaultGraph from "./__fixtures__/default_graph.json";
import { objectInfo } from "./__fixtures__/objectInfo";
import { withNode } from "./document";
import { buildNodeDef, type NodeDef } from "./nodeDefs";
import { proxyEntries, proxyWidgets, setProxyWidget } from "./proxyWidgets";
import { convertToSubgraph, promoteWidget, subgraphsOf } from "./subgraphs";
import type { UINode, UIWorkflow } from "./types";

const defs: Record<string, NodeDef> = Object.fromEntries(Object.values(objectInfo).map((info) => [info.name, buildNodeDef(info)]));
const graph = () => structuredClone(defaultGraph) as unknown as UIWorkflow;

/** The sampler (3) as a subgraph whose instance lists ``entries`` with ``values``. */
function samplerInstance(entries: unknown, values: unknown[]): [UIWorkflow, number] {
  const [doc, id] = convertToSubgraph(graph(), [], new Set([3]), defs);
  const withProxies = withNode(doc, id!, (n) => ({ ...n, properties: { proxyWidgets: entries }, widgets_values: values }));
  return [withProxies, id!];
}

const instance = (doc: UIWorkflow, id: number): UINode => doc.nodes.find((n) => n.id === id)!;

describe("proxyWidgets", () => {
  it("shows each entry's widget with the instance's value, or the inner widget's own where it has none", () => {
    const [doc, id] = samplerInstance([["3", "seed"], ["3", "steps"], ["3", "$$canvas-image-preview"]], [99, null]);
    const shown = proxyWidgets(doc, instance(doc, id), defs);
    expect(shown.map((w) => [w.label, w.widget.kind, w.value])).toEqual([["seed", "INT", 99], ["steps", "INT", 20]]);
  });

  it("reads entries saved as JSON text", () => {
    const [doc, id] = samplerInstance(JSON.stringify([["3", "cfg"]]), []);
    expect(proxyEntries(instance(doc, id))).toEqual([["3", "cfg"]]);
    expect(proxyWidgets(doc, instance(doc, id), defs)[0].value).toBe(8);
  });

  it("writes an edit at the entry's position of the instance's widgets_values", () => {
    const [doc, id] = samplerInstance([["3", "seed"], ["3", "steps"]], []);
    const steps = proxyWidgets(doc, instance(doc, id), defs)[1];
    const edited = setProxyWidget(doc, [], id, steps, 7, defs);
    expect(instance(edited, id).widgets_values).toEqual([null, 7]);
    expect(proxyWidgets(edited, instance(edited, id), defs)[1].value).toBe(7);
    expect(subgraphsOf(edited)[0].nodes[0].widgets_values).toEqual(subgraphsOf(doc)[0].nodes[0].widgets_values);
  });

  it("names a subgraph input with -1", () => {
    let [doc, id] = samplerInstance([], []);
    doc = promoteWidget(doc, [id], 3, "denoise", "FLOAT", defs);
    doc = withNode(doc, id, (n) => ({ ...n, properties: { proxyWidgets: [["-1", "denoise"]] }, widgets_values: [0.5] }));
    expect(proxyWidgets(doc, instance(doc, id), defs).map((w) => [w.label, w.value])).toEqual([["denoise", 0.5]]);
  });

  it("shows a widget an inner instance promotes one level up, and edits it on that instance", () => {
    let [doc, inner] = samplerInstance([], []);
    doc = promoteWidget(doc, [inner], 3, "seed", "INT", defs);
    doc = withNode(doc, inner, (n) => ({ ...n, widgets_values: [5] }));
    const [outerDoc, outer] = convertToSubgraph(doc, [], new Set([inner]), defs);
    const withProxies = withNode(outerDoc, outer!, (n) => ({ ...n, properties: { proxyWidgets: [[String(inner), "seed"]] }, widgets_values: [123] }));
    const [seed] = proxyWidgets(withProxies, instance(withProxies, outer!), defs);
    expect([seed.label, seed.value, seed.nested?.nodeId]).toEqual(["seed", 5, inner]); // the server reads the inner instance
    const edited = setProxyWidget(withProxies, [], outer!, seed, 77, defs);
    const innerNode = subgraphsOf(edited).flatMap((d) => d.nodes).find((n) => n.id === inner)!;
    expect(innerNode.widgets_values).toEqual([77]);
    expect(proxyWidgets(edited, instance(edited, outer!), defs)[0].value).toBe(77);
  });
});
