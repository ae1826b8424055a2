"""``--cache-ram``: loaded models and cached node outputs share one budget.

Node outputs of older prompts leave first (least recently used first), then models; the latest prompt's
outputs always stay. A model still held by a cached output is only freed once that output leaves too.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.model_cache import ModelCache
from execution.cache import OutputCache


@dataclass
class MemoryBudget:
    max_bytes: int
    outputs: OutputCache
    models: ModelCache

    def trim(self, incoming: int = 0) -> None:
        """Make room for ``incoming`` more bytes (a model about to be read) within ``max_bytes``."""
        excess = self.outputs.total_bytes + self.models.total_bytes + incoming - self.max_bytes
        while excess > 0:
            freed = self.outputs.drop_oldest_unpinned()
            if freed is None:
                before = self.models.total_bytes
                if not self.models.drop_oldest():
                    return
                freed = before - self.models.total_bytes
            excess -= freed


def budgeted_caches(cache_bytes: int) -> tuple[OutputCache, ModelCache, MemoryBudget]:
    """The output cache and the model cache under one ``cache_bytes`` budget: the model cache asks the budget for
    room before it reads a file; whoever runs prompts calls ``trim()`` after each."""
    outputs, models = OutputCache(), ModelCache()
    budget = MemoryBudget(cache_bytes, outputs, models)
    models.before_load = budget.trim
    return outputs, models, budget
