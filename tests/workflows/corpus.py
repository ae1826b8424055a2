"""A corpus of UI-format workflows, built here (no copied files), each with the API prompt ComfyUI's web app
would queue for it and the warnings Atelier gives.

Every case draws digits with the shipped tiny checkpoint, so any of them can also run end to end. ``Graph``
builds one graph (the root or a subgraph definition) in schema 0.4 (links as lists) or 1.0 (links as objects).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

CHECKPOINT = "atelier-digits.safetensors"
SAMPLER_VALUES = [7, "fixed", 4, 5.0, "euler", "normal", 1.0]
SUBGRAPH_INPUT, SUBGRAPH_OUTPUT = -10, -20


@dataclass
class Case:
    name: str
    ui: dict[str, Any]
    expected: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


class Graph:
    """Nodes and links of one graph; ``add`` returns the node, ``link`` joins an output to a named input."""

    def __init__(self, objects: bool = False) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[Any] = []
        self.objects = objects
        self.inputs: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []

    def add(self, node_id: int, kind: str, values: Any = None, inputs: tuple = (), outputs: tuple = (),
            mode: int = 0, **extra: Any) -> dict[str, Any]:
        """``inputs``: (name, type) or (name, type, widget) for an input that is also a widget."""
        node = {"id": node_id, "type": kind, "pos": [0, 0], "size": [200, 100], "flags": {}, "order": 0,
                "mode": mode, "properties": {}, "inputs": [_input(*spec) for spec in inputs],
                "outputs": [{"name": name, "type": name, "links": []} for name in outputs], **extra}
        if values is not None:
            node["widgets_values"] = values
        self.nodes.append(node)
        return node

    def link(self, origin: dict | int, slot: int, target: dict | int, input_name: str | int) -> int:
        link_id = len(self.links) + 1
        origin_id = origin if isinstance(origin, int) else origin["id"]
        target_id = target if isinstance(target, int) else target["id"]
        if isinstance(target, dict):
            names = [entry["name"] for entry in target["inputs"]]
            target_slot = names.index(input_name)
            target["inputs"][target_slot]["link"] = link_id
            kind = target["inputs"][target_slot]["type"]
        else:
            target_slot = int(input_name)
            kind = self.outputs[target_slot]["type"] if target == SUBGRAPH_OUTPUT else "*"
        if isinstance(origin, dict):
            origin["outputs"][slot]["links"].append(link_id)
        elif origin == SUBGRAPH_INPUT:
            self.inputs[slot]["linkIds"].append(link_id)
        if target == SUBGRAPH_OUTPUT:
            self.outputs[target_slot]["linkIds"].append(link_id)
        if self.objects or SUBGRAPH_INPUT in (origin_id,) or target_id == SUBGRAPH_OUTPUT:
            self.links.append({"id": link_id, "origin_id": origin_id, "origin_slot": slot, "target_id": target_id,
                               "target_slot": target_slot, "type": kind})
        else:
            self.links.append([link_id, origin_id, slot, target_id, target_slot, kind])
        return link_id

    def subgraph(self, subgraph_id: str, name: str, inputs: tuple = (), outputs: tuple = ()) -> dict[str, Any]:
        """This graph as a subgraph definition with named inputs and outputs (``(name, type)`` pairs)."""
        links = [link if isinstance(link, dict) else _as_object(link) for link in self.links]
        return {"id": subgraph_id, "version": 1, "name": name, "nodes": self.nodes, "links": links,
                "inputNode": {"id": SUBGRAPH_INPUT, "bounding": [0, 0, 80, 80]},
                "outputNode": {"id": SUBGRAPH_OUTPUT, "bounding": [600, 0, 80, 80]},
                "inputs": self.inputs, "outputs": self.outputs, "widgets": [], "groups": [], "config": {}, "extra": {}}

    def declare(self, inputs: tuple = (), outputs: tuple = ()) -> None:
        """The subgraph's inputs and outputs, before links to them are made."""
        self.inputs = [{"id": f"in-{name}", "name": name, "type": kind, "linkIds": []} for name, kind in inputs]
        self.outputs = [{"id": f"out-{name}", "name": name, "type": kind, "linkIds": []} for name, kind in outputs]

    def workflow(self, subgraphs: tuple = (), **extra: Any) -> dict[str, Any]:
        data = {"last_node_id": max([node["id"] for node in self.nodes] + [0]), "last_link_id": len(self.links),
                "nodes": self.nodes, "links": self.links, "groups": [], "config": {}, "extra": extra,
                "version": 1 if self.objects else 0.4}
        if self.objects:
            data["state"] = {"lastNodeId": data["last_node_id"], "lastLinkId": len(self.links), "lastGroupId": 0,
                             "lastRerouteId": 0}
        if subgraphs:
            data["definitions"] = {"subgraphs": list(subgraphs)}
        return data


