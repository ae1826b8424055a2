"""Fixtures shared by the tests of execution/."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def object_info() -> dict:
    """``/object_info`` of the built-in nodes, over model folders that do not exist."""
    from core.folders import Folders
    from core.registry import Registry
    from nodes.builtin import builtin_definitions

    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    return registry.object_info(Folders.under(Path("/nonexistent")))
