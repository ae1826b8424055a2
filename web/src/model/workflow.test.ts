import { describe, expect, it } from "vitest";
import defaultGraph from "./__fixtures__/default_graph.json";
import { objectInfo } from "./__fixtures__/objectInfo";
import { applyControls } from "./controls";
import { addNode, canConnect, connect, removeNodes, toggleWidgetInput } from "./document";
import { fromApiPrompt } from "./fromApi";
import { groupAround, moveGroup, nodesInGroup, removeGroups } from "./groups";
import { buildNodeDef, type NodeDef, typesMatch } from "./nodeDefs";
import { pngTextChunks } from "./png";
import { addReroute, linkWaypoints, moveReroute, removeReroute } from "./reroutes";
import type { UIWorkflow } from "./types";

const defs: Record<string, NodeDef> = Object.fromEntries(Object.values(objectInfo).map((info) => [info.name, buildNodeDef(info)]));
const graph = () => structuredClone(defaultGraph) as unknown as UIWorkflow;

describe("UI-format round trips", () => {
  it("keeps every field of a workflow, including unknown ones", () => {
    const doc = graph();
    (doc as Record<string, unknown>).extra = { ds: { scale: 1.2, offset: [3, 4] }, custom: { keep: true } };
    (doc.nodes[0] as Record<string, unknown>).color = "#335";
    doc.nodes.push({ id: 50, type: "SomePluginNode", pos: [1, 2], size: [3, 4], flags: {}, order: 7, mode: 0, properties: { x: 1 },
      widgets_values: [1, "two", { three: 3 }] });
    const saved = JSON.parse(JSON.stringify(doc));
    const reopened = JSON.parse(JSON.stringify(saved));
    expect(reopened).toEqual(doc);
  });

  it("edits keep links consistent on both ends", () => {
    let doc = graph();
    doc = removeNodes(doc, new Set([8]));
    expect(doc.links.some((l) => l[1] === 8 || l[3] === 8)).toBe(false);
    expect(doc.nodes.find((n) => n.id === 9)!.inputs![0].link).toBeNull();
    expect(doc.nodes.find((n) => n.id === 3)!.outputs![0].links).toEqual([]);
  });

  it("converts a widget to an input and back", () => {
    let doc = toggleWidgetInput(graph(), 3, "steps", "INT");
    expect(doc.nodes.find((n) => n.id === 3)!.inputs!.at(-1)).toEqual({ name: "steps", type: "INT", link: null, widget: { name: "steps" } });
    doc = toggleWidgetInput(doc, 3, "steps", "INT");
    expect(doc.nodes.find((n) => n.id === 3)!.inputs!.map((i) => i.name)).toEqual(["model", "positive", "negative", "latent_image"]);
  });

  it("rebuilds a workflow from an API prompt", () => {
    const prompt = {
      "4": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "other.safetensors" } },
      "3": { class_type: "KSampler", inputs: { seed: 156680208700286, steps: 20, model: ["4", 0] } },
      "99": { class_type: "Unknown", inputs: {} },
    };
    const { doc, missing } = fromApiPrompt(prompt, defs);
    expect(missing).toEqual(["Unknown"]);
    expect(doc.nodes.map((n) => n.type).sort()).toEqual(["CheckpointLoaderSimple", "KSampler"]);
    const sampler = doc.nodes.find((n) => n.type === "KSampler")!;
    expect((sampler.widgets_values as unknown[]).slice(0, 3)).toEqual([156680208700286, "fixed", 20]);
    const loader = doc.nodes.find((n) => n.type === "CheckpointLoaderSimple")!;
    expect(doc.links).toEqual([[1, loader.id, 0, sampler.id, 0, "MODEL"]]);
  });
});

describe("links and controls", () => {
  it("checks link types like ComfyUI", () => {
    expect(typesMatch("IMAGE", "IMAGE")).toBe(true);
    expect(typesMatch("*", "MODEL")).toBe(true);
    expect(typesMatch("INT,FLOAT", "FLOAT")).toBe(true);
    expect(typesMatch("IMAGE", "LATENT")).toBe(false);
    const doc = graph();
    expect(canConnect(doc, 4, 0, 3, 0)).toBe(true); // MODEL -> model
    expect(canConnect(doc, 4, 1, 3, 0)).toBe(false); // CLIP -> model is refused
    expect(connect(doc, 4, 1, 3, 0)).toBe(doc);
  });

  it("gives a new image chooser its upload value after the file name", () => {
    const [doc, load] = addNode(graph(), defs.LoadImage, [0, 0]);
    expect(doc.nodes.find((n) => n.id === load)!.widgets_values).toEqual(["example.png", "image"]);
  });

  it("applies control_after_generate to seeds after queueing", () => {
    const doc = graph();
    doc.nodes.find((n) => n.id === 3)!.widgets_values = [10, "increment", 20, 8, "euler", "normal", 1];
    expect((applyControls(doc, defs).nodes.find((n) => n.id === 3)!.widgets_values as unknown[])[0]).toBe(11);
    doc.nodes.find((n) => n.id === 3)!.widgets_values = [10, "randomize", 20, 8, "euler", "normal", 1];
    expect((applyControls(doc, defs, () => 0.5).nodes.find((n) => n.id === 3)!.widgets_values as unknown[])[0]).toBe(562949953421312);
    doc.nodes.find((n) => n.id === 3)!.widgets_values = [10, "fixed", 20, 8, "euler", "normal", 1];
    expect((applyControls(doc, defs).nodes.find((n) => n.id === 3)!.widgets_values as unknown[])[0]).toBe(10);
  });

  it("reads tEXt chunks from a PNG", () => {
    const text = (key: string, value: string) => {
      const data = new TextEncoder().encode(`${key}\0${value}`);
      const chunk = new Uint8Array(12 + data.length);
      new DataView(chunk.buffer).setUint32(0, data.length);
      chunk.set(new TextEncoder().encode("tEXt"), 4);
      chunk.set(data, 8);
      return chunk;
    };
    const bytes = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, ...text("workflow", '{"nodes":[]}'), ...text("prompt", "{}")]);
    expect(pngTextChunks(bytes)).toEqual({ workflow: '{"nodes":[]}', prompt: "{}" });
  });
});