def _input(name: str, kind: str, widget: bool = False) -> dict[str, Any]:
    slot: dict[str, Any] = {"name": name, "type": kind, "link": None}
    if widget:
        slot["widget"] = {"name": name}
    return slot


def _as_object(link: list) -> dict[str, Any]:
    return dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link, strict=True))


def api(kind: str, title: str, **inputs: Any) -> dict[str, Any]:
    return {"inputs": inputs, "class_type": kind, "_meta": {"title": title}}


def _loaders(graph: Graph) -> tuple[dict, dict, dict, dict]:
    """Checkpoint 4, prompts 6 and 7, empty latent 5 (as in the shipped default workflow)."""
    checkpoint = graph.add(4, "CheckpointLoaderSimple", [CHECKPOINT], outputs=("MODEL", "CLIP", "VAE"))
    positive = graph.add(6, "CLIPTextEncode", ["a handwritten digit 7"], inputs=(("clip", "CLIP"),),
                         outputs=("CONDITIONING",))
    negative = graph.add(7, "CLIPTextEncode", [""], inputs=(("clip", "CLIP"),), outputs=("CONDITIONING",))
    latent = graph.add(5, "EmptyLatentImage", [32, 32, 4], outputs=("LATENT",))
    graph.link(checkpoint, 1, positive, "clip")
    graph.link(checkpoint, 1, negative, "clip")
    return checkpoint, positive, negative, latent


