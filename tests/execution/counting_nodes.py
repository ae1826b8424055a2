"""Small nodes that count their executions, for executor and cache tests."""

from __future__ import annotations

from collections import Counter
from typing import Any

from core.registry import Registry
from nodes.api import ExecutionContext, Int, Node, NodeResult, Output, Socket, String
from nodes.builtin import builtin_definitions

CALLS: Counter[str] = Counter()


class Number(Node):
    inputs = [Int("value", 0, min=-100, max=100)]
    outputs = [Output("INT")]

    def execute(self, value: int) -> tuple:
        CALLS["Number"] += 1
        return (value,)


class Add(Node):
    inputs = [Socket("a", "INT"), Socket("b", "INT")]
    outputs = [Output("INT")]

    def execute(self, a: int, b: int) -> tuple:
        CALLS["Add"] += 1
        return (a + b,)


class Show(Node):
    output_node = True
    inputs = [Socket("value", "*"), String("label", "", optional=True)]
    outputs = []

    def execute(self, value: Any, label: str = "") -> NodeResult:
        CALLS["Show"] += 1
        return NodeResult((), {"values": [value]})


class Range(Node):
    """Emits 0..count-1 as a list output."""

    inputs = [Int("count", 3, min=0, max=100)]
    outputs = [Output("INT", is_list=True)]

    def execute(self, count: int) -> tuple:
        CALLS["Range"] += 1
        return (list(range(count)),)


class Sum(Node):
    input_is_list = True
    inputs = [Socket("values", "INT")]
    outputs = [Output("INT")]

    def execute(self, values: list[int]) -> tuple:
        CALLS["Sum"] += 1
        return (sum(values),)


class Choose(Node):
    """Lazy: evaluates only the branch it picks."""

    inputs = [Int("pick", 0, min=0, max=1), Socket("first", "INT", lazy=True), Socket("second", "INT", lazy=True)]
    outputs = [Output("INT")]

    def check_lazy_status(self, pick: int, first: Any = None, second: Any = None) -> list[str]:
        wanted = "first" if pick == 0 else "second"
        return [wanted] if (first if pick == 0 else second) is None else []

    def execute(self, pick: int, first: Any = None, second: Any = None) -> tuple:
        CALLS["Choose"] += 1
        return (first if pick == 0 else second,)


class Steps(Node):
    inputs = [Int("steps", 3, min=1, max=100)]
    outputs = [Output("INT")]

    def execute(self, steps: int, context: ExecutionContext) -> tuple:
        for step in range(steps):
            context.progress(step + 1, steps)
        return (steps,)


class Boom(Node):
    inputs = [Socket("value", "INT")]
    outputs = [Output("INT")]

    def execute(self, value: int) -> tuple:
        raise RuntimeError("boom")


NODES = [Number, Add, Show, Range, Sum, Choose, Steps, Boom]


def make_registry() -> Registry:
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    registry.add_all(node.definition("tests") for node in NODES)
    return registry
