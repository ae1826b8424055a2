"""Datasets a run draws its items from: prompt lists and caption files (``prompts``); plain Python, no torch."""

from engine.datasets.prompts import (
    CAPTION_MODES,
    FORMATS,
    PromptItem,
    list_datasets,
    read_prompts,
    select_items,
    shard_items,
    shard_range,
)

__all__ = ["CAPTION_MODES", "FORMATS", "PromptItem", "list_datasets", "read_prompts", "select_items", "shard_items",
           "shard_range"]
