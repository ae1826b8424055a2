"""Scoring images: real-image folders, FID/KID/IS/precision-recall evaluation, and model comparison."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.folders import IMAGE_EXTENSIONS, safe_join
from engine.metrics.names import FEATURE_NETWORKS, METRIC_SETS, RESIZE_MODES
from nodes.api import Combo, ExecutionContext, Float, Folders, Int, Node, NodeResult, Output, Socket, String

if TYPE_CHECKING:
    import torch

    from engine.gan.generator import GANGenerator
    from engine.metrics.clip_score import ClipScorer
    from engine.metrics.evaluate import Reference
    from engine.metrics.features import FeatureExtractor
    from engine.metrics.report import MetricsReport

NO_STATS = "none"
PUBLISHED_EXAMPLE = "label,fid,clip_score,protocol\nSD 1.5 (paper),9.62,,COCO-30k val2014 256px pytorch-fid"


def input_subfolders(folders: Folders) -> list[str]:
    root = folders.input_dir
    if not root.is_dir():
        return ["."]
    return ["."] + sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


def stats_files(folders: Folders) -> list[str]:
    return [NO_STATS] + folders.list_models("fid", (".npz",))


def folder_images(folders: Folders, folder: str) -> list[Path]:
    base = safe_join(folders.input_dir, folder)
    return sorted(p for p in base.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS) if base.is_dir() else []


class LoadImageFolder(Node):
    """Loads the images of a folder in the input directory as one batch, resized to a square."""

    display_name = "Load Image Folder"
    category = "image"
    inputs = [Combo("folder", input_subfolders), Int("count", 0, min=0, max=100000, tooltip="0 loads all."),
              Int("size", 64, min=8, max=1024, step=8), Int("offset", 0, min=0, max=1000000)]
    outputs = [Output("IMAGE"), Output("INT", "count")]

    def execute(self, folder: str, count: int, size: int, offset: int = 0, *, context: ExecutionContext) -> tuple:
        from engine.metrics.image_folder import load_square_images

        files = folder_images(context.folders, folder)[offset:]
        files = files[:count] if count else files
        if not files:
            raise FileNotFoundError(f"no images in input folder {folder!r} (offset {offset})")
        return (load_square_images(files, size, context.progress), len(files))

    @classmethod
    def fingerprint(cls, folders: Folders, folder: str | None = None, **_: Any) -> str:
        digest = hashlib.sha256()
        for path in folder_images(folders, folder or "."):
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return digest.hexdigest()


def fid_folder(folders: Folders) -> Path:
    """Where feature-network weights and reference statistics live (models/fid)."""
    return folders.model_dirs("fid")[0]


def feature_extractor(feature_net: str, resize_mode: str, context: ExecutionContext) -> FeatureExtractor:
    from engine.metrics.networks import feature_network

    return feature_network(feature_net, fid_folder(context.folders), resize_mode, context.models)


def load_reference(extractor: FeatureExtractor, images: torch.Tensor | None, stats: str | None,
              folders: Folders) -> Reference | None:
    """Real images win over a statistics file; with neither, only scores that need no reference are made."""
    from engine.metrics.evaluate import Reference

    if images is not None:
        return Reference.of_images(extractor, images)
    if stats and stats != NO_STATS:
        return Reference.of_stats_file(folders.model_path("fid", stats), stats)
    return None


def shown(report: MetricsReport) -> NodeResult:
    return NodeResult((report,), {"text": [report.summary()]})


def scoring_inputs(default_metrics: str) -> list:
    """The inputs every evaluator declares after its images: label, metrics, feature net and resize, reference."""
    return [String("label", "model", tooltip="The name this model gets in comparisons."),
            Combo("metrics", list(METRIC_SETS), default=default_metrics),
            Combo("feature_net", FEATURE_NETWORKS),
            Combo("resize_mode", RESIZE_MODES, tooltip="How images are resized for the feature net; "
                  "this moves FID by points, so compare numbers made the same way."),
            Socket("reference_images", "IMAGE", optional=True, tooltip="Real images to compare with."),
            Combo("reference_stats", stats_files, optional=True,
                  tooltip="Or mu/sigma of real images in models/fid (.npz, pytorch-fid's format).")]


class MetricsEvaluator(Node):
    """Scores generated images against real ones (or a statistics file): FID, KID, IS, precision/recall."""

    display_name = "Metrics Evaluator (FID, KID, IS)"
    category = "metrics"
    inputs = [Socket("images", "IMAGE", tooltip="The generated images to score."), *scoring_inputs("all"),
              Int("kid_subset_size", 1000, min=2, max=100000, optional=True)]
    outputs = [Output("METRICS")]

    def execute(self, images: torch.Tensor, label: str, metrics: str, feature_net: str, resize_mode: str,
                reference_images: torch.Tensor | None = None, reference_stats: str = NO_STATS,
                kid_subset_size: int = 1000, *, context: ExecutionContext) -> NodeResult:
        from engine.metrics.evaluate import evaluate, in_batches
        from engine.metrics.report import resolution_of

        extractor = feature_extractor(feature_net, resize_mode, context)
        real = load_reference(extractor, reference_images, reference_stats, context.folders)
        total = len(images)
        report = evaluate(extractor, in_batches(images), real, metrics, label, resize_mode,
                          progress=lambda done: context.progress(done, total), kid_subset_size=kid_subset_size,
                          resolution=resolution_of([tuple(images.shape[1:3])]))
        return shown(report)


def clip_models(folders: Folders) -> list[str]:
    """Folders in models/fid holding a Hugging Face CLIP model (config.json beside model.safetensors)."""
    configs = [name for name in folders.list_models("fid", (".json",)) if name.endswith("/config.json")]
    return [name for name in (config.rsplit("/", 1)[0] for config in configs) if clip_folder(folders, name)]


def clip_folder(folders: Folders, name: str) -> Path | None:
    for base in folders.model_dirs("fid"):
        path = safe_join(base, name)
        if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
            return path
    return None


def load_clip_model(context: ExecutionContext, name: str) -> ClipScorer:
    """The CLIP scorer of models/fid/<name>, loaded once through the model cache."""
    from engine.metrics.clip_score import load_clip_scorer

    folder = clip_folder(context.folders, name)
    if folder is None:
        raise FileNotFoundError(f"no CLIP model folder {name!r} (config.json + model.safetensors) in models/fid")
    return context.models.load(folder / "model.safetensors", "clip-score",
                               lambda weights: load_clip_scorer(weights.parent))


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
                metrics: MetricsReport | None = None, *, context: ExecutionContext) -> NodeResult:
        from dataclasses import replace

        from engine.metrics.report import CLIP_SCALING, MetricsReport, resolution_of

        prompts = [line for line in prompt.splitlines() if line.strip()] or [""]
        scores = load_clip_model(context, clip_model).scores(images, prompts)
        report = (replace(metrics) if metrics is not None else
                  MetricsReport(label, len(images), "", resolution=resolution_of([tuple(images.shape[1:3])])))
        report.clip_score, report.clip_model, report.clip_scaling = float(scores.mean()), clip_model, CLIP_SCALING
        return shown(report)


class GANMetricsEvaluator(Node):
    """Generates and scores many GAN images in batches (10k-50k), at constant memory. Each batch's features
    are kept under user/metrics, so an interrupted evaluation resumes where it stopped."""

    display_name = "GAN Metrics Evaluator (streaming)"
    category = "metrics"
    inputs = [Socket("gan", "GAN"), Int("num_images", 10000, min=2, max=1000000), Int("seed", 0, min=0,
              max=0xFFFFFFFF), Float("truncation", 1.0, min=0.0, max=2.0, step=0.01),
              String("label", "GAN"), Combo("metrics", list(METRIC_SETS), default="all"),
              Combo("feature_net", FEATURE_NETWORKS), Combo("resize_mode", RESIZE_MODES),
              Socket("reference_images", "IMAGE", optional=True),
              Combo("reference_stats", stats_files, optional=True)]
    outputs = [Output("METRICS")]

    def execute(self, gan: GANGenerator, num_images: int, seed: int, truncation: float, label: str, metrics: str,
                feature_net: str, resize_mode: str, reference_images: torch.Tensor | None = None,
                reference_stats: str = NO_STATS, *, context: ExecutionContext) -> NodeResult:
        from engine.metrics.gan_evaluation import evaluate_gan

        extractor = feature_extractor(feature_net, resize_mode, context)
        real = load_reference(extractor, reference_images, reference_stats, context.folders)
        report = evaluate_gan(gan, extractor, real, num_images, seed, truncation, metrics, label, resize_mode,
                              work_root=context.folders.user_dir / "metrics",
                              progress=lambda done: context.progress(done, num_images))
        return shown(report)


class SaveReferenceStats(Node):
    """Computes mu/sigma of real images once and saves them in models/fid (pytorch-fid's .npz format)."""

    display_name = "Save Reference Statistics"
    category = "metrics"
    output_node = True
    inputs = [Socket("images", "IMAGE"), String("name", "reference"), Combo("feature_net", FEATURE_NETWORKS),
              Combo("resize_mode", RESIZE_MODES)]
    outputs = []

    def execute(self, images: torch.Tensor, name: str, feature_net: str, resize_mode: str,
                context: ExecutionContext) -> NodeResult:
        from engine.metrics.evaluate import save_reference_stats

        target = safe_join(fid_folder(context.folders), f"{name}.npz")
        count = save_reference_stats(feature_extractor(feature_net, resize_mode, context), images, target)
        return NodeResult((), {"text": [f"saved statistics of {count} images to models/fid/{target.name}"]})


class CompareModels(Node):
    """A table and bar chart of several models' metrics, each with its protocol; CSV and JSON go to the output
    folder. Published figures pasted in ``published`` are shown beside them, in grey and marked "published"."""

    display_name = "Compare Models"
    category = "metrics"
    output_node = True
    inputs = [Socket("metrics_1", "METRICS"), Socket("metrics_2", "METRICS", optional=True),
              Socket("metrics_3", "METRICS", optional=True), Socket("metrics_4", "METRICS", optional=True),
              Socket("metrics_5", "METRICS", optional=True), Socket("metrics_6", "METRICS", optional=True),
              String("title", "Which model generates best?"), String("filename_prefix", "compare_models"),
              String("published", "", multiline=True, optional=True, placeholder=PUBLISHED_EXAMPLE,
                     tooltip="Published figures to show beside the measured ones (never mixed with them): CSV with "
                     "a header, one model per line; columns label, fid, kid, is, precision, recall, clip_score, "
                     "protocol.")]
    outputs = [Output("IMAGE")]

    def execute(self, metrics_1: MetricsReport, title: str, filename_prefix: str = "compare_models",
                metrics_2: MetricsReport | None = None, metrics_3: MetricsReport | None = None,
                metrics_4: MetricsReport | None = None, metrics_5: MetricsReport | None = None,
                metrics_6: MetricsReport | None = None, published: str = "", *,
                context: ExecutionContext) -> NodeResult:
        import torch

        from engine.metrics.report import parse_published, render_comparison

        more = (metrics_2, metrics_3, metrics_4, metrics_5, metrics_6)
        reports = [metrics_1, *(report for report in more if report is not None), *parse_published(published)]
        stem = write_comparison_files(reports, context.folders.output_dir, filename_prefix)
        chart = torch.from_numpy(render_comparison(reports, title).astype("float32") / 255)[None]
        lines = [report.summary() for report in reports] + [f"wrote {stem}.csv and {stem}.json"]
        return NodeResult((chart,), {"text": lines})


def write_comparison_files(reports: list[MetricsReport], output_dir: Path, filename_prefix: str) -> str:
    """Writes ``<prefix>_<NNNNN>_.csv`` and ``.json`` next to each other; returns their shared stem."""
    from engine.metrics.report import to_csv, to_json
    from nodes.builtin.image import next_counter

    target = safe_join(output_dir, filename_prefix)
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = f"{target.name}_{next_counter(target.parent, target.name):05}_"
    (target.parent / f"{stem}.csv").write_text(to_csv(reports))
    (target.parent / f"{stem}.json").write_text(to_json(reports))
    return stem


NODES = [LoadImageFolder, MetricsEvaluator, CLIPScore, GANMetricsEvaluator, SaveReferenceStats, CompareModels]
