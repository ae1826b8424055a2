"""Scoring images: real-image folders, FID/KID/IS/precision-recall evaluation, and model comparison."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine import image_ops
from engine.metrics.clip_score import load_clip_scorer
from engine.metrics.evaluate import METRIC_SETS, Reference, evaluate
from engine.metrics.features import RESIZE_MODES
from engine.metrics.networks import FEATURE_NETWORKS, feature_network
from engine.metrics.report import MetricsReport, render_comparison, to_csv, to_json
from engine.metrics.scores import mean_and_covariance
from engine.metrics.stats import load_stats, save_stats
from engine.model_cache import MODEL_CACHE
from nodes.api import Combo, Float, Int, Node, NodeResult, Output, Socket, String, progress
from nodes.builtin.image import next_counter
from nodes.folders import IMAGE_EXTENSIONS, folders, safe_join

NO_STATS = "none"
BATCH = 50


def input_subfolders() -> list[str]:
    root = folders().input_dir
    if not root.is_dir():
        return ["."]
    return ["."] + sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


def stats_files() -> list[str]:
    return [NO_STATS] + folders().list_models("fid", (".npz",))


def folder_images(folder: str) -> list[Path]:
    base = safe_join(folders().input_dir, folder)
    return sorted(p for p in base.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS) if base.is_dir() else []


class LoadImageFolder(Node):
    """Loads the images of a folder in the input directory as one batch, resized to a square."""

    display_name = "Load Image Folder"
    category = "image"
    inputs = [Combo("folder", input_subfolders), Int("count", 0, min=0, max=100000, tooltip="0 loads all."),
              Int("size", 64, min=8, max=1024, step=8), Int("offset", 0, min=0, max=1000000)]
    outputs = [Output("IMAGE"), Output("INT", "count")]

    def execute(self, folder: str, count: int, size: int, offset: int = 0) -> tuple:
        files = folder_images(folder)[offset:]
        files = files[:count] if count else files
        if not files:
            raise FileNotFoundError(f"no images in input folder {folder!r} (offset {offset})")
        images = []
        for index, path in enumerate(files):
            with Image.open(path) as image:
                images.append(image_ops.from_pil(image.convert("RGB").resize((size, size), Image.BICUBIC)))
            if index % 50 == 0:
                progress(index + 1, len(files))
        return (torch.cat(images), len(images))

    @classmethod
    def fingerprint(cls, folder: str | None = None, **_: Any) -> str:
        digest = hashlib.sha256()
        for path in folder_images(folder or "."):
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()


def batches(images: torch.Tensor, size: int = BATCH) -> Iterator[torch.Tensor]:
    for start in range(0, len(images), size):
        yield images[start:start + size]


def _reference(extractor: Any, images: torch.Tensor | None, stats: str | None) -> Reference | None:
    if images is not None:
        features = np.concatenate([extractor.features(b).double().numpy() for b in batches(images)])
        return Reference(f"{len(features)} reference images", features=features)
    if stats and stats != NO_STATS:
        mu, sigma = load_stats(folders().model_path("fid", stats))
        return Reference(stats, mu=mu, sigma=sigma)
    return None


class MetricsEvaluator(Node):
    """Scores generated images against real ones (or a statistics file): FID, KID, IS, precision/recall."""

    display_name = "Metrics Evaluator (FID, KID, IS)"
    category = "metrics"
    inputs = [Socket("images", "IMAGE", tooltip="The generated images to score."),
              String("label", "model", tooltip="The name this model gets in comparisons."),
              Combo("metrics", list(METRIC_SETS), default="all"),
              Combo("feature_net", FEATURE_NETWORKS),
              Combo("resize_mode", list(RESIZE_MODES), tooltip="How images are resized for the feature net; "
                    "this moves FID by points, so compare numbers made the same way."),
              Socket("reference_images", "IMAGE", optional=True, tooltip="Real images to compare with."),
              Combo("reference_stats", stats_files, optional=True,
                    tooltip="Or mu/sigma of real images in models/fid (.npz, pytorch-fid's format)."),
              Int("kid_subset_size", 1000, min=2, max=100000, optional=True)]
    outputs = [Output("METRICS")]

    def execute(self, images: torch.Tensor, label: str, metrics: str, feature_net: str, resize_mode: str,
                reference_images: torch.Tensor | None = None, reference_stats: str = NO_STATS,
                kid_subset_size: int = 1000) -> NodeResult:
        extractor = feature_network(feature_net, folders().model_dirs("fid")[0], resize_mode)
        reference = _reference(extractor, reference_images, reference_stats)
        total = len(images)
        report = evaluate(extractor, batches(images), reference, metrics, label, resize_mode,
                          progress=lambda done: progress(done, total), kid_subset_size=kid_subset_size)
        return NodeResult((report,), {"text": [report.summary()]})


def clip_models() -> list[str]:
    """Folders in models/fid holding a Hugging Face CLIP model (config.json beside model.safetensors)."""
    configs = [name for name in folders().list_models("fid", ("config.json",)) if name.endswith("/config.json")]
    return [name for name in (config.rsplit("/", 1)[0] for config in configs) if _clip_folder(name)]


def _clip_folder(name: str) -> Path | None:
    for base in folders().model_dirs("fid"):
        path = safe_join(base, name)
        if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
            return path
    return None


class CLIPScore(Node):
    """How well images match their prompt (CLIP score, 0-100, higher is better), added to METRICS."""

    display_name = "CLIP Score"
    category = "metrics"
    inputs = [Socket("images", "IMAGE"),
              Combo("clip_model", clip_models, tooltip="A Hugging Face CLIP folder in models/fid "
                    "(config.json + model.safetensors), e.g. openai/clip-vit-base-patch32."),
              String("prompt", "", multiline=True, tooltip="The prompt the images were made from; one line per "
                     "image to give each its own."),
              String("label", "model", tooltip="The name this model gets in comparisons."),
              Socket("metrics", "METRICS", optional=True,
                     tooltip="Add the score to these metrics of the same model (their label is kept).")]
    outputs = [Output("METRICS")]

    def execute(self, images: torch.Tensor, clip_model: str, prompt: str, label: str,
                metrics: MetricsReport | None = None) -> NodeResult:
        folder = _clip_folder(clip_model)
        if folder is None:
            raise FileNotFoundError(f"no CLIP model folder {clip_model!r} (config.json + model.safetensors) in "
                                    "models/fid")
        prompts = [line for line in prompt.splitlines() if line.strip()] or [""]
        scorer = MODEL_CACHE.get_or_load(folder / "model.safetensors", "clip-score",
                                         lambda weights: load_clip_scorer(weights.parent))
        scores = scorer.scores(images, prompts)
        report = replace(metrics) if metrics is not None else MetricsReport(label, len(images), "")
        report.clip_score, report.clip_model = float(scores.mean()), clip_model
        return NodeResult((report,), {"text": [report.summary()]})


class GANMetricsEvaluator(Node):
    """Generates and scores many GAN images in batches (10k-50k), at constant memory. Each batch's features
    are kept under user/metrics, so an interrupted evaluation resumes where it stopped."""

    display_name = "GAN Metrics Evaluator (streaming)"
    category = "metrics"
    inputs = [Socket("gan", "GAN"), Int("num_images", 10000, min=2, max=1000000), Int("seed", 0, min=0,
              max=0xFFFFFFFF), Float("truncation", 1.0, min=0.0, max=2.0, step=0.01),
              String("label", "GAN"), Combo("metrics", list(METRIC_SETS), default="all"),
              Combo("feature_net", FEATURE_NETWORKS), Combo("resize_mode", list(RESIZE_MODES)),
              Socket("reference_images", "IMAGE", optional=True),
              Combo("reference_stats", stats_files, optional=True)]
    outputs = [Output("METRICS")]

    def execute(self, gan: Any, num_images: int, seed: int, truncation: float, label: str, metrics: str,
                feature_net: str, resize_mode: str, reference_images: torch.Tensor | None = None,
                reference_stats: str = NO_STATS) -> NodeResult:
        extractor = feature_network(feature_net, folders().model_dirs("fid")[0], resize_mode)
        reference = _reference(extractor, reference_images, reference_stats)
        key = hashlib.sha256(f"{gan.name}|{gan.memory_bytes()}|{seed}|{truncation}|{extractor.name}|"
                             f"{metrics}".encode()).hexdigest()[:20]
        work_dir = folders().user_dir / "metrics" / key
        work_dir.mkdir(parents=True, exist_ok=True)
        label_id = 0 if gan.num_classes else None

        def batch(start: int):
            seeds = list(range(seed + start, seed + min(num_images, start + BATCH)))
            return lambda: gan.generate(seeds, truncation, label_id)

        report = evaluate(extractor, (batch(s) for s in range(0, num_images, BATCH)), reference, metrics, label,
                          resize_mode, work_dir=work_dir, progress=lambda done: progress(done, num_images))
        return NodeResult((report,), {"text": [report.summary()]})


class SaveReferenceStats(Node):
    """Computes mu/sigma of real images once and saves them in models/fid (pytorch-fid's .npz format)."""

    display_name = "Save Reference Statistics"
    category = "metrics"
    output_node = True
    inputs = [Socket("images", "IMAGE"), String("name", "reference"), Combo("feature_net", FEATURE_NETWORKS),
              Combo("resize_mode", list(RESIZE_MODES))]
    outputs = []

    def execute(self, images: torch.Tensor, name: str, feature_net: str, resize_mode: str) -> NodeResult:
        extractor = feature_network(feature_net, folders().model_dirs("fid")[0], resize_mode)
        features = np.concatenate([extractor.features(b).double().numpy() for b in batches(images)])
        target = safe_join(folders().model_dirs("fid")[0], f"{name}.npz")
        save_stats(target, *mean_and_covariance(features))
        return NodeResult((), {"text": [f"saved statistics of {len(features)} images to models/fid/{target.name}"]})


class CompareModels(Node):
    """A table and bar chart of several models' metrics; CSV and JSON go to the output folder."""

    display_name = "Compare Models"
    category = "metrics"
    output_node = True
    inputs = [Socket("metrics_1", "METRICS"), Socket("metrics_2", "METRICS", optional=True),
              Socket("metrics_3", "METRICS", optional=True), Socket("metrics_4", "METRICS", optional=True),
              Socket("metrics_5", "METRICS", optional=True), Socket("metrics_6", "METRICS", optional=True),
              String("title", "Which model generates best?"), String("filename_prefix", "compare_models")]
    outputs = [Output("IMAGE")]

    def execute(self, metrics_1: MetricsReport, title: str, filename_prefix: str = "compare_models",
                **more: MetricsReport | None) -> NodeResult:
        reports = [metrics_1] + [more[f"metrics_{i}"] for i in range(2, 7) if more.get(f"metrics_{i}") is not None]
        chart = render_comparison(reports, title)
        output = folders().output_dir
        target = safe_join(output, filename_prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        number = next_counter(target.parent, target.name)
        stem = f"{target.name}_{number:05}_"
        (target.parent / f"{stem}.csv").write_text(to_csv(reports))
        (target.parent / f"{stem}.json").write_text(to_json(reports))
        image = torch.from_numpy(chart.astype(np.float32) / 255.0)[None]
        lines = [report.summary() for report in reports] + [f"wrote {stem}.csv and {stem}.json"]
        return NodeResult((image,), {"text": lines})


NODES = [LoadImageFolder, MetricsEvaluator, CLIPScore, GANMetricsEvaluator, SaveReferenceStats, CompareModels]
