"""Feature networks by name: what the metrics nodes offer."""

from __future__ import annotations

from pathlib import Path

from engine.metrics.digits import WEIGHTS_FILE as DIGITS_FILE
from engine.metrics.digits import DigitsFeatures, load_digits_classifier
from engine.metrics.features import FeatureExtractor, InceptionFeatures
from engine.metrics.inception import WEIGHTS_FILE, load_fid_inception
from engine.metrics.names import FEATURE_NETWORKS
from engine.model_cache import ModelCache


def feature_network(name: str, fid_folder: Path, resize_mode: str, models: ModelCache) -> FeatureExtractor:
    """The feature network ``name`` with its weights from ``fid_folder``, loaded once through ``models``."""
    if name == FEATURE_NETWORKS[0]:
        weights = fid_folder / WEIGHTS_FILE
        network = (models.load(weights, "fid-inception", lambda path: load_fid_inception(path.parent))
                   if weights.is_file() else load_fid_inception(fid_folder))  # raises, saying what to put where
        return InceptionFeatures(network, resize_mode)
    if name == FEATURE_NETWORKS[1]:
        path = fid_folder / DIGITS_FILE
        return DigitsFeatures(models.load(path, "digits-classifier", load_digits_classifier)
                              if path.is_file() else load_digits_classifier(path))
    raise ValueError(f"unknown feature network {name!r}; available: {', '.join(FEATURE_NETWORKS)}")
