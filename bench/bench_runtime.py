"""Runtime overhead: validate + execute a 1,000-node graph of cheap nodes, re-run it fully cached, and time
/object_info on a live server. Prints figures; not a test.

    .venv/bin/python bench/bench_runtime.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from execution.cache import OutputCache  # noqa: E402
from execution.context import InterruptFlag  # noqa: E402
from execution.executor import Executor  # noqa: E402
from execution.validation import validate_prompt  # noqa: E402
from nodes.builtin import builtin_definitions  # noqa: E402
from nodes.registry import Registry  # noqa: E402


def chain_prompt(nodes: int) -> dict:
    """A chain of IntMath nodes (each adds 1 to the previous) ending in a PreviewAny-style output."""
    prompt = {"0": {"class_type": "PrimitiveInt", "inputs": {"value": 0}}}
    for index in range(1, nodes - 1):
        prompt[str(index)] = {"class_type": "IntMath", "inputs": {"a": [str(index - 1), 0], "operation": "add",
                                                                  "b": 1}}
    prompt[str(nodes - 1)] = {"class_type": "IntToString", "inputs": {"value": [str(nodes - 2), 0]}}
    return prompt


def main() -> None:
    registry = Registry()
    registry.add_all(builtin_definitions(), builtin=True)
    registry.get("IntToString").output_node = True  # give the chain an output for the benchmark only
    prompt = chain_prompt(1000)
    executor = Executor(registry, OutputCache(), lambda event, data: None, InterruptFlag())

    started = time.perf_counter()
    result = validate_prompt(registry, prompt)
    validated = time.perf_counter()
    executor.execute("a", result.prompt, result.good_outputs)
    executed = time.perf_counter()
    result = validate_prompt(registry, prompt)
    executor.execute("b", result.prompt, result.good_outputs)
    cached = time.perf_counter()
    print(f"1,000-node graph: validate {1000 * (validated - started):.1f} ms, "
          f"execute {1000 * (executed - validated):.1f} ms, "
          f"fully cached re-run (validate + execute) {1000 * (cached - executed):.1f} ms, "
          f"ratio cached/first {(cached - executed) / (executed - started):.2f}")
    object_info_latency()


def object_info_latency() -> None:
    from tests.conftest import start_server, stop_server

    with tempfile.TemporaryDirectory() as base:
        server = start_server(Path(base))
        try:
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                body = urllib.request.urlopen(server.url + "/object_info").read()
                timings.append(time.perf_counter() - started)
            print(f"/object_info: {len(body) / 1024:.0f} KiB, median {1000 * statistics.median(timings):.1f} ms, "
                  f"max {1000 * max(timings):.1f} ms over {len(timings)} requests")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
