"""Train Atelier's shipped digits models, seeded and reproducible, and measure them.

    .venv/bin/python -m training.digits.train_all                    (about 30 minutes on a 2-core CPU)
    .venv/bin/python -m training.digits.train_all --only diffusion   (the others are read from models/)

Writes models/checkpoints/atelier-digits.safetensors (SD1.x layout), models/gan/atelier-digits-dcgan.safetensors,
models/fid/atelier-digits-classifier.safetensors, the held-out digits' statistics
models/fid/atelier-digits-heldout.npz, the held-out images examples/input/digits_heldout/, and
training/digits/results.json with the measured quality.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.metrics.digits import DigitsFeatures, load_digits_classifier
from engine.metrics.scores import frechet_distance, mean_and_covariance
from engine.metrics.stats import save_stats
from training.digits.data import Digits, load_split, to_image
from training.digits.evaluate import evaluate_models
from training.digits.train_classifier import classifier_accuracy, train_classifier
from training.digits.train_dcgan import train_dcgan
from training.digits.train_diffusion import train_diffusion

ROOT = Path(__file__).resolve().parents[2]


def write_held_out(held_out: Digits, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, (image, label) in enumerate(zip(held_out.images, held_out.labels, strict=True)):
        pixels = (image[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels, mode="L").convert("RGB").save(folder / f"{index:03d}_digit{int(label)}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unet-steps", type=int, default=3000)
    parser.add_argument("--only", choices=["classifier", "dcgan", "diffusion"], action="append",
                        help="retrain only these models (repeatable); the others are read from models/")
    args = parser.parse_args()
    wanted = set(args.only or ["classifier", "dcgan", "diffusion"])
    torch.set_num_threads(max(1, torch.get_num_threads()))
    models = ROOT / "models"
    started = time.time()
    train, held_out = load_split(args.seed)

    classifier_path = models / "fid" / "atelier-digits-classifier.safetensors"
    if "classifier" in wanted:
        train_classifier(train, held_out, classifier_path, seed=args.seed)
    classifier = load_digits_classifier(classifier_path)
    accuracy = classifier_accuracy(classifier, held_out)
    print(f"classifier: held-out accuracy {accuracy:.3f} ({time.time() - started:.0f} s)")
    features = DigitsFeatures(classifier)
    held_features = features.features(to_image(held_out.images)).double().numpy()
    if "classifier" in wanted:  # the held-out statistics belong to the classifier that embeds them
        save_stats(models / "fid" / "atelier-digits-heldout.npz", *mean_and_covariance(held_features))
        write_held_out(held_out, ROOT / "examples" / "input" / "digits_heldout")
    train_features = features.features(to_image(train.images[:len(held_out.images)])).double().numpy()
    floor = frechet_distance(*mean_and_covariance(train_features), *mean_and_covariance(held_features))
    print(f"digits-FID of real training digits vs held-out: {floor:.2f}")

    if "dcgan" in wanted:
        train_dcgan(train, models / "gan" / "atelier-digits-dcgan.safetensors", seed=args.seed)
        print(f"dcgan trained ({time.time() - started:.0f} s)")
    if "diffusion" in wanted:
        train_diffusion(train, models / "checkpoints" / "atelier-digits.safetensors", seed=args.seed,
                        unet_steps=args.unet_steps)
        print(f"diffusion model trained ({time.time() - started:.0f} s)")

    results = evaluate_models(models)
    results.update(classifier_accuracy=accuracy, real_vs_held_out_fid=floor, unet_steps=args.unet_steps,
                   seconds=round(time.time() - started))
    (ROOT / "training" / "digits" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
