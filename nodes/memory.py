"""Freeing memory on request (``POST /free``): loaded models and accelerator caches."""

from __future__ import annotations

import gc


def free_models() -> None:
    try:
        from engine.model_cache import default_cache
    except ImportError:
        default_cache = None
    if default_cache is not None:
        default_cache().clear()
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
