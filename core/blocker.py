"""ComfyUI's ExecutionBlocker: a value that stops every node it reaches from running.

A node returns ``ExecutionBlocker(None)`` for an output to say "nothing to pass on yet" (a dataset shard whose
run is not complete); the nodes that would receive it do not run and pass the blocker on, silently. With a
message, the first node it reaches fails with that message instead (ComfyUI's rule).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionBlocker:
    message: str | None = None


def find_blocker(inputs: dict[str, list[object]]) -> ExecutionBlocker | None:
    for values in inputs.values():
        for value in values:
            if isinstance(value, ExecutionBlocker):
                return value
    return None
