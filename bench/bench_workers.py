"""Where prompts run (issue 14): the local runner (in the server process), ``--workers N`` worker processes and
``--ray local`` actors, on the shipped digits checkpoint. Four tables: images per second generating digits, items
per second of a sharded dataset evaluation, milliseconds per trivial prompt (the cost of crossing to a worker), and
dataset runs of 24, 48 and 96 items on two workers, with the local runner for contrast (seconds, and the server's
own peak memory growth: with workers the images stay in them). Start-up is timed apart from throughput; beside each
figure, the cores each runner's process kept busy. Prints figures; not a test.

    .venv/bin/python bench/bench_workers.py [--quick]

Each server runs in this process (as the tests start it), so /proc/self/status is the server's memory; a Ray cluster
(num_cpus=2, no dashboard) is started here only around the Ray rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.sync.client import ClientConnection, connect  # noqa: E402

from bench.cpu import cpu_summary  # noqa: E402
from tests.conftest import InProcessServer, serve, stop_server  # noqa: E402
from tests.runtime.worker_helpers import PACK, who_runs  # noqa: E402
from tests.server.api_client import get_json, http  # noqa: E402

TXT2IMG = ROOT / "workflows" / "txt2img_digits.json"
DATASET = ROOT / "workflows" / "dataset_digits_sharded.json"
START = "start s: answers / warm"  # serve() until the server answers / until every runner has run a first prompt


@dataclass(frozen=True)
class Sizes:
    prompts: int  # generation: separate prompts of `batch` images each
    batch: int
    steps: int
    items: int  # evaluation: dataset items, in shards of `shard_size`
    shard_size: int
    eval_steps: tuple[int, int]  # the dataset workflow's two samplers
    trivial: int  # trivial prompts timed one after another
    scaling: tuple[int, ...]  # dataset sizes on two workers


FULL = Sizes(prompts=96, batch=1, steps=12, items=48, shard_size=12, eval_steps=(6, 3), trivial=50,
             scaling=(24, 48, 96))
QUICK = Sizes(prompts=4, batch=1, steps=4, items=12, shard_size=6, eval_steps=(2, 1), trivial=10, scaling=(12, 24))


@dataclass(frozen=True)
class Config:
    label: str
    args: tuple[str, ...]
    workers: int  # runners to warm up

    @property
    def ray(self) -> bool:
        return "--ray" in self.args


LOCAL = Config("local runner", (), 1)
PROCESS_1 = Config("--workers 1", ("--workers", "1"), 1)
PROCESS_2 = Config("--workers 2", ("--workers", "2"), 2)
RAY_1 = Config("--ray local, 1 actor", ("--workers", "1", "--ray", "local"), 1)
RAY_2 = Config("--ray local, 2 actors", ("--workers", "2", "--ray", "local"), 2)


# --- talking to a server -------------------------------------------------------------------------------------------

class Client:
    """One websocket client: queue prompts and wait for their ``executing`` with node None (no polling)."""

    def __init__(self, url: str, client_id: str, socket: ClientConnection) -> None:
        self.url, self.client_id, self.socket = url, client_id, socket

    def queue(self, prompt: dict[str, Any]) -> list[str]:
        """The prompt ids to wait for: one, or for a dataset run one per shard still to run and the report prompt
        the server queues when they have finished (where Compare Models runs)."""
        status, body = http(self.url + "/prompt", {"prompt": prompt, "client_id": self.client_id})
        assert status == 200, body
        answer = json.loads(body)
        shards = answer.get("shards")
        return [*shards["queued"], shards["report"]] if shards else [answer["prompt_id"]]

    def wait(self, prompt_ids: list[str], timeout: float = 600) -> None:
        pending = set(prompt_ids)
        while pending:
            message = self.socket.recv(timeout=timeout)
            if isinstance(message, bytes):
                continue  # previews
            parsed = json.loads(message)
            data = parsed.get("data", {})
            if parsed["type"] == "executing" and data.get("node") is None:
                pending.discard(data.get("prompt_id"))

    def run(self, prompts: list[dict[str, Any]]) -> list[str]:
        """Queue every prompt, wait for all, and check that each succeeded; the prompt ids."""
        ids = [prompt_id for prompt in prompts for prompt_id in self.queue(prompt)]
        self.wait(ids)
        history = get_json(self.url + "/history")
        failed = [history[i]["status"] for i in ids if history[i]["status"]["status_str"] != "success"]
        assert not failed, failed
        return ids

    def run_dataset(self, prompt: dict[str, Any]) -> list[str]:
        """Run a dataset prompt to its end and check that Compare Models (node 11) ran, in the last prompt."""
        ids = self.run([prompt])
        assert "11" in get_json(f"{self.url}/history/{ids[-1]}")[ids[-1]]["outputs"], "Compare Models did not run"
        return ids

    def workers_seen(self, prompt_ids: list[str]) -> set[str]:
        history = get_json(self.url + "/history")
        return {history[prompt_id]["worker"]["name"] for prompt_id in prompt_ids}


@dataclass
class Running:
    server: InProcessServer
    client: Client
    started_s: float  # serve() until the server answers
    warm_s: float  # serve() until every runner has run a first prompt


@contextlib.contextmanager
def running(config: Config, warm_up: Callable[[int], dict[str, Any]], *extra: str) -> Iterator[Running]:
    """A server for ``config`` in this process; every runner has run ``warm_up(n)`` (a prompt, different for each
    n) before the block starts, so model loading and worker start-up are timed apart."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as base:
        started = time.perf_counter()
        server = serve(Path(base), *config.args, *extra, models_dir=ROOT / "models")
        client_id = uuid.uuid4().hex
        try:
            answered = time.perf_counter() - started
            with connect(f"{server.ws_url}?clientId={client_id}", open_timeout=30, max_size=None) as socket:
                client = Client(server.url, client_id, socket)
                seen: set[str] = set()
                for attempt in range(4):  # an idle runner leases the next prompt; repeat until each has had one
                    ids = client.run([warm_up(attempt * config.workers + n) for n in range(config.workers)])
                    seen |= client.workers_seen(ids)
                    if len(seen) == config.workers:
                        break
                yield Running(server, client, answered, time.perf_counter() - started)
        finally:
            stop_server(server)


