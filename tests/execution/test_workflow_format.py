"""UI-format workflows become API prompts on the server, with ComfyUI's front-end rules."""

from __future__ import annotations

from execution.workflows import is_ui_workflow, ui_to_api, widget_names

KSAMPLER_INFO = {
    "input": {"required": {
        "model": ("MODEL",), "seed": ("INT", {"default": 0}), "steps": ("INT", {}), "cfg": ("FLOAT", {}),
        "sampler_name": (["euler", "heun"],), "scheduler": (["normal", "karras"],),
        "positive": ("CONDITIONING",), "negative": ("CONDITIONING",), "latent_image": ("LATENT",),
        "denoise": ("FLOAT", {})}},
    "input_order": {"required": ["model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive",
                                 "negative", "latent_image", "denoise"]},
}
INFO = {
    "KSampler": KSAMPLER_INFO,
    "Loader": {"input": {"required": {"name": (["a.safetensors"],)}}, "input_order": {"required": ["name"]}},
    "Upscale": {"input": {"required": {"latent": ("LATENT",), "scale": ("FLOAT", {})}},
                "input_order": {"required": ["latent", "scale"]}},
    "Image": {"input": {"required": {"image": (["x.png"], {"image_upload": True}), "seed": ("INT", {
        "forceInput": True})}}, "input_order": {"required": ["image", "seed"]}},
}


def test_widget_order_skips_sockets_and_marks_hidden_slots():
    assert widget_names(KSAMPLER_INFO) == ["seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert widget_names(INFO["Image"]) == ["image", None]  # forceInput makes no widget; upload adds a slot


def workflow(nodes, links):
    return {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "version": 0.4}


def test_widgets_links_reroutes_primitives_bypass_and_mute():
    nodes = [
        {"id": 1, "type": "Loader", "mode": 0, "widgets_values": ["a.safetensors"],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [1]}]},
        {"id": 2, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}],
         "outputs": [{"name": "", "type": "*", "links": [2]}]},
        {"id": 3, "type": "Upscale", "mode": 4, "widgets_values": [2.0],
         "inputs": [{"name": "latent", "type": "LATENT", "link": 2}],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [3]}]},
        {"id": 4, "type": "PrimitiveNode", "mode": 0, "widgets_values": [1234, "fixed"],
         "outputs": [{"name": "INT", "type": "INT", "links": [4], "widget": {"name": "seed"}}]},
        {"id": 5, "type": "KSampler", "mode": 0, "title": "Sampler",
         "widgets_values": [99, "randomize", 20, 7.5, "heun", "karras", 0.8],
         "inputs": [{"name": "latent_image", "type": "LATENT", "link": 3},
                    {"name": "seed", "type": "INT", "link": 4, "widget": {"name": "seed"}}]},
        {"id": 6, "type": "Upscale", "mode": 2, "widgets_values": [1.5], "inputs": []},
        {"id": 7, "type": "Note", "mode": 0, "widgets_values": ["hello"]},
    ]
    links = [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 3, 0, "LATENT"], [3, 3, 0, 5, 0, "LATENT"], [4, 4, 0, 5, 1, "INT"]]
    data = workflow(nodes, links)
    assert is_ui_workflow(data)
    prompt = ui_to_api(data, INFO)
    assert set(prompt) == {"1", "5"}  # reroute, primitive, note, bypassed and muted nodes are gone
    assert prompt["5"] == {"class_type": "KSampler", "_meta": {"title": "Sampler"}, "inputs": {
        "seed": 1234, "steps": 20, "cfg": 7.5, "sampler_name": "heun", "scheduler": "karras", "denoise": 0.8,
        "latent_image": ["1", 0]}}


