"""A runtime bound to ComfyUI's modules, and the real in-process server with test packs in its ``custom_nodes/`` and
the shipped digits checkpoint in its models, for tests of the compatibility layer."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from core.folders import Folders
from runtime import Runtime, Settings, build_runtime
from tests.conftest import ROOT, InProcessServer, serve
from tests.server.api_client import get_json, http, run_prompt, view_url

COMFY_PACKS = Path(__file__).resolve().parent.parent / "plugins" / "comfy_packs"
DIGITS_CHECKPOINT = ROOT / "models" / "checkpoints" / "atelier-digits.safetensors"
# ``pytestmark = needs_digits`` in a module whose tests read the shipped checkpoint.
needs_digits = pytest.mark.skipif(not DIGITS_CHECKPOINT.is_file(),
                                  reason="the shipped digits checkpoint is not in models/")


def bound_runtime(base: Path, *custom_node_dirs: Path, models_dir: Path | None = None) -> Runtime:
    """A runtime over folders under ``base``, its plug-ins loaded from ``custom_node_dirs``; ComfyUI's modules
    (``folder_paths``, ``comfy.*``, ``PromptServer``) are views of it until another runtime is built."""
    folders = Folders.under(base, models_dir)
    return build_runtime(Settings(folders=folders, custom_node_dirs=list(custom_node_dirs)))


@pytest.fixture
def comfy_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime without plug-ins that ComfyUI's modules view (its store is closed afterwards)."""
    runtime = bound_runtime(tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def model():
    """The shipped digits model (a ``DiffusionModel``, ComfyUI's ModelPatcher), read once per module that asks."""
    from engine.device import Devices
    from engine.sd.checkpoint import read_checkpoint

    return read_checkpoint(DIGITS_CHECKPOINT, Devices(cpu_only=True))[0]


@pytest.fixture(scope="module")
def conds(model) -> tuple[list, list]:
    """A positive and a negative conditioning for ``model``: random, the same in every module."""
    import torch

    gen = torch.Generator().manual_seed(3)
    dim = model.unet.config.context_dim
    return [[torch.randn(1, 8, dim, generator=gen), {}]], [[torch.randn(1, 8, dim, generator=gen), {}]]


# The real server with test packs.

def kohya_lora(shapes: Mapping[str, tuple[int, int]], seed: int, rank: int = 4) -> dict[str, Any]:
    """A kohya-style LoRA of random rank-``rank`` factors, alpha ``rank``, for each ``lora_unet_…`` /
    ``lora_te_…`` name and its weight's (out, in) features."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    lora = {}
    for name, (out_features, in_features) in shapes.items():
        lora[name + ".lora_up.weight"] = torch.randn(out_features, rank, generator=gen)
        lora[name + ".lora_down.weight"] = torch.randn(rank, in_features, generator=gen)
        lora[name + ".alpha"] = torch.tensor(float(rank))
    return lora


def digits_style_lora() -> dict[str, Any]:
    """A kohya-style LoRA for one cross-attention key of the digits UNet and one projection of its text encoder."""
    return kohya_lora({"lora_unet_input_blocks_1_1_transformer_blocks_0_attn2_to_k": (64, 32),
                       "lora_te_text_model_encoder_layers_0_self_attn_q_proj": (32, 32)}, seed=3)


def serve_packs(base: Path, *packs: str, digits: bool = False,
                loras: Mapping[str, Mapping[str, Any]] | None = None) -> InProcessServer:
    """The in-process server over folders under ``base`` (stop it with ``stop_server``), its ``custom_nodes/``
    holding copies of the named packs of ``tests/plugins/comfy_packs/``; with ``digits``, ``models/checkpoints/``
    holds a copy of the shipped digits checkpoint, and ``models/loras/`` a file of each named LoRA state dict."""
    custom_nodes = base / "custom_nodes"
    for pack in packs:
        shutil.copytree(COMFY_PACKS / pack, custom_nodes / pack)
    models = base / "models"
    if digits:
        (models / "checkpoints").mkdir(parents=True, exist_ok=True)
        shutil.copy(DIGITS_CHECKPOINT, models / "checkpoints" / DIGITS_CHECKPOINT.name)  # a link leads out of models/
    if loras:
        import safetensors.torch

        (models / "loras").mkdir(parents=True, exist_ok=True)
        for name, lora in loras.items():
            safetensors.torch.save_file(dict(lora), str(models / "loras" / name))
    return serve(base, "--custom-nodes-dir", str(custom_nodes))


def run_ok(server: InProcessServer, prompt: dict) -> tuple[str, list[dict[str, Any]], list[bytes]]:
    """``run_prompt`` on ``server``, checked to have run to ``execution_success``."""
    prompt_id, messages, frames = run_prompt(server.url, server.ws_url, prompt)
    assert "execution_success" in [m["type"] for m in messages], messages
    return prompt_id, messages, frames


def history_of(server: InProcessServer, prompt: dict) -> tuple[dict, list[str]]:
    """The outputs in ``/history`` of ``prompt`` run on ``server`` (checked to have succeeded), and the nodes that
    executed, in order."""
    prompt_id, messages, _ = run_prompt(server.url, server.ws_url, prompt)
    executed = [m["data"]["node"] for m in messages if m["type"] == "executing" and m["data"]["node"]]
    history = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]
    assert history["status"]["status_str"] == "success", history["status"]
    return history["outputs"], executed


def view_pixels(server: InProcessServer, image: dict) -> np.ndarray:
    """The pixels of one image of an output (``{"filename", "subfolder", "type"}``), read through ``/view``."""
    status, body = http(view_url(server.url, image))
    assert status == 200, (status, body)
    return np.asarray(Image.open(io.BytesIO(body)))


def saved_pixels(server: InProcessServer, prompt_id: str, node_id: str) -> np.ndarray:
    """The images node ``node_id`` of prompt ``prompt_id`` saved, stacked, read back through /history and /view."""
    images = get_json(f"{server.url}/history/{prompt_id}")[prompt_id]["outputs"][node_id]["images"]
    return np.stack([view_pixels(server, image) for image in images])