@contextlib.contextmanager
def ray_cluster() -> Iterator[float]:
    """A local Ray cluster of 2 CPUs for the Ray rows; yields its start-up seconds."""
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield time.perf_counter() - started
    finally:
        ray.shutdown()


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


# --- prompts -------------------------------------------------------------------------------------------------------

def converted(workflow: Path) -> dict[str, Any]:
    """A shipped UI workflow as an API prompt, converted by a server (POST /api/atelier/convert)."""
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as base:
        server = serve(Path(base), models_dir=ROOT / "models")
        try:
            status, body = http(server.url + "/api/atelier/convert", {"workflow": json.loads(workflow.read_text())})
        finally:
            stop_server(server)
    assert status == 200, body
    return json.loads(body)["prompt"]


def generation_prompt(template: dict[str, Any], sizes: Sizes, seed: int) -> dict[str, Any]:
    """The shipped txt2img digits workflow: 32x32, ``sizes.batch`` images, euler, its own seed and digit."""
    prompt = json.loads(json.dumps(template))
    prompt["5"]["inputs"].update(width=32, height=32, batch_size=sizes.batch)
    prompt["3"]["inputs"].update(seed=seed, steps=sizes.steps, sampler_name="euler")
    prompt["6"]["inputs"]["text"] = f"a handwritten digit {seed % 10}"
    return prompt


def dataset_prompt(template: dict[str, Any], items: int, shard_size: int, steps: tuple[int, int],
                   seed: int) -> dict[str, Any]:
    """The shipped sharded dataset workflow cut to ``items`` items (each run its own seed: a new evaluation key)."""
    prompt = json.loads(json.dumps(template))
    prompt["1"]["inputs"].update(count=items, shard_size=shard_size, seed=seed)
    prompt["3"]["inputs"]["steps"], prompt["13"]["inputs"]["steps"] = steps
    return prompt


# --- measuring -----------------------------------------------------------------------------------------------------

