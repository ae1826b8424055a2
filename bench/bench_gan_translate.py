"""CycleGAN and pix2pix generators on this CPU: images per second at 256x256 for resnet_9blocks (CycleGAN,
instance norm) and unet_256 (pix2pix, batch norm, dropout) with ngf=64 and random weights, through
``ImageTranslator.translate`` as the GANImageToImage node runs it (pre- and post-processing included), in eval mode
with batches of 8 and in train mode (the reference test.py's way: one image at a time); and the parity with the
reference networks (the tests' transcription of networks.py, identical random weights): the largest difference of
the outputs in -1..1. Each line ends with the load average; run it when ``uptime`` shows little load.

    .venv/bin/python bench/bench_gan_translate.py
    .venv/bin/python bench/bench_gan_translate.py --images 16 --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_summary  # noqa: E402
from engine.gan.translate import ImageTranslator, translator_from_state_dict  # noqa: E402
from tests.engine.test_gan_cyclegan import define_g, randomized  # noqa: E402

GENERATORS = (("resnet_9blocks", "instance", False), ("unet_256", "batch", True))


def load() -> str:
    return "load " + " ".join(f"{value:.1f}" for value in os.getloadavg())


def images_per_second(translator: ImageTranslator, count: int, mode: str) -> float:
    images = torch.rand(count, 256, 256, 3, generator=torch.Generator().manual_seed(0))
    translator.translate(images[:1], 256, mode)  # warm-up
    start = time.perf_counter()
    translator.translate(images, 256, mode)
    return count / (time.perf_counter() - start)


def parity(reference: torch.nn.Module, translator: ImageTranslator) -> tuple[float, float]:
    """Largest |ours - reference| in eval mode, and in train mode with the same dropout seed."""
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        eval_gap = (translator.run(x, "eval", 0) - reference.eval()(x)).abs().max().item()
        reference.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(3)
            expected = reference(x)
        train_gap = (translator.run(x, "train", 3) - expected).abs().max().item()
    return eval_gap, train_gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{cpu_summary()}; torch threads {torch.get_num_threads()}")
    for net_g, norm, dropout in GENERATORS:
        reference = randomized(define_g(net_g, norm, dropout), 0)
        translator = translator_from_state_dict(dict(reference.state_dict()), {"use_dropout": dropout}, net_g)
        eval_rate = images_per_second(translator, args.images, "eval")
        train_rate = images_per_second(translator, args.images, "train")
        eval_gap, train_gap = parity(reference, translator)
        print(f"{net_g} ({norm} norm{', dropout' if dropout else ''}, "
              f"{sum(p.numel() for p in translator.network.parameters()):,} parameters): 256x256 "
              f"{eval_rate:.2f} images/s eval, {train_rate:.2f} images/s train; max |ours - reference| "
              f"{eval_gap:.1e} eval, {train_gap:.1e} train; {load()}")


if __name__ == "__main__":
    main()
