"""The running system as one object: folders, model cache, output cache, queue and store, settings, plug-ins and
events. ``build_runtime`` is the composition root; the HTTP layer, the worker and plug-in views all hold the
``Runtime`` it returns rather than reaching for module globals."""

from runtime.build import build_runtime
from runtime.runtime import Runtime
from runtime.settings import Settings

__all__ = ["Runtime", "Settings", "build_runtime"]
