"""GAN and metrics nodes through the executor: generation, latent walks, and a streaming evaluation that
resumes after an interrupt."""

from __future__ import annotations

import pytest
import torch

from engine.gan import GANGenerator, save_gan
from engine.gan.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from engine.metrics.inception import WEIGHTS_FILE
from execution.cache import OutputCache
from execution.context import InterruptFlag
from execution.executor import Executor
from execution.validation import validate_prompt
from nodes.builtin import builtin_definitions
from nodes.folders import Folders, set_folders
from nodes.registry import Registry
from tests.engine.test_metrics import random_inception


@pytest.fixture
def setup(tmp_path):
    folders = Folders.under(tmp_path)
    folders.create()
    set_folders(folders)
    torch.manual_seed(0)
    config = StyleGAN2Config(z_dim=8, w_dim=8, img_resolution=16, mapping_layers=2, channels=(16, 16, 16))
    save_gan(GANGenerator("stylegan2", StyleGAN2Generator(config)), folders.models_dir / "gan" / "tiny.safetensors")
    torch.save(random_inception().state_dict(), folders.models_dir / "fid" / WEIGHTS_FILE)
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    yield folders, registry


def run(registry, prompt, emit=lambda event, data: None, executor=None):
    executor = executor or Executor(registry, OutputCache(), emit, InterruptFlag())
    result = validate_prompt(registry, prompt)
    assert result.ok, result.node_errors
    return executor.execute("p", result.prompt, result.good_outputs), executor


def test_generator_and_latent_walk(setup):
    _, registry = setup
    prompt = {"1": {"class_type": "GANLoader", "inputs": {"gan_name": "tiny.safetensors"}},
              "2": {"class_type": "GANGenerator", "inputs": {"gan": ["1", 0], "seed": 3, "batch_size": 70,
                                                              "truncation": 0.5, "class_label": 0,
                                                              "noise_mode": "const"}},
              "3": {"class_type": "GANLatentWalk", "inputs": {"gan": ["1", 0], "seed_a": 1, "seed_b": 2,
                                                               "frames": 5, "space": "w", "truncation": 1.0,
                                                               "class_label": 0}},
              "4": {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["3", 0]}},
              "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}}}
    outcome, executor = run(registry, prompt)
    assert outcome.status == "success"
    assert len(outcome.ui_outputs["5"]["images"]) == 75


def test_streaming_gan_evaluation_resumes_after_an_interrupt(setup):
    folders, registry = setup
    prompt = {"1": {"class_type": "GANLoader", "inputs": {"gan_name": "tiny.safetensors"}},
              "2": {"class_type": "GANMetricsEvaluator", "inputs": {
                  "gan": ["1", 0], "num_images": 150, "seed": 0, "truncation": 1.0, "label": "tiny",
                  "metrics": "all", "feature_net": "inception-v3 (FID standard)", "resize_mode": "pytorch-fid"}},
              "3": {"class_type": "CompareModels", "inputs": {"metrics_1": ["2", 0], "title": "t",
                                                              "filename_prefix": "c"}}}
    interrupt = InterruptFlag()
    seen = []

    def stop_after_first_batch(event, data):
        if event == "progress" and data["node"] == "2":
            seen.append(data["value"])
            if data["value"] >= 50:
                interrupt.set()

    executor = Executor(registry, OutputCache(), stop_after_first_batch, interrupt)
    outcome, _ = run(registry, prompt, executor=executor)
    assert outcome.status == "interrupted"
    stored = sorted((folders.user_dir / "metrics").rglob("batch_*.npz"))
    assert 1 <= len(stored) < 3  # the batches done before the interrupt are kept
    stamps = {path: path.stat().st_mtime_ns for path in stored}

    progress = []
    resumed, _ = run(registry, prompt, lambda event, data: progress.append(data) if event == "progress" else None)
    assert resumed.status == "success"
    assert len(sorted((folders.user_dir / "metrics").rglob("batch_*.npz"))) == 3
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())  # reused, not recomputed
    assert resumed.ui_outputs["2"]["text"][0].startswith("tiny: IS")  # no reference given: only IS


def test_clip_score_joins_the_metrics_of_the_same_model_in_the_comparison(setup):
    from tests.engine.test_clip_score import tiny_clip

    folders, registry = setup
    tiny_clip().save_pretrained(folders.models_dir / "fid" / "clip-tiny")
    assert registry.get("CLIPScore").object_info()["input"]["required"]["clip_model"][0] == ["clip-tiny"]
    prompt = {
        "1": {"class_type": "GANLoader", "inputs": {"gan_name": "tiny.safetensors"}},
        "2": {"class_type": "GANGenerator", "inputs": {"gan": ["1", 0], "seed": 0, "batch_size": 4, "truncation": 1.0,
                                                       "class_label": 0, "noise_mode": "const"}},
        "3": {"class_type": "MetricsEvaluator", "inputs": {"images": ["2", 0], "label": "tiny GAN", "metrics": "fid",
                                                           "feature_net": "inception-v3 (FID standard)",
                                                           "resize_mode": "pytorch-fid", "reference_images": ["2", 0]}},
        "4": {"class_type": "CLIPScore", "inputs": {"images": ["2", 0], "clip_model": "clip-tiny", "label": "unused",
                                                    "prompt": "a photo of a face", "metrics": ["3", 0]}},
        "5": {"class_type": "CompareModels", "inputs": {"metrics_1": ["4", 0], "title": "t", "filename_prefix": "c"}},
    }
    outcome, _ = run(registry, prompt)
    assert outcome.status == "success", outcome.messages
    text = outcome.ui_outputs["5"]["text"][0]
    assert text.startswith("tiny GAN: FID ") and "CLIP score " in text, text
    saved = next((folders.output_dir).glob("c_*_.json")).read_text()
    assert '"clip_model": "clip-tiny"' in saved and '"clip_score": ' in saved and '"fid": ' in saved
