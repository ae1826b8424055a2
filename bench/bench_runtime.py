"""Runtime overhead: server start until ``/object_info`` answers (goal: ≤ 2 s; ComfyUI 0.3.64 took 8.7 s on the
2-core AVX512-BF16 machine), validate + execute a 1,000-node graph of cheap nodes, re-run it fully cached, and
time /object_info on a live server. Prints figures; not a test.

    .venv/bin/python bench/bench_runtime.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_summary  # noqa: E402
from core.folders import Folders  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.harness import Harness  # noqa: E402

COMFYUI_START_SECONDS = 8.7  # measured beside Atelier on the 2-core AVX512-BF16/AMX machine (issue 11)


def chain_prompt(nodes: int) -> dict:
    """A chain of IntMath nodes (each adds 1 to the previous) ending in a PreviewAny-style output."""
    prompt = {"0": {"class_type": "PrimitiveInt", "inputs": {"value": 0}}}
    for index in range(1, nodes - 1):
        prompt[str(index)] = {"class_type": "IntMath", "inputs": {"a": [str(index - 1), 0], "operation": "add",
                                                                  "b": 1}}
    prompt[str(nodes - 1)] = {"class_type": "IntToString", "inputs": {"value": [str(nodes - 2), 0]}}
    return prompt


def start_seconds(base: Path) -> float:
    """Seconds from launching ``python server.py`` until ``/object_info`` answers."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--port", str(port),
                                "--user-dir", str(base / "user"), "--output-dir", str(base / "output"),
                                "--input-dir", str(base / "input"), "--temp-dir", str(base / "temp")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/object_info", timeout=5).read()
                return time.perf_counter() - started
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("server exited early") from None
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=20)


def start_time() -> None:
    with tempfile.TemporaryDirectory() as base:
        start_seconds(Path(base))  # warms the file cache, as a second start on a user's machine would be
        timings = [start_seconds(Path(base)) for _ in range(3)]
    median = statistics.median(timings)
    print(f"server start until /object_info answers: median {median:.2f} s of {len(timings)} "
          f"({', '.join(f'{t:.2f}' for t in timings)}), {median / COMFYUI_START_SECONDS:.2f}x ComfyUI's "
          f"{COMFYUI_START_SECONDS} s; goal ≤ 2 s")


def main() -> None:
    print(cpu_summary())
    start_time()
    with tempfile.TemporaryDirectory() as base:
        harness = Harness(Folders.under(Path(base)))
        graph_overhead(harness)
    object_info_latency()


def graph_overhead(harness: Harness) -> None:
    harness.registry.get("IntToString").output_node = True  # give the chain an output for the benchmark only
    prompt = chain_prompt(1000)
    started = time.perf_counter()
    result = harness.validate(prompt)
    validated = time.perf_counter()
    harness.executor.execute("a", result.prompt, result.good_outputs)
    executed = time.perf_counter()
    result = harness.validate(prompt)
    harness.executor.execute("b", result.prompt, result.good_outputs)
    cached = time.perf_counter()
    print(f"1,000-node graph: validate {1000 * (validated - started):.1f} ms, "
          f"execute {1000 * (executed - validated):.1f} ms, "
          f"fully cached re-run (validate + execute) {1000 * (cached - executed):.1f} ms, "
          f"ratio cached/first {(cached - executed) / (executed - started):.2f}")


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
