"""GAN and metrics nodes through the executor: generation, latent walks, and a streaming evaluation that
resumes after an interrupt."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from core.context import InterruptFlag
from core.folders import Folders
from engine.gan import GANGenerator, save_gan
from engine.gan.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from engine.metrics.inception import WEIGHTS_FILE
from nodes.builtin import gan, image, metrics
from tests.engine.test_metrics import random_inception
from tests.harness import Harness
from tests.nodes.graphs import harness_for


@pytest.fixture
def harness(tmp_path) -> Harness:
    folders = Folders.under(tmp_path)
    folders.create()
    torch.manual_seed(0)
    config = StyleGAN2Config(z_dim=8, w_dim=8, img_resolution=16, mapping_layers=2, channels=(16, 16, 16))
    save_gan(GANGenerator("stylegan2", StyleGAN2Generator(config)), folders.models_dir / "gan" / "tiny.safetensors")
    torch.save(random_inception().state_dict(), folders.models_dir / "fid" / WEIGHTS_FILE)
    return harness_for(folders, gan, metrics, image)


def test_generator_and_latent_walk(harness):
    prompt = {"1": {"class_type": "GANLoader", "inputs": {"gan_name": "tiny.safetensors"}},
              "2": {"class_type": "GANGenerator", "inputs": {"gan": ["1", 0], "seed": 3, "batch_size": 70,
                                                              "truncation": 0.5, "class_label": 0,
                                                              "noise_mode": "const"}},
              "3": {"class_type": "GANLatentWalk", "inputs": {"gan": ["1", 0], "seed_a": 1, "seed_b": 2,
                                                               "frames": 5, "space": "w", "truncation": 1.0,
                                                               "class_label": 0}},
              "4": {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["3", 0]}},
              "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}}}
    outcome = harness.run(prompt)
    assert outcome.status == "success"
    assert len(outcome.ui_outputs["5"]["images"]) == 75


class InterruptAfter:
    """Interrupts the prompt once ``node`` reports progress of ``value`` or more."""

    def __init__(self, interrupt: InterruptFlag, node: str, value: int) -> None:
        self.interrupt, self.node, self.value = interrupt, node, value

    def on_event(self, event: str, data: dict[str, Any], client_id: str | None) -> None:
        if event == "progress" and data["node"] == self.node and data["value"] >= self.value:
            self.interrupt.set()

    def on_preview(self, image: Any, client_id: str | None, prompt_id: str, node_id: str) -> None:
        pass


def test_streaming_gan_evaluation_resumes_after_an_interrupt(harness):
    folders = harness.folders
    prompt = {"1": {"class_type": "GANLoader", "inputs": {"gan_name": "tiny.safetensors"}},
              "2": {"class_type": "GANMetricsEvaluator", "inputs": {
                  "gan": ["1", 0], "num_images": 150, "seed": 0, "truncation": 1.0, "label": "tiny",
                  "metrics": "all", "feature_net": "inception-v3 (FID standard)", "resize_mode": "pytorch-fid"}},
              "3": {"class_type": "CompareModels", "inputs": {"metrics_1": ["2", 0], "title": "t",
                                                              "filename_prefix": "c"}}}
    harness.listeners.append(InterruptAfter(harness.interrupt, "2", 50))  # after the first batch of 50
    outcome = harness.run(prompt)
    assert outcome.status == "interrupted"
    stored = sorted((folders.user_dir / "metrics").rglob("batch_*.npz"))
    assert 1 <= len(stored) < 3  # the batches done before the interrupt are kept
    stamps = {path: path.stat().st_mtime_ns for path in stored}

    harness.listeners.clear()
    resumed = harness.run(prompt)
    assert resumed.status == "success"
    assert len(sorted((folders.user_dir / "metrics").rglob("batch_*.npz"))) == 3
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())  # reused, not recomputed
    assert resumed.ui_outputs["2"]["text"][0].startswith("tiny: IS")  # no reference given: only IS


def test_clip_score_joins_the_metrics_of_the_same_model_in_the_comparison(harness):
    from tests.engine.test_clip_score import tiny_clip

    folders = harness.folders
    tiny_clip().save_pretrained(folders.models_dir / "fid" / "clip-tiny")
    clip_model = harness.registry.get("CLIPScore").object_info(folders)["input"]["required"]["clip_model"]
    assert clip_model[0] == ["clip-tiny"]
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
    outcome = harness.run(prompt)
    assert outcome.status == "success", outcome.messages
    text = outcome.ui_outputs["5"]["text"][0]
    assert text.startswith("tiny GAN: FID ") and "CLIP score " in text, text
    saved = next((folders.output_dir).glob("c_*_.json")).read_text()
    assert '"clip_model": "clip-tiny"' in saved and '"clip_score": ' in saved and '"fid": ' in saved