def machine_cpu_seconds() -> float:
    """CPU seconds every core of the machine has been busy (not idle or waiting for I/O), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int | str = "self") -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, value in (line.split(":", 1) for line in lines if ":" in line)}


def kib(field: str) -> int:
    return int(field.split()[0])


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux: write 5 to clear_refs); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, its finished threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runner_pids(server: InProcessServer) -> list[int]:
    """The process of each runner (this one for the local runner), from /api/atelier/workers."""
    return [int(worker["pid"]) for worker in get_json(server.url + "/api/atelier/workers")["workers"]]


class Usage:
    """A block's wall seconds and the cores kept busy meanwhile (CPU seconds per wall second): by each runner's
    process, by the server process when the runners are elsewhere (relaying events, HTTP), and by the rest of the
    machine (Ray's own processes, other programs)."""

    def __init__(self, server: InProcessServer) -> None:
        self.pids = runner_pids(server)

    def __enter__(self) -> Usage:
        self._runners = [cpu_seconds(pid) for pid in self.pids]
        self._server, self._machine = cpu_seconds(os.getpid()), machine_cpu_seconds()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started
        self.runners = [(cpu_seconds(pid) - before) / self.seconds
                        for pid, before in zip(self.pids, self._runners, strict=True)]
        local = os.getpid() in self.pids
        self.server = 0.0 if local else (cpu_seconds(os.getpid()) - self._server) / self.seconds
        machine = (machine_cpu_seconds() - self._machine) / self.seconds
        self.rest = machine - sum(self.runners) - self.server

    def cells(self) -> list[str]:
        return [" + ".join(f"{cores:.2f}" for cores in self.runners), "-" if self.server == 0.0 else
                f"{self.server:.2f}", f"{self.rest:.2f}"]


USAGE = ["cores: runners", "server", "rest"]


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title} [load average now {os.getloadavg()[0]:.2f}]")
    for cells in [header, ["-" * width for width in widths], *rows]:
        print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)))


def with_ray(configs: list[Config]) -> Iterator[tuple[Config, str]]:
    """Each config with a note; the Ray ones inside one Ray cluster (started after the others ran)."""
    for config in (c for c in configs if not c.ray):
        yield config, ""
    ray_configs = [c for c in configs if c.ray]
    if not ray_configs:
        return
    if not ray_available():
        print("Ray is not installed: no Ray rows (.venv/bin/pip install 'ray>=2.40,<3')")
        return
    with ray_cluster() as seconds:
        for config in ray_configs:
            yield config, f"Ray cluster start {seconds:.1f} s"


# --- the four measurements -----------------------------------------------------------------------------------------

def generation(sizes: Sizes, configs: list[Config]) -> None:
    template = converted(TXT2IMG)
    images = sizes.prompts * sizes.batch
    rows = []
    for config, note in with_ray(configs):
        def warm_up(n: int) -> dict[str, Any]:
            return generation_prompt(template, sizes, 10_000 + n)

        with running(config, warm_up) as run, Usage(run.server) as usage:
            run.client.run([generation_prompt(template, sizes, seed) for seed in range(sizes.prompts)])
        rows.append([config.label, f"{images / usage.seconds:.2f}", f"{usage.seconds:.1f}", *usage.cells(),
                     f"{run.started_s:.1f} / {run.warm_s:.1f}", note])
    table(f"1. Generating digits: {sizes.prompts} prompts of {sizes.batch} image(s), 32x32, {sizes.steps} steps euler "
          f"({images} images; after one warm-up prompt per runner)",
          ["runner", "images/s", "seconds", *USAGE, START, ""], rows)