SAMPLER_INPUTS = (("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                  ("latent_image", "LATENT"))


def _link_sampler_inputs(graph: Graph, loaders: tuple[dict, dict, dict, dict], target: dict) -> None:
    """The model, prompts and latent of ``_loaders`` linked to ``target``'s ``SAMPLER_INPUTS``."""
    for origin, (name, _) in zip(loaders, SAMPLER_INPUTS, strict=True):
        graph.link(origin, 0, target, name)


def flat_prompt(sampler: str = "3", decode: str = "8", **sampler_widgets: Any) -> dict[str, dict[str, Any]]:
    """The prompt of the flat digits workflow, with the sampler and decoder under other ids if asked."""
    widgets = {"seed": 7, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
               **sampler_widgets}
    return {
        "4": api("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name=CHECKPOINT),
        "6": api("CLIPTextEncode", "CLIP Text Encode (Prompt)", text="a handwritten digit 7", clip=["4", 1]),
        "7": api("CLIPTextEncode", "CLIP Text Encode (Prompt)", text="", clip=["4", 1]),
        "5": api("EmptyLatentImage", "Empty Latent Image", width=32, height=32, batch_size=4),
        sampler: api("KSampler", "KSampler", **widgets, model=["4", 0], positive=["6", 0], negative=["7", 0],
                     latent_image=["5", 0]),
        decode: api("VAEDecode", "VAE Decode", samples=[sampler, 0], vae=["4", 2]),
        "9": api("SaveImage", "Save Image", filename_prefix="digits", images=[decode, 0]),
    }


def _ordered(prompt: dict[str, dict[str, Any]], order: list[str]) -> dict[str, dict[str, Any]]:
    return {key: prompt[key] for key in order}


def flat_digits(objects: bool = False) -> dict[str, Any]:
    graph = Graph(objects)
    loaders = _loaders(graph)
    checkpoint = loaders[0]
    sampler = graph.add(3, "KSampler", list(SAMPLER_VALUES), inputs=SAMPLER_INPUTS, outputs=("LATENT",))
    decode = graph.add(8, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=("IMAGE",))
    save = graph.add(9, "SaveImage", ["digits"], inputs=(("images", "IMAGE"),))
    _link_sampler_inputs(graph, loaders, sampler)
    graph.link(sampler, 0, decode, "samples")
    graph.link(checkpoint, 2, decode, "vae")
    graph.link(decode, 0, save, "images")
    return graph.workflow()


def flat_cases() -> list[Case]:
    expected = flat_prompt()
    return [Case("schema 0.4", flat_digits(), expected), Case("schema 1.0 (links as objects)", flat_digits(True),
                                                             expected)]


def reroutes_primitives_and_modes(objects: bool = False) -> Case:
    """A legacy Reroute node and a native reroute on the way to the sampler, a PrimitiveNode driving the seed (a
    converted widget), a bypassed upscale passing its latent through and a muted save branch."""
    graph = Graph(objects)
    checkpoint, positive, negative, latent = _loaders(graph)
    reroute = graph.add(20, "Reroute", inputs=(("", "*"),), outputs=("MODEL",))
    seed = graph.add(21, "PrimitiveNode", [1234, "randomize"], outputs=("INT",), title="Seed")
    seed["outputs"][0]["widget"] = {"name": "seed"}
    upscale = graph.add(22, "LatentUpscaleBy", ["nearest-exact", 1.5], inputs=(("samples", "LATENT"),),
                        outputs=("LATENT",), mode=4)
    sampler = graph.add(3, "KSampler", list(SAMPLER_VALUES), inputs=(*SAMPLER_INPUTS, ("seed", "INT", True)),
                        outputs=("LATENT",))
    decode = graph.add(8, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=("IMAGE",))
    save = graph.add(9, "SaveImage", ["digits"], inputs=(("images", "IMAGE"),))
    muted = graph.add(23, "SaveImage", ["muted"], inputs=(("images", "IMAGE"),), mode=2)
    graph.link(checkpoint, 0, reroute, "")
    model_link = graph.link(reroute, 0, sampler, "model")
    graph.link(positive, 0, sampler, "positive")
    graph.link(negative, 0, sampler, "negative")
    graph.link(latent, 0, upscale, "samples")
    graph.link(upscale, 0, sampler, "latent_image")
    graph.link(seed, 0, sampler, "seed")
    graph.link(sampler, 0, decode, "samples")
    graph.link(checkpoint, 2, decode, "vae")
    graph.link(decode, 0, save, "images")
    graph.link(decode, 0, muted, "images")
    reroutes = [{"id": 1, "pos": [100, 100], "linkIds": [model_link]}]
    for link in graph.links:
        if (link["id"] if isinstance(link, dict) else link[0]) == model_link and isinstance(link, dict):
            link["parentId"] = 1
    ui = graph.workflow(reroutes=reroutes, linkExtensions=[{"id": model_link, "parentId": 1}])
    expected = flat_prompt(seed=1234)
    return Case(f"reroutes, primitive, bypass, mute ({'1.0' if objects else '0.4'})", ui, expected)


def older_files() -> Case:
    """Widget values as older files hold them: a KSampler from before the seed's control widget, a LoadImage with
    its upload slot, an inpainting encoder without grow_mask_by, values saved by name, a legacy boolean control."""
    graph = Graph()
    checkpoint, positive, negative, latent = _loaders(graph)
    image = graph.add(30, "LoadImage", ["digit.png", "image"], outputs=("IMAGE", "MASK"))
    encode = graph.add(31, "VAEEncodeForInpaint", [], inputs=(("pixels", "IMAGE"), ("vae", "VAE"), ("mask", "MASK")),
                       outputs=("LATENT",))
    sampler = graph.add(3, "KSampler", [7, 4, 5.0, "euler", "normal", 1.0], inputs=SAMPLER_INPUTS,
                        outputs=("LATENT",))
    advanced = graph.add(32, "EmptyLatentImage", {"width": 32, "height": 32, "batch_size": 2, "extra": 1},
                         outputs=("LATENT",))
    graph.link(image, 0, encode, "pixels")
    graph.link(checkpoint, 2, encode, "vae")
    graph.link(image, 1, encode, "mask")
    for origin, name in ((checkpoint, "model"), (positive, "positive"), (negative, "negative"),
                         (encode, "latent_image")):
        graph.link(origin, 0, sampler, name)
    del latent, advanced
    expected = {key: value for key, value in flat_prompt().items() if key in ("4", "6", "7", "5")}
    expected.update({
        "30": api("LoadImage", "Load Image", image="digit.png"),
        "31": api("VAEEncodeForInpaint", "VAE Encode (for Inpainting)", grow_mask_by=6, pixels=["30", 0],
                  vae=["4", 2], mask=["30", 1]),
        "3": api("KSampler", "KSampler", seed=7, steps=4, cfg=5.0, sampler_name="euler", scheduler="normal",
                 denoise=1.0, model=["4", 0], positive=["6", 0], negative=["7", 0], latent_image=["31", 0]),
        "32": api("EmptyLatentImage", "Empty Latent Image", width=32, height=32, batch_size=2),
    })
    ui = graph.workflow()
    return Case("older widget values", ui, _ordered(expected, [str(node["id"]) for node in ui["nodes"]]),
                ["VAEEncodeForInpaint #31: grow_mask_by was missing; using its default 6"])


INNER_ID, OUTER_ID = "6f0c1a52-0000-4000-8000-000000000002", "6f0c1a52-0000-4000-8000-000000000001"


def _sampler_subgraph(bypassed_upscale: bool, promoted_seed: bool) -> dict[str, Any]:
    """INNER: the KSampler (3), then a LatentUpscaleBy (11) that is bypassed; the seed is a promoted widget."""
    inner = Graph(True)
    inner.declare((*SAMPLER_INPUTS, *((("seed", "INT"),) if promoted_seed else ())), (("LATENT", "LATENT"),))
    sampler = inner.add(3, "KSampler", list(SAMPLER_VALUES), inputs=(*SAMPLER_INPUTS, ("seed", "INT", True)),
                        outputs=("LATENT",))
    upscale = inner.add(11, "LatentUpscaleBy", ["nearest-exact", 1.5], inputs=(("samples", "LATENT"),),
                        outputs=("LATENT",), mode=4 if bypassed_upscale else 0)
    for index, (name, _) in enumerate(SAMPLER_INPUTS):
        inner.link(SUBGRAPH_INPUT, index, sampler, name)
    if promoted_seed:
        inner.link(SUBGRAPH_INPUT, len(SAMPLER_INPUTS), sampler, "seed")
    inner.link(sampler, 0, upscale, "samples")
    inner.link(upscale, 0, SUBGRAPH_OUTPUT, 0)
    return inner.subgraph(INNER_ID, "Sampler", inner.inputs, inner.outputs)


def _instance(graph: Graph, node_id: int, subgraph: dict[str, Any], values: list | None = None,
              mode: int = 0, **extra: Any) -> dict[str, Any]:
    inputs = tuple((entry["name"], entry["type"], entry["type"] == "INT") for entry in subgraph["inputs"])
    node = graph.add(node_id, subgraph["id"], values, inputs=inputs,
                     outputs=tuple(entry["type"] for entry in subgraph["outputs"]), mode=mode, **extra)
    for output, entry in zip(node["outputs"], subgraph["outputs"], strict=True):
        output["name"] = entry["name"]
    return node


def nested_subgraph_with_bypass(objects: bool = True, seed: int = 11) -> Case:
    """OUTER (instance 10) holds INNER (instance 20, the sampler with a bypassed upscale after it) and the VAE
    decoder; the root feeds it and saves its image. INNER's seed is promoted to 20 and on to 10, whose widget
    value sets it."""
    inner = _sampler_subgraph(bypassed_upscale=True, promoted_seed=True)
    outer = Graph(True)
    outer.declare((*SAMPLER_INPUTS, ("vae", "VAE"), ("seed", "INT")), (("IMAGE", "IMAGE"),))
    sampler = _instance(outer, 20, inner, [seed])
    decode = outer.add(8, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=("IMAGE",))
    for index, (name, _) in enumerate(SAMPLER_INPUTS):
        outer.link(SUBGRAPH_INPUT, index, sampler, name)
    outer.link(SUBGRAPH_INPUT, 5, sampler, "seed")
    outer.link(sampler, 0, decode, "samples")
    outer.link(SUBGRAPH_INPUT, 4, decode, "vae")
    outer.link(decode, 0, SUBGRAPH_OUTPUT, 0)
    outer_definition = outer.subgraph(OUTER_ID, "Sample and decode", outer.inputs, outer.outputs)

    graph = Graph(objects)
    loaders = _loaders(graph)
    instance = _instance(graph, 10, outer_definition, [seed])
    save = graph.add(9, "SaveImage", ["digits"], inputs=(("images", "IMAGE"),))
    _link_sampler_inputs(graph, loaders, instance)
    graph.link(loaders[0], 2, instance, "vae")
    graph.link(instance, 0, save, "images")
    ui = graph.workflow((outer_definition, inner))
    expected = _ordered(flat_prompt("10:20:3", "10:8", seed=seed), ["4", "6", "7", "5", "10:20:3", "10:8", "9"])
    return Case("nested subgraphs with a bypassed node and a promoted seed", ui, expected)


def subgraph_modes() -> list[Case]:
    """A bypassed subgraph instance hands on its latent; a muted one gives nothing (its consumer loses the
    input); an instance whose promoted seed uses the older properties.proxyWidgets form."""
    cases = []
    for mode, name in ((4, "bypassed"), (2, "muted")):
        inner = _sampler_subgraph(bypassed_upscale=False, promoted_seed=False)
        graph = Graph(True)
        loaders = _loaders(graph)
        checkpoint = loaders[0]
        instance = _instance(graph, 10, inner, mode=mode)
        decode = graph.add(8, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=("IMAGE",))
        _link_sampler_inputs(graph, loaders, instance)
        graph.link(instance, 0, decode, "samples")
        graph.link(checkpoint, 2, decode, "vae")
        expected = {key: value for key, value in flat_prompt().items() if key in ("4", "6", "7", "5")}
        decoded = {"samples": ["5", 0], "vae": ["4", 2]} if mode == 4 else {"vae": ["4", 2]}
        expected["8"] = api("VAEDecode", "VAE Decode", **decoded)
        cases.append(Case(f"a {name} subgraph instance", graph.workflow((inner,)), expected))

    inner = _sampler_subgraph(bypassed_upscale=False, promoted_seed=False)
    graph = Graph(True)
    loaders = _loaders(graph)
    checkpoint = loaders[0]
    instance = _instance(graph, 10, inner, [99, "fixed", 3], properties={"proxyWidgets": [["3", "seed"],
                                                                                          ["3", "steps"]]})
    del instance["widgets_values"][1]  # values follow proxyWidgets: one per entry
    save = graph.add(9, "SaveImage", ["digits"], inputs=(("images", "IMAGE"),))
    decode = graph.add(8, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=("IMAGE",))
    _link_sampler_inputs(graph, loaders, instance)
    graph.link(instance, 0, decode, "samples")
    graph.link(checkpoint, 2, decode, "vae")
    graph.link(decode, 0, save, "images")
    prompt = flat_prompt("10:3", "8", seed=99, steps=3)
    prompt["8"]["inputs"]["samples"] = ["10:11", 0]
    prompt["10:11"] = api("LatentUpscaleBy", "Upscale Latent By", upscale_method="nearest-exact", scale_by=1.5,
                          samples=["10:3", 0])
    cases.append(Case("promoted widgets in the properties.proxyWidgets form", graph.workflow((inner,)),
                      _ordered(prompt, ["4", "6", "7", "5", "10:3", "10:11", "9", "8"])))
    return cases


def group_node(seed: int = 11) -> Case:
    """A legacy group node "sampler" (EmptyLatentImage, KSampler, VAEDecode) as ``workflow>sampler`` node 12: its
    inner nodes become "12:0", "12:1", "12:2" and its widget values set theirs in order."""
    inner_nodes = [
        {"id": 5, "type": "EmptyLatentImage", "mode": 0, "widgets_values": [64, 64, 1], "inputs": [],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [1]}]},
        {"id": 3, "type": "KSampler", "mode": 0, "widgets_values": [0, "randomize", 20, 8.0, "euler", "normal", 1.0],
         "inputs": [{"name": name, "type": kind, "link": None} for name, kind in SAMPLER_INPUTS],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [2]}]},
        {"id": 8, "type": "VAEDecode", "mode": 0, "inputs": [{"name": "samples", "type": "LATENT", "link": 2},
                                                             {"name": "vae", "type": "VAE", "link": None}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}]},
    ]
    group = {"nodes": copy.deepcopy(inner_nodes), "links": [[0, 0, 1, 3, 5, "LATENT"], [1, 0, 2, 0, 3, "LATENT"]],
             "external": [[2, 0, "IMAGE"]]}
    graph = Graph()
    checkpoint, positive, negative, _ = _loaders(graph)
    graph.nodes = [node for node in graph.nodes if node["id"] != 5]
    node = graph.add(12, "workflow>sampler", [32, 32, 4, seed, "fixed", 4, 5.0, "euler", "normal", 1.0],
                     inputs=(("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                             ("vae", "VAE")), outputs=("IMAGE",))
    save = graph.add(9, "SaveImage", ["digits"], inputs=(("images", "IMAGE"),))
    for origin, slot, name in ((checkpoint, 0, "model"), (positive, 0, "positive"), (negative, 0, "negative"),
                               (checkpoint, 2, "vae")):
        graph.link(origin, slot, node, name)
    graph.link(node, 0, save, "images")
    ui = graph.workflow(groupNodes={"sampler": group})
    prompt = flat_prompt("12:1", "12:2", seed=seed)
    prompt["12:0"] = prompt.pop("5")
    prompt["12:1"]["inputs"]["latent_image"] = ["12:0", 0]
    return Case("a legacy group node", ui, _ordered(prompt, ["4", "6", "7", "12:0", "12:1", "12:2", "9"]))


def set_get_nodes() -> Case:
    """KJNodes' SetNode/GetNode pair, which exists only in the web app: the getter reads the setter's input."""
    graph = Graph()
    checkpoint, positive, negative, latent = _loaders(graph)
    setter = graph.add(40, "SetNode", ["model"], inputs=(("MODEL", "MODEL"),), outputs=("*",))
    getter = graph.add(41, "GetNode", ["model"], outputs=("MODEL",))
    sampler = graph.add(3, "KSampler", list(SAMPLER_VALUES), inputs=SAMPLER_INPUTS, outputs=("LATENT",))
    decode = graph.add(8, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=("IMAGE",))
    save = graph.add(9, "SaveImage", ["digits"], inputs=(("images", "IMAGE"),))
    graph.link(checkpoint, 0, setter, "MODEL")
    for origin, name in ((getter, "model"), (positive, "positive"), (negative, "negative"), (latent, "latent_image")):
        graph.link(origin, 0, sampler, name)
    graph.link(sampler, 0, decode, "samples")
    graph.link(checkpoint, 2, decode, "vae")
    graph.link(decode, 0, save, "images")
    return Case("SetNode and GetNode", graph.workflow(), flat_prompt())


def all_cases() -> list[Case]:
    return [*flat_cases(), reroutes_primitives_and_modes(), reroutes_primitives_and_modes(True), older_files(),
            nested_subgraph_with_bypass(), nested_subgraph_with_bypass(objects=False), *subgraph_modes(),
            group_node(), set_get_nodes()]
