"""Running prompts in process, without a server: the executor wired as the runtime wires it."""

from __future__ import annotations

from typing import Any

from core.context import InterruptFlag
from core.folders import Folders
from core.registry import Registry
from engine.device import Devices
from execution.events import EventHub, EventListener, PromptEvents
from execution.executor import ExecutionOutcome, Executor
from execution.validation import ValidationResult, validate_prompt
from nodes.builtin import builtin_definitions
from runtime.memory import budgeted_caches


class RecordedEvents:
    """An event listener that keeps what it is sent."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.previews: list[Any] = []

    def on_event(self, event: str, data: dict[str, Any], client_id: str | None) -> None:
        self.events.append((event, data))

    def on_preview(self, image: Any, client_id: str | None, prompt_id: str, node_id: str) -> None:
        self.previews.append(image)

    def names(self) -> list[str]:
        return [event for event, _ in self.events]

    def executing(self) -> list[str]:
        return [data["node"] for event, data in self.events if event == "executing"]


class Harness:
    """Validates and runs prompts against ``registry`` and ``folders``; keeps every node's outputs of the last run."""

    def __init__(self, folders: Folders, registry: Registry | None = None, cache_bytes: int = 4 << 30,
                 devices: Devices | None = None) -> None:
        if registry is None:
            registry = Registry()
            registry.add_all(builtin_definitions(), builtin=True)
        self.registry = registry
        self.folders = folders
        outputs, self.models, self.memory = budgeted_caches(cache_bytes)  # --cache-ram, trimmed after each run
        self.devices = devices or Devices()
        self.interrupt = InterruptFlag()
        self.executor = Executor(registry, outputs, folders, self.models, self.devices, self.interrupt)
        self.recorded = RecordedEvents()
        self.listeners: list[EventListener] = []  # more listeners of every run (a test's progress hook)
        self.results: dict[str, list[list[Any]]] = {}

    def validate(self, prompt: dict, targets: list[str] | None = None) -> ValidationResult:
        return validate_prompt(self.registry, self.folders, prompt, targets)

    def run(self, prompt: dict, prompt_id: str = "p", targets: list[str] | None = None) -> ExecutionOutcome:
        """Validate (every output must be valid) and run; events go to ``recorded``, a fresh one each run."""
        result = self.validate(prompt, targets)
        assert result.ok, (result.error, result.node_errors)
        return self.execute(result, prompt_id)

    def execute(self, result: ValidationResult, prompt_id: str = "p") -> ExecutionOutcome:
        self.recorded = RecordedEvents()
        hub = EventHub()
        hub.subscribe(self.recorded)
        for listener in self.listeners:
            hub.subscribe(listener)
        run_results: dict[str, list[list[Any]]] = {}
        original = self.executor._execute_node

        def keep(run: Any, node_id: str) -> None:
            original(run, node_id)
            run_results[node_id] = run.results[node_id]

        self.executor._execute_node = keep  # type: ignore[method-assign]
        try:
            outcome = self.executor.execute(prompt_id, result.prompt, result.good_outputs, {},
                                            PromptEvents(hub, "test-client"))
        finally:
            del self.executor._execute_node
        self.memory.trim()  # as the worker does after each prompt
        self.results = run_results
        return outcome

    def output(self, prompt: dict, node: str, slot: int = 0) -> Any:
        """Run ``prompt`` (its valid outputs) and return the first value of ``node``'s output ``slot``."""
        result = self.validate(prompt)
        assert result.ok or result.good_outputs, result.node_errors
        outcome = self.execute(result)
        errors = [m[1].get("exception_message") for m in outcome.messages if m[0] == "execution_error"]
        assert outcome.status == "success", errors
        return self.results[node][slot][0]
