"""Metrics throughput and memory. Prints figures; not a test.

    .venv/bin/python bench/bench_metrics.py [--images 64] [--stream 10000]

1. Images per second through our FID Inception against pytorch-fid's on the same images, in the same run, both
   with the weights in models/fid when they are there, else the same random weights (speed does not depend on
   them; pytorch-fid reads them from a file either way, never from the internet).
2. Peak RSS while streaming generated images through feature extraction and running statistics: memory must
   stay flat however many images pass (the digits classifier keeps this quick on a CPU; the Inception network
   streams the same way, only slower).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.metrics.digits import DigitsClassifier, DigitsFeatures  # noqa: E402
from engine.metrics.evaluate import stream_features  # noqa: E402
from engine.metrics.features import InceptionFeatures  # noqa: E402
from engine.metrics.inception import WEIGHTS_FILE, FIDInceptionV3, load_fid_inception  # noqa: E402
from tests.pytorch_fid_reference import pytorch_fid_inception  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fid_weights(scratch: Path) -> Path:
    """models/fid's FID Inception weights if the user put them there, else random ones saved to ``scratch``."""
    installed = ROOT / "models" / "fid" / WEIGHTS_FILE
    if installed.is_file():
        return installed
    torch.save(FIDInceptionV3().state_dict(), scratch / WEIGHTS_FILE)
    return scratch / WEIGHTS_FILE


def throughput(count: int) -> None:
    images = torch.rand(count, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    scratch = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    weights = fid_weights(scratch)
    print(f"weights: {weights if weights.parent != scratch else 'random (models/fid has none)'}")
    ours = load_fid_inception(weights.parent)
    extractor = InceptionFeatures(ours, batch_size=32)
    extractor.features(images[:4])  # warm-up
    started = time.perf_counter()
    extractor.features(images)
    ours_rate = count / (time.perf_counter() - started)
    print(f"our FID Inception:     {ours_rate:6.1f} images/s ({count} images, 64x64 -> 299x299, batch 32)")
    try:
        reference = pytorch_fid_inception(weights)
    except ImportError:
        print("pytorch-fid is not installed: no comparison")
        return
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with torch.no_grad():
        reference(images[:4].movedim(-1, 1))
        started = time.perf_counter()
        for start in range(0, count, 32):
            reference(images[start:start + 32].movedim(-1, 1))
    theirs = count / (time.perf_counter() - started)
    print(f"pytorch-fid Inception: {theirs:6.1f} images/s  -> ratio ours/theirs {ours_rate / theirs:.2f}")


def streaming(count: int) -> None:
    extractor = DigitsFeatures(DigitsClassifier().eval())
    generator = torch.Generator().manual_seed(1)
    batches = (torch.rand(100, 32, 32, 3, generator=generator) for _ in range(count // 100))
    before = peak_rss_mib()
    started = time.perf_counter()
    stats, kept, _ = stream_features(extractor, batches, want_logits=True)
    print(f"streamed {stats.count} images in {time.perf_counter() - started:.1f} s; peak RSS {before:.0f} MiB before, "
          f"{peak_rss_mib():.0f} MiB after ({kept.shape[0]} feature rows kept for KID/precision-recall)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--stream", type=int, default=10000)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    streaming(args.stream)  # first, so the Inception run's memory does not hide the streaming peak
    throughput(args.images)


if __name__ == "__main__":
    main()