def evaluation(sizes: Sizes, configs: list[Config]) -> None:
    shards = -(-sizes.items // sizes.shard_size)
    template = converted(DATASET)

    def warm_up(n: int) -> dict[str, Any]:  # one shard of a dataset run of its own: models and feature net
        return dataset_prompt(template, sizes.shard_size, sizes.shard_size, (1, 1), 10_000 + n)

    rows = []
    for config, note in with_ray(configs):
        prompt = dataset_prompt(template, sizes.items, sizes.shard_size, sizes.eval_steps, 1)
        with running(config, warm_up) as run:
            with Usage(run.server) as usage:
                ids = run.client.run_dataset(prompt)
            seen = run.client.workers_seen(ids)
        rows.append([config.label, f"{sizes.items / usage.seconds:.2f}", f"{usage.seconds:.1f}", *usage.cells(),
                     f"{len(ids) - 1} + report on {len(seen)}", f"{run.started_s:.1f} / {run.warm_s:.1f}", note])
    table(f"2. Evaluating a dataset run: {sizes.items} items in shards of {sizes.shard_size} ({shards} shard prompts), "
          f"samplers of {sizes.eval_steps[0]} and {sizes.eval_steps[1]} steps, queue -> Compare Models",
          ["runner", "items/s", "seconds", *USAGE, "prompts on workers", START, ""], rows)


def overhead(sizes: Sizes, configs: list[Config]) -> None:
    rows = []
    for config, note in with_ray(configs):
        with running(config, lambda n: who_runs(0, 1_000_000 + n), "--custom-nodes-dir", str(PACK)) as run:
            timings = []
            for tag in range(sizes.trivial):
                started = time.perf_counter()
                run.client.run([who_runs(0, tag)])
                timings.append(1000 * (time.perf_counter() - started))
        quartiles = statistics.quantiles(timings, n=10)
        rows.append([config.label, f"{statistics.median(timings):.1f}", f"{quartiles[0]:.1f}", f"{quartiles[-1]:.1f}",
                     f"{run.started_s:.1f} / {run.warm_s:.1f}", note])
    table(f"3. Per-prompt overhead: {sizes.trivial} trivial prompts (WhoRuns, 0 s) one after another, "
          "queue -> executing None",
          ["runner", "median ms", "p10 ms", "p90 ms", START, ""], rows)


def scaling(sizes: Sizes, configs: list[Config]) -> None:
    template = converted(DATASET)

    def warm_up(n: int) -> dict[str, Any]:
        return dataset_prompt(template, sizes.shard_size, sizes.shard_size, (1, 1), 10_000 + n)

    rows = []
    resets = True
    for config in configs:
        with running(config, warm_up) as run:
            for seed, items in enumerate(sizes.scaling):
                before = kib(proc_status()["VmRSS"])
                resets = reset_peak_rss() and resets
                prompt = dataset_prompt(template, items, sizes.shard_size, sizes.eval_steps, 100 + seed)
                with Usage(run.server) as usage:
                    run.client.run_dataset(prompt)
                status = proc_status()
                rows.append([config.label, str(items), f"{usage.seconds:.1f}", f"{1000 * usage.seconds / items:.0f}",
                             *usage.cells(), f"{before / 1024:.0f}", f"{(kib(status['VmHWM']) - before) / 1024:+.1f}",
                             f"{(kib(status['VmRSS']) - before) / 1024:+.1f}"])
    peak = "peak growth MiB" if resets else "peak growth MiB (VmHWM not resettable: since start)"
    table(f"4. Dataset runs of growing size, shards of {sizes.shard_size}, samplers of {sizes.eval_steps[0]} and "
          f"{sizes.eval_steps[1]} steps: time, and the memory of the server process (this one; VmHWM reset before "
          "each run)",
          ["runner", "items", "seconds", "ms/item", *USAGE, "server RSS MiB", peak, "RSS after - before MiB"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the bench runs, figures mean little")
    sizes = QUICK if parser.parse_args().quick else FULL
    load = os.getloadavg()
    print(cpu_summary())
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)")
    print(f"{os.cpu_count()} cores: the local runner computes with all of them; --workers N gives each worker "
          f"cores // N threads ({max(1, (os.cpu_count() or 1) // 2)} with 2 workers), and Ray gives an actor "
          "(num_cpus=1) OMP_NUM_THREADS=1, so torch computes with 1 thread there even with 1 actor")
    print("cores: CPU seconds per wall second of each runner's process / of the server process (relaying events) "
          "when the runners are elsewhere / of the rest of the machine (Ray's own processes, other programs: ~0 means "
          "nothing else competed); the load average counts the bench itself")
    import torch  # noqa: F401  (imported once here, so no runner's start-up includes it for the server process)

    started = time.perf_counter()
    generation(sizes, [LOCAL, PROCESS_1, PROCESS_2, RAY_1, RAY_2])
    evaluation(sizes, [LOCAL, PROCESS_1, PROCESS_2, RAY_2])
    overhead(sizes, [LOCAL, PROCESS_1, RAY_1])
    scaling(sizes, [PROCESS_2, LOCAL])  # the local runner for contrast: there the images are in this process
    load = os.getloadavg()
    print(f"\nwhole bench {time.perf_counter() - started:.0f} s; load average after: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