def test_version_1_object_links_and_named_widget_values():
    nodes = [{"id": 1, "type": "Loader", "mode": 0, "widgets_values": {"name": "a.safetensors"}},
             {"id": 2, "type": "Upscale", "mode": 0, "widgets_values": [[1, 2]],
              "inputs": [{"name": "latent", "type": "LATENT", "link": 7}]}]
    links = [{"id": 7, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "LATENT"}]
    prompt = ui_to_api({"version": 1, "nodes": nodes, "links": links}, INFO)
    assert prompt["1"]["inputs"] == {"name": "a.safetensors"}
    assert prompt["2"]["inputs"] == {"scale": {"__value__": [1, 2]}, "latent": ["1", 0]}


def test_unknown_node_types_stay_so_validation_can_name_them():
    prompt = ui_to_api(workflow([{"id": 3, "type": "FancyPluginNode", "mode": 0, "widgets_values": [1]}], []), INFO)
    assert prompt == {"3": {"class_type": "FancyPluginNode", "inputs": {}, "_meta": {"title": "FancyPluginNode"}}}


def shipped_workflows() -> list:
    from tests.conftest import ROOT

    return sorted((ROOT / "workflows").glob("*.json"), key=lambda path: path.name)


def test_every_shipped_workflow_is_well_formed(object_info):
    """Each link joins an output and an input of the same type on registered nodes, and every widget value is
    one the input accepts (model file names aside: they are the user's)."""
    import json

    info = object_info
    for path in shipped_workflows():
        workflow = json.loads(path.read_text())
        nodes = {node["id"]: node for node in workflow["nodes"]}
        for link_id, source, slot, target, target_slot, kind in workflow["links"]:
            source_node, target_node = nodes[source], nodes[target]
            assert info[source_node["type"]]["output"][slot] == kind, (path.name, link_id)
            assert target_node["inputs"][target_slot]["type"] == kind, (path.name, link_id)
            assert target_node["inputs"][target_slot]["link"] == link_id, (path.name, link_id)
        prompt = ui_to_api(workflow, info)
        for node_id, node in prompt.items():
            spec = {**info[node["class_type"]]["input"]["required"],
                    **info[node["class_type"]]["input"].get("optional", {})}
            for name, value in node["inputs"].items():
                assert name in spec, (path.name, node_id, name)
                kind = spec[name][0]
                user_files = name.endswith(("_name", "_name1", "_name2", "image", "folder", "stats", "_model"))
                if isinstance(kind, list) and not isinstance(value, list) and not user_files:
                    assert value in kind, (path.name, node_id, name, value)


def test_older_widget_layouts_read_as_the_web_app_migrates_them():
    from execution.workflows.widgets import read_widgets

    forced = {"input": {"required": {"steps": ("INT", {"default": 20}), "seed": ("INT", {"forceInput": True}),
                                     "cfg": ("FLOAT", {"default": 8.0})}},
              "input_order": {"required": ["steps", "seed", "cfg"]}}
    # a file from before forceInput inputs lost their widgets kept a dummy value for the seed
    assert read_widgets({"widgets_values": [30, 0, 6.5]}, forced, "X #1") == ({"steps": 30, "cfg": 6.5}, [])
    # a KSampler saved before seeds had a control widget: the next value is the steps, not a control choice
    values, warnings = read_widgets({"widgets_values": [5, 12, 7.0, "heun", "karras", 0.5]}, KSAMPLER_INFO, "K #2")
    assert values == {"seed": 5, "steps": 12, "cfg": 7.0, "sampler_name": "heun", "scheduler": "karras",
                      "denoise": 0.5} and warnings == []
    # values saved by name keep only the node's inputs
    assert read_widgets({"widgets_values": {"name": "a.safetensors", "videopreview": {}}}, INFO["Loader"], "L #3") \
        == ({"name": "a.safetensors"}, [])
    # a missing trailing widget takes its default, with a warning unless a link gives it
    values, warnings = read_widgets({"widgets_values": [1, "fixed", 20]}, KSAMPLER_INFO, "KSampler #4",
                                    frozenset({"cfg"}))
    assert values["sampler_name"] == "euler" and values["denoise"] == 0.0
    assert "KSampler #4: sampler_name was missing; using its default 'euler'" in warnings
    assert not any("cfg" in warning for warning in warnings)
