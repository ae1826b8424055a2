"""Images per second on this CPU for StyleGAN3 (T and R) and VQGAN reconstruction, at native resolution, on random
weights in the published layouts (speed does not depend on the weights).

    .venv/bin/python bench/bench_gan_models.py               # StyleGAN3 at 256 (the FFHQ-U 256 pickles), VQGAN f16
    .venv/bin/python bench/bench_gan_models.py --resolution 1024 --batch 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import cpu_summary  # noqa: E402
from engine.gan.generator import GANGenerator  # noqa: E402
from engine.gan.stylegan3 import StyleGAN3Generator, published_config  # noqa: E402
from engine.gan.vqgan import IMAGENET_F16_16384, VQGAN  # noqa: E402
from engine.gan.vqgan_files import VQGANModel  # noqa: E402


def images_per_second(run, batch: int, repeats: int) -> float:
    run()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return batch * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256, choices=(256, 512, 1024))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{cpu_summary()}; torch threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.1f}")
    seeds = list(range(args.batch))
    for kind in ("t", "r"):
        gan = GANGenerator("stylegan3", StyleGAN3Generator(published_config(kind, args.resolution)))
        rate = images_per_second(lambda gan=gan: gan.generate(seeds), args.batch, args.repeats)
        print(f"StyleGAN3-{kind.upper()} {args.resolution}x{args.resolution}: {rate:.3f} images/s (batch {args.batch})")
    model = VQGANModel(VQGAN(IMAGENET_F16_16384))
    images = torch.rand(args.batch, 256, 256, 3)
    rate = images_per_second(lambda: model.reconstruct(images), args.batch, args.repeats)
    print(f"VQGAN f16-16384 reconstruct 256x256: {rate:.3f} images/s (batch {args.batch})")


if __name__ == "__main__":
    main()
