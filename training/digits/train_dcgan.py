"""Train a tiny DCGAN on the digits (generator in pytorch/examples' layout, loadable by Load GAN)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.gan import GANGenerator, save_gan
from engine.gan.dcgan import DCGANGenerator
from training.digits.data import Digits

NZ = 32
WIDTHS = [128, 64, 32, 1]  # 4 -> 8 -> 16 -> 32 pixels, one channel


def discriminator() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 4, 1, 0), nn.Flatten())


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def train_dcgan(train: Digits, out: Path, epochs: int = 120, seed: int = 0) -> None:
    torch.manual_seed(seed)
    generator, critic = DCGANGenerator(NZ, WIDTHS), discriminator()
    generator.apply(_init)
    critic.apply(_init)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_all = train.images * 2 - 1
    for _ in range(epochs):
        order = torch.randperm(len(real_all))
        for start in range(0, len(order), 64):
            real = real_all[order[start:start + 64]]
            fake = generator(torch.randn(len(real), NZ))
            loss_d = (F.binary_cross_entropy_with_logits(critic(real), torch.full((len(real), 1), 0.9))
                      + F.binary_cross_entropy_with_logits(critic(fake.detach()), torch.zeros(len(real), 1)))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(critic(fake), torch.ones(len(real), 1))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
    save_gan(GANGenerator("dcgan", generator.eval()), out)
