"""AttnGAN and StackGAN++ throughput at their native 256², full published sizes (random weights: speed does not
depend on them). Prints figures; not a test.

    .venv/bin/python bench/bench_gan_text.py [--images 16] [--batch 8] [--threads N]

AttnGAN birds: GF_DIM 32, R_NUM 2, DAMSM encoder with the 5,450-word CUB vocabulary (code/cfg/bird_attn2.yml).
StackGAN++ birds: GF_DIM 64, R_NUM 2, 1024-d text embeddings (code/cfg/birds_3stages.yml); the unconditional LSUN
models have the same stages and cost the same.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_summary  # noqa: E402
from engine.gan.attngan import AttnGANGenerator, AttnGANNet  # noqa: E402
from engine.gan.damsm import TextEncoder  # noqa: E402
from engine.gan.generator import GANGenerator  # noqa: E402
from engine.gan.stackgan import StackGANGenerator, StackGANNet  # noqa: E402

CAPTION = "this bird has a red crown, a white belly and black wings"


def attngan_birds() -> GANGenerator:
    words = {f"w{index}": index for index in range(5450)} | {"this": 1, "bird": 2, "has": 3, "a": 4, "red": 5,
                                                             "crown": 6, "white": 7, "belly": 8, "and": 9,
                                                             "black": 10, "wings": 11}
    net = AttnGANNet(ngf=32, z_dim=100, c_dim=100, text_dim=256, stages=3, residuals=2)
    return GANGenerator("attngan", AttnGANGenerator(net, TextEncoder(5450, 300, 128), words), "AttnGAN birds")


def stackgan_birds() -> GANGenerator:
    net = StackGANNet(ngf=64, z_dim=100, stages=3, residuals=[2, 2], text_dim=1024, c_dim=128)
    return GANGenerator("stackgan", StackGANGenerator(net, torch.randn(10, 1024)), "StackGAN++ birds")


def images_per_second(gan: GANGenerator, text: str, images: int, batch: int) -> float:
    gan.generate(list(range(2)), text=text)  # warm-up
    started = time.perf_counter()
    for first in range(0, images, batch):
        gan.generate(list(range(first, min(images, first + batch))), text=text)
    return images / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_summary()}; torch threads {torch.get_num_threads()}")
    for gan, text in ((attngan_birds(), CAPTION), (stackgan_birds(), "0")):
        params = sum(p.numel() for p in gan.network.parameters())
        rate = images_per_second(gan, text, args.images, args.batch)
        print(f"{gan.name}: {rate:.2f} images/s at {gan.resolution}² (float32, batch {args.batch}, "
              f"{params / 1e6:.1f} M parameters)")


if __name__ == "__main__":
    main()
