"""``--ray ADDRESS|local``: prompts run in Ray actors, one per GPU of the cluster (``num_gpus=1``), or ``--workers``
of them on a CPU cluster.

Each actor holds a ``runtime.worker_host.WorkerHost``: its own runtime and warm model cache on its device. A prompt
runs as a streaming generator method, so progress, previews and ``executed`` events reach the server's websocket
while the prompt runs. An actor that dies mid-prompt (its machine went away, it ran out of memory) raises
``WorkerLost``: the prompt goes back to the queue and the next prompt starts a fresh actor.

Files: on one machine (``--ray local``) or with ``--shared-output`` the actors write into the server's folders;
otherwise each actor writes into a scratch folder and sends the files it saved with its ``executed`` events.
Models, inputs and dataset files must be at the same paths on every machine (a shared filesystem, or copies); the
user folder must be one shared folder, since a dataset run's shards record their statistics there for the last one
to merge (only output and temp files travel).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from execution.events import EventHub
from execution.executor import ExecutionOutcome
from execution.queue import QueueItem
from execution.runner import WorkerLost
from runtime.relay import relay
from runtime.settings import ROOT, Settings

log = logging.getLogger(__name__)
START_TIMEOUT = 600.0  # seconds an actor may take to be placed and to load its node types and plug-ins
UPLOAD_EXCLUDES = [".git", ".venv", "web/node_modules", "models", "input", "output", "temp", "user", "tests"]


class WorkerActor:
    """The actor's body (``ray.remote`` is applied in ``RayRunner.start``, with the resources it needs)."""

    def __init__(self, settings: Settings, name: str, transfer_outputs: bool) -> None:
        from runtime.worker_host import WorkerHost

        logging.basicConfig(level=logging.INFO)
        self.host = WorkerHost(settings, name, transfer_outputs)

    def info(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return self.host.info("ray", node=context.get_node_id(), gpu_ids=[str(g) for g in ray.get_gpu_ids()])

    def run(self, item: QueueItem):
        yield from self.host.run(item)

    def interrupt(self, prompt_id: str) -> None:
        self.host.interrupt(prompt_id)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        self.host.free(unload_models, free_memory)


def connect(address: str) -> None:
    """Join the cluster at ``address`` ("auto" for the one ``ray start`` made here), or start a local one."""
    import ray

    if ray.is_initialized():
        return
    if address == "local":
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
    else:
        ray.init(address=address, logging_level=logging.WARNING,
                 runtime_env={"working_dir": str(ROOT), "excludes": UPLOAD_EXCLUDES})


def ray_runners(settings: Settings) -> list[RayRunner]:
    import ray

    assert settings.ray_address is not None
    connect(settings.ray_address)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    count = settings.workers or max(1, gpus)
    transfer = not settings.shared_output and settings.ray_address != "local"
    log.info("Ray cluster: %s GPUs, %d workers, files %s", gpus, count,
             "sent to the server" if transfer else "written to shared folders")
    return [RayRunner(settings, f"ray-{index}", 1 if gpus else 0, transfer) for index in range(count)]


class RayRunner:
    def __init__(self, settings: Settings, name: str, num_gpus: float, transfer_outputs: bool) -> None:
        self.name = name
        self.settings = settings
        self.num_gpus = num_gpus
        self.transfer_outputs = transfer_outputs
        self.actor: Any = None
        self._info: dict[str, Any] = {"name": name, "kind": "ray"}
        self._interrupted: str | None = None  # the latest prompt interrupted, in case it came while starting
        self._renamed: dict[tuple[str, str, str], str] = {}  # the actor's file names -> the names stored here

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def start(self) -> None:
        if self.actor is not None:
            return
        import ray

        # A threaded actor: interrupt() must run while the run() generator holds a thread for the whole prompt, and
        # a free() waits in another for that prompt to end (WorkerHost serialises run and free with its lock).
        actor_class = ray.remote(num_cpus=1, num_gpus=self.num_gpus, max_concurrency=4)(WorkerActor)
        actor = actor_class.remote(self.settings, self.name, self.transfer_outputs)
        try:  # an actor that waits for a GPU the cluster does not have would wait for ever
            self._info = ray.get(actor.info.remote(), timeout=START_TIMEOUT)
        except ray.exceptions.RayError as error:
            with contextlib.suppress(Exception):
                ray.kill(actor)
            raise WorkerLost(f"{self.name} failed to start: {error}") from error
        self.actor = actor
        self._renamed = {}  # a fresh actor has a fresh scratch folder
        log.info("%s started on node %s, GPUs %s", self.name, self._info.get("node"), self._info.get("gpu_ids"))

    def run(self, item: QueueItem, events: EventHub) -> ExecutionOutcome:
        import ray

        self.start()
        errors = ray.exceptions
        lost = (errors.RayActorError, errors.NodeDiedError, errors.WorkerCrashedError, errors.ObjectLostError)
        try:
            stream = self.actor.run.remote(item)
            if self._interrupted == item.prompt_id:
                self.actor.interrupt.remote(item.prompt_id)  # it came while the actor was starting
            return relay((ray.get(ref) for ref in stream), events, self.settings.folders, self._renamed)
        except lost as error:
            self.close()  # an actor that is only unreachable would keep its GPU; the next prompt starts a fresh one
            raise WorkerLost(f"{self.name} died: {type(error).__name__}") from error

    def interrupt(self, prompt_id: str) -> None:
        self._interrupted = prompt_id
        actor = self.actor  # the worker thread may drop it meanwhile
        if actor is not None:
            actor.interrupt.remote(prompt_id)

    def free(self, unload_models: bool, free_memory: bool) -> None:
        if self.actor is not None:
            self.actor.free.remote(unload_models, free_memory)

    def close(self) -> None:
        if self.actor is not None:
            import ray

            actor, self.actor = self.actor, None
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor)