describe("groups", () => {
  it("frame the selected nodes, move with the nodes inside, and leave the rest", () => {
    let doc = graph();
    const [a, b] = [doc.nodes.find((n) => n.id === 4)!, doc.nodes.find((n) => n.id === 5)!];
    doc = groupAround(doc, [4, 5], "Inputs");
    const [x, y, width, height] = doc.groups!.at(-1)!.bounding;
    for (const node of [a, b]) {
      expect(node.pos[0]).toBeGreaterThan(x);
      expect(node.pos[1]).toBeGreaterThan(y);
      expect(node.pos[0] + node.size[0]).toBeLessThan(x + width);
      expect(node.pos[1] + node.size[1]).toBeLessThan(y + height);
    }
    const index = doc.groups!.length - 1;
    const inside = nodesInGroup(doc, index).map((n) => n.id);
    expect(inside).toEqual(expect.arrayContaining([4, 5]));
    const outside = doc.nodes.filter((n) => !inside.includes(n.id));
    expect(outside.length).toBeGreaterThan(0);

    const moved = moveGroup(doc, index, [x + 100, y - 50]);
    expect(moved.groups![index].bounding).toEqual([x + 100, y - 50, width, height]);
    for (const node of moved.nodes) {
      const before = doc.nodes.find((n) => n.id === node.id)!;
      const shift = inside.includes(node.id) ? [100, -50] : [0, 0];
      expect(node.pos).toEqual([before.pos[0] + shift[0], before.pos[1] + shift[1]]);
    }
    expect(doc.groups![index].bounding).toEqual([x, y, width, height]); // the original is untouched (undo)
  });

  it("are removed without their nodes", () => {
    const doc = groupAround(graph(), [3], "Sampler");
    const count = doc.groups!.length;
    const removed = removeGroups(doc, new Set([count - 1]));
    expect(removed.groups).toHaveLength(count - 1);
    expect(removed.nodes).toEqual(doc.nodes);
    expect(groupAround(doc, [])).toBe(doc);
  });
});

describe("native reroutes", () => {
  const routed = (): UIWorkflow => ({
    ...graph(),
    extra: {
      reroutes: [{ id: 1, pos: [100, 50], linkIds: [3, 4] }, { id: 2, parentId: 1, pos: [200, 60], linkIds: [3] },
        { id: 7, parentId: 8, pos: [0, 0] }, { id: 8, parentId: 7, pos: [1, 1] }],
      linkExtensions: [{ id: 3, parentId: 2 }, { id: 4, parentId: 1 }, { id: 9, parentId: 7 }],
      keep: true,
    },
  });

  it("lists each routed link's points from its source to its target", () => {
    const points = linkWaypoints(routed());
    expect(points.get(3)!.map((p) => p.id)).toEqual([1, 2]);
    expect(points.get(4)!.map((p) => p.id)).toEqual([1]);
    expect(points.get(9)!.map((p) => p.id)).toEqual([8, 7]); // a cycle in a broken file stops, it does not hang
    expect(points.has(5)).toBe(false);
  });

  it("moves a point and keeps the rest of extra", () => {
    const moved = moveReroute(routed(), 2, [250, 80]);
    expect(linkWaypoints(moved).get(3)!.map((p) => p.pos)).toEqual([[100, 50], [250, 80]]);
    expect(moved.extra?.keep).toBe(true);
  });
});

describe("adding reroutes", () => {
  const ends: [[number, number], [number, number]] = [[0, 0], [300, 0]];

  it("puts a new point in the nearest segment of the route", () => {
    let doc = addReroute(graph(), 1, [200, 40], ends);
    expect(linkWaypoints(doc).get(1)!.map((p) => p.pos)).toEqual([[200, 40]]);
    doc = addReroute(doc, 1, [60, 30], ends); // between the source and the first point
    expect(linkWaypoints(doc).get(1)!.map((p) => p.pos)).toEqual([[60, 30], [200, 40]]);
    doc = addReroute(doc, 1, [280, 10], ends); // between the last point and the target
    expect(linkWaypoints(doc).get(1)!.map((p) => p.pos)).toEqual([[60, 30], [200, 40], [280, 10]]);
  });
});

describe("removing reroutes", () => {
  it("re-chains what went through the removed point", () => {
    const ends: [[number, number], [number, number]] = [[0, 0], [300, 0]];
    let doc = addReroute(graph(), 1, [100, 10], ends);
    doc = addReroute(doc, 1, [200, 10], ends);
    expect(linkWaypoints(removeReroute(doc, 1)).get(1)!.map((p) => p.pos)).toEqual([[200, 10]]);
    expect(linkWaypoints(removeReroute(doc, 2)).get(1)!.map((p) => p.pos)).toEqual([[100, 10]]);
    expect(linkWaypoints(removeReroute(removeReroute(doc, 2), 1)).has(1)).toBe(false);
  });
});
