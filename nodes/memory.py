"""Freeing memory on request (``POST /free``): loaded models and accelerator caches."""

from __future__ import annotations

import gc


def free_models() -> None:
    from engine.model_cache import MODEL_CACHE

    MODEL_CACHE.clear()
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
