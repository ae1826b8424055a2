"""HypernetworkLoader, InstructPixToPixConditioning, GLIGENLoader and GLIGENTextBoxApply through the harness on
tiny models in the real layouts: ComfyUI's inputs and outputs, and what each leaves untouched."""

from __future__ import annotations

import pytest
import torch

from core.folders import Folders
from engine.sd.gligen import Gligen
from nodes.builtin import image, latent, sd, sd_addons
from tests.addon_factories import write_tiny_gligen, write_tiny_hypernetwork, write_tiny_ip2p_checkpoint
from tests.factories import save_weights, write_tiny_sd15_checkpoint
from tests.harness import Harness
from tests.nodes.graphs import harness_for, node


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    folders = Folders.under(tmp_path_factory.mktemp("addon_nodes"))
    folders.create()
    models = folders.models_dir
    write_tiny_sd15_checkpoint(models / "checkpoints" / "sd15.safetensors")
    write_tiny_ip2p_checkpoint(models / "checkpoints" / "ip2p.safetensors")
    write_tiny_hypernetwork(models / "hypernetworks" / "tiny.pt")
    write_tiny_gligen(models / "gligen" / "boxes.safetensors")
    save_weights({"position_net.null_positive_feature": torch.zeros(768)}, models / "gligen" / "wide.safetensors",
                 torch.float32)
    return harness_for(folders, sd, latent, image, sd_addons)


def output(harness: Harness, prompt: dict, node_id: str, slot: int = 0):
    harness.executor.cache.clear()
    return harness.output({**prompt, "keep": node("Keep", value=(node_id, slot))}, node_id, slot)


CHECKPOINT = {"ck": node("CheckpointLoaderSimple", ckpt_name="sd15.safetensors"),
              "pos": node("CLIPTextEncode", text="a cat", clip=("ck", 1))}


def test_hypernetwork_loader_patches_both_attentions_of_a_clone(harness):
    prompt = {**CHECKPOINT, "hn": node("HypernetworkLoader", model=("ck", 0), hypernetwork_name="tiny.pt",
                                       strength=0.7)}
    patched = output(harness, prompt, "hn")
    base = output(harness, prompt, "ck")
    patches = patched.model_options["transformer_options"]["patches"]
    assert patches["attn1_patch"][0] is patches["attn2_patch"][0] and patches["attn2_patch"][0].strength == 0.7
    assert "patches" not in base.model_options["transformer_options"] and patched.is_clone(base)


def test_instruct_pix2pix_conditioning_outputs(harness):
    prompt = {"ck": node("CheckpointLoaderSimple", ckpt_name="ip2p.safetensors"),
              "pos": node("CLIPTextEncode", text="make it snowy", clip=("ck", 1)),
              "neg": node("CLIPTextEncode", text="", clip=("ck", 1)),
              "img": node("EmptyImage", width=44, height=40, batch_size=1, color=0x336699),
              "ip": node("InstructPixToPixConditioning", positive=("pos", 0), negative=("neg", 0), vae=("ck", 2),
                         pixels=("img", 0))}
    positive, negative, start = (output(harness, prompt, "ip", slot) for slot in range(3))
    image_latent = positive[0][1]["concat_latent_image"]
    assert image_latent.shape == (1, 4, 5, 5) and torch.equal(negative[0][1]["concat_latent_image"], image_latent)
    assert torch.equal(start["samples"], torch.zeros(1, 4, 5, 5))
    assert "concat_latent_image" not in output(harness, prompt, "pos")[0][1]


def test_gligen_text_boxes_accumulate(harness):
    prompt = {**CHECKPOINT, "gl": node("GLIGENLoader", gligen_name="boxes.safetensors"),
              "b1": node("GLIGENTextBoxApply", conditioning_to=("pos", 0), clip=("ck", 1),
                         gligen_textbox_model=("gl", 0), text="a cat", width=64, height=128, x=8, y=16),
              "b2": node("GLIGENTextBoxApply", conditioning_to=("b1", 0), clip=("ck", 1),
                         gligen_textbox_model=("gl", 0), text="a dog", width=32, height=32, x=0, y=0)}
    kind, model, positions = output(harness, prompt, "b2")[0][1]["gligen"]
    assert kind == "position" and isinstance(model, Gligen) and len(model.fusers) == 7
    assert [p[1:] for p in positions] == [(16, 8, 2, 1), (4, 4, 0, 0)]
    assert positions[0][0].shape == (1, 32) and not torch.equal(positions[0][0], positions[1][0])


def test_gligen_loader_refuses_other_files(harness):
    prompt = {**CHECKPOINT, "gl": node("GLIGENLoader", gligen_name="wide.safetensors")}
    result = harness.run({**prompt, "keep": node("Keep", value=("gl", 0))})
    errors = [m[1]["exception_message"] for m in result.messages if m[0] == "execution_error"]
    assert errors and "wide.safetensors: not a GLIGEN file" in errors[0]
