"""An API-format prompt as a graph: nodes, their inputs, links and traversal helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Prompt = dict[str, dict[str, Any]]


def is_link(value: Any) -> bool:
    """A link is ``[source_node_id, output_index]`` with a string id, as ComfyUI defines it."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
        and not isinstance(value[1], bool)
    )


def unwrap(value: Any) -> Any:
    """Lists that are values, not links, travel wrapped as ``{"__value__": [...]}``."""
    if isinstance(value, dict) and set(value) == {"__value__"}:
        return value["__value__"]
    return value


def links_of(node: dict[str, Any]) -> dict[str, tuple[str, int]]:
    inputs = node.get("inputs") or {}
    return {name: (value[0], int(value[1])) for name, value in inputs.items() if is_link(value)}


def ancestors(prompt: Prompt, roots: list[str]) -> list[str]:
    """``roots`` and every node they depend on through links (ids present in the prompt only)."""
    seen: dict[str, None] = {}
    stack = list(reversed(roots))
    while stack:
        node_id = stack.pop()
        if node_id in seen or node_id not in prompt:
            continue
        seen[node_id] = None
        stack.extend(source for source, _ in reversed(links_of(prompt[node_id]).values()))
    return list(seen)


def dependency_order(prompt: Prompt, roots: list[str],
                     sources: Callable[[str], list[str]] | None = None) -> list[str]:
    """``roots`` and their ancestors, each node after the nodes it depends on.

    An iterative post-order walk, so graphs of any depth work; an edge that would close a cycle is skipped
    (validation reports cycles separately). ``sources`` may narrow which links are followed.
    """
    sources = sources or (lambda node_id: _sources(prompt, node_id))
    order: list[str] = []
    done: set[str] = set()
    on_path: set[str] = set()
    for root in roots:
        if root in done or root not in prompt:
            continue
        stack = [(root, list(reversed(sources(root))))]
        on_path.add(root)
        while stack:
            node_id, pending = stack[-1]
            while pending and (pending[-1] in done or pending[-1] in on_path):
                pending.pop()
            if not pending:
                stack.pop()
                on_path.discard(node_id)
                done.add(node_id)
                order.append(node_id)
                continue
            source = pending.pop()
            on_path.add(source)
            stack.append((source, list(reversed(sources(source)))))
    return order


def find_cycle(prompt: Prompt, roots: list[str]) -> list[str] | None:
    """A list of node ids forming a cycle reachable from ``roots``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in roots:
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(root, _sources(prompt, root))]
        if state.get(root):
            continue
        state[root] = 1
        path.append(root)
        while stack:
            node_id, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                state[node_id] = 2
                continue
            source = pending.pop()
            if state.get(source) == 1:
                return path[path.index(source):] + [source]
            if source not in state:
                state[source] = 1
                path.append(source)
                stack.append((source, _sources(prompt, source)))
    return None


def _sources(prompt: Prompt, node_id: str) -> list[str]:
    node = prompt.get(node_id)
    if node is None:
        return []
    return [source for source, _ in links_of(node).values() if source in prompt]
