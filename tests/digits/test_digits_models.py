"""The shipped digits models, loaded through the same loaders as any user file, judged on quality: the
diffusion model draws the digit it is asked for, and every model's digits-FID beats untrained weights."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from training.digits.evaluate import evaluate_models

MODELS = ROOT / "models"
FILES = ["checkpoints/atelier-digits.safetensors", "gan/atelier-digits-dcgan.safetensors",
         "fid/atelier-digits-classifier.safetensors", "fid/atelier-digits-heldout.npz"]

# Bounds from the figures measured after training (training/digits/results.json: 99.7% recognised; digits-FID
# 143 diffusion, 189 DCGAN, 5,520 untrained DCGAN on 300 images; 90 for real training digits), with a margin for
# the smaller sample here (200 images: FID estimates run higher on fewer images).
MIN_RECOGNISED = 0.9
FID_BOUND = 600.0

if not all((MODELS / f).is_file() for f in FILES):
    pytest.skip("the digits models are not in models/ (python -m training.digits.train_all)", allow_module_level=True)


@pytest.fixture(scope="module")
def results() -> dict[str, float]:
    return evaluate_models(MODELS, per_digit=20)


def test_the_prompted_digit_is_drawn(results):
    # Measured when the models were trained: see training/digits/results.json.
    assert results["prompted_digit_recognised"] >= MIN_RECOGNISED


def test_digits_fid_beats_untrained_weights(results):
    assert results["untrained_dcgan_digits_fid"] > FID_BOUND
    assert results["diffusion_digits_fid"] < FID_BOUND
    assert results["dcgan_digits_fid"] < FID_BOUND
