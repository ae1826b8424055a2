"""Measure the digits models: does the diffusion model draw the digit it is asked for, and how close are each
model's digits to the held-out real ones (digits-FID, on the classifier's features)?"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.gan import GANGenerator, load_gan
from engine.gan.dcgan import DCGANGenerator
from engine.metrics.digits import DigitsFeatures, load_digits_classifier
from engine.metrics.scores import frechet_distance, mean_and_covariance
from engine.metrics.stats import load_stats
from engine.sampling.ksampler import sample
from engine.sampling.noise import prepare_noise
from engine.sd.checkpoint import read_checkpoint

PROMPT = "a handwritten digit {d}"


def generate_digits(loaded: tuple, digit: int, count: int, seed: int, steps: int = 20,
                    cfg: float = 5.0) -> torch.Tensor:
    """IMAGE [count, 32, 32, 3] for one prompted digit, through the same engine calls as the KSampler node.
    ``loaded`` is what ``read_checkpoint`` returns."""
    model, clip, vae = loaded
    cond, pooled = clip.encode_text(PROMPT.format(d=digit))
    uncond, _ = clip.encode_text("")
    latent = torch.zeros(count, 4, 4, 4)
    noise = prepare_noise(latent, seed)
    samples = sample(model, noise, [[cond, {"pooled_output": pooled}]], [[uncond, {}]], cfg, "euler", "normal",
                     steps, latent, seed=seed)
    return vae.decode(samples)


def digits_fid(features: DigitsFeatures, images: torch.Tensor, reference: tuple[np.ndarray, np.ndarray]) -> float:
    generated = features.features(images).double().numpy()
    return frechet_distance(*mean_and_covariance(generated), *reference)


def evaluate_models(models: Path, per_digit: int = 30) -> dict[str, float]:
    features = DigitsFeatures(load_digits_classifier(models / "fid" / "atelier-digits-classifier.safetensors"))
    reference = load_stats(models / "fid" / "atelier-digits-heldout.npz")
    loaded = read_checkpoint(models / "checkpoints" / "atelier-digits.safetensors")
    images, correct = [], 0
    for digit in range(10):
        batch = generate_digits(loaded, digit, per_digit, seed=digit)
        correct += int((features.classify(batch) == digit).sum())
        images.append(batch)
    generated = torch.cat(images)
    gan = load_gan(models / "gan" / "atelier-digits-dcgan.safetensors")
    gan_images = gan.generate(list(range(10 * per_digit)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        untrained = GANGenerator("dcgan", DCGANGenerator(gan.z_dim, [128, 64, 32, 1]))
    return {
        "prompted_digit_recognised": correct / (10 * per_digit),
        "diffusion_digits_fid": digits_fid(features, generated, reference),
        "dcgan_digits_fid": digits_fid(features, gan_images, reference),
        "untrained_dcgan_digits_fid": digits_fid(features, untrained.generate(list(range(10 * per_digit))),
                                                 reference),
        "images_per_model": 10 * per_digit,
    }
