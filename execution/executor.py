"""Runs a validated prompt: only the ancestors of its outputs, dependencies first, reusing cached outputs."""

from __future__ import annotations

import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.blocker import find_blocker
from core.context import ExecutionContext, Interrupted, InterruptFlag, ModelStore, enter_context, leave_context
from core.definition import NodeDefinition
from core.folders import Folders
from core.registry import Registry
from execution.cache import OutputCache, Outputs, compute_signatures
from execution.events import EventHub, PromptEvents
from execution.graph import Prompt, ancestors, dependency_order, is_link, links_of, unwrap


def now_ms() -> int:
    return int(time.time() * 1000)


class NodeExecutionError(Exception):
    def __init__(self, node_id: str, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.node_id = node_id
        self.cause = cause


@dataclass
class ExecutionOutcome:
    status: str  # "success" | "error" | "interrupted"
    ui_outputs: dict[str, dict[str, list]] = field(default_factory=dict)
    messages: list[list[Any]] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class PromptRun:
    """The state of one prompt's execution."""

    prompt_id: str
    prompt: Prompt
    extra_data: dict[str, Any]
    events: PromptEvents
    signatures: dict[str, str] = field(default_factory=dict)
    results: dict[str, Outputs] = field(default_factory=dict)
    outcome: ExecutionOutcome = field(default_factory=lambda: ExecutionOutcome("success"))


class Executor:
    """Runs prompts with the node types of ``registry``; nodes reach ``folders``, ``models`` and ``devices`` (the
    engine's device policy) through their context, and outputs are kept in ``cache`` between prompts."""

    def __init__(self, registry: Registry, cache: OutputCache, folders: Folders, models: ModelStore, devices: Any,
                 interrupt: InterruptFlag) -> None:
        self.registry = registry
        self.cache = cache
        self.folders = folders
        self.models = models
        self.devices = devices
        self.interrupt = interrupt
        self.instances: dict[tuple[str, str], Any] = {}  # node objects persist across prompts, as in ComfyUI

    def execute(self, prompt_id: str, prompt: Prompt, outputs: list[str], extra_data: dict[str, Any] | None = None,
                events: PromptEvents | None = None) -> ExecutionOutcome:
        started = time.perf_counter()
        run = PromptRun(prompt_id, prompt, extra_data or {}, events or PromptEvents(EventHub()))
        self.interrupt.begin(prompt_id)  # an interrupt sent for this prompt before it started still stops it
        try:
            self._run(run, outputs)
        finally:
            self.interrupt.end()
        run.outcome.seconds = time.perf_counter() - started
        return run.outcome

    def _run(self, run: PromptRun, outputs: list[str]) -> None:
        prompt_id, prompt = run.prompt_id, run.prompt
        self._message(run, "execution_start", {"prompt_id": prompt_id, "timestamp": now_ms()})
        needed = ancestors(prompt, outputs)
        run.signatures = compute_signatures(self.registry, prompt, needed, lambda nid: self._fingerprint(run, nid))
        self.cache.pin({run.signatures[nid] for nid in needed})  # a model loaded mid-prompt must not evict these
        cached = [nid for nid in needed if run.signatures[nid] in self.cache]
        self._message(run, "execution_cached", {"nodes": cached, "prompt_id": prompt_id, "timestamp": now_ms()})
        try:
            self._run_graph(run, outputs)
            self._message(run, "execution_success", {"prompt_id": prompt_id, "timestamp": now_ms()})
        except NodeExecutionError as failure:
            self._report_failure(run, failure)

    def _fingerprint(self, run: PromptRun, node_id: str) -> Any:
        node = run.prompt[node_id]
        definition = self._definition(node_id, run.prompt)
        if definition.fingerprint is None:
            return None
        constants = {name: (None if is_link(value) else unwrap(value)) for name, value in node["inputs"].items()}
        try:
            return definition.fingerprint(self.folders, **constants)
        except Exception:
            return float("nan")

    def _definition(self, node_id: str, prompt: Prompt) -> NodeDefinition:
        definition = self.registry.get(prompt[node_id]["class_type"])
        assert definition is not None, "prompts are validated before they run"
        return definition

    def _run_graph(self, run: PromptRun, outputs: list[str]) -> None:
        strong: dict[str, set[str]] = {}
        pending: list[str] = []

        def follow(node_id: str) -> list[str]:
            if node_id in run.results or run.signatures[node_id] in self.cache:
                return []  # cached: its ancestors need not run
            return sorted(self._strong_sources(run, node_id))

        def schedule(root: str) -> None:
            for node_id in dependency_order(run.prompt, [root], follow):
                if node_id in strong or node_id in run.results:
                    continue
                entry = self.cache.get(run.signatures[node_id])
                if entry is not None:
                    strong[node_id] = set()
                    run.results[node_id] = entry.outputs
                    self._announce_cached(run, node_id, entry.ui)
                    continue
                strong[node_id] = self._strong_sources(run, node_id)
                pending.append(node_id)

        for output in outputs:
            schedule(output)
        while pending:
            node_id = next((nid for nid in pending if strong[nid] <= run.results.keys()), None)
            if node_id is None:
                raise NodeExecutionError(pending[0], RuntimeError("dependency cycle among " + ", ".join(pending)))
            requested = self._lazy_requests(run, node_id)
            if requested:
                strong[node_id] |= requested
                for source in requested:
                    schedule(source)
                pending.remove(node_id)
                pending.append(node_id)
                continue
            pending.remove(node_id)
            self._execute_node(run, node_id)

    def _strong_sources(self, run: PromptRun, node_id: str) -> set[str]:
        """The nodes this one needs before it can run: every link except lazy ones."""
        definition = self._definition(node_id, run.prompt)
        return {source for name, (source, _) in links_of(run.prompt[node_id]).items()
                if (spec := definition.input(name)) is None or not spec.lazy}

    def _announce_cached(self, run: PromptRun, node_id: str, ui: dict[str, list] | None) -> None:
        if ui:
            run.outcome.ui_outputs[node_id] = ui
            run.events.emit("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                         "prompt_id": run.prompt_id})

    def _lazy_requests(self, run: PromptRun, node_id: str) -> set[str]:
        """Sources of lazy inputs the node asks for now; empty when it can run."""
        definition = self._definition(node_id, run.prompt)
        if definition.check_lazy_status is None:
            return set()
        links = links_of(run.prompt[node_id])
        unevaluated = {name for name, (source, _) in links.items() if source not in run.results}
        if not unevaluated:
            return set()
        inputs = self._gather_inputs(run, node_id, definition)
        first = {name: values[0] if values else None for name, values in inputs.items()}
        instance = self._instance(node_id, definition)
        try:
            wanted = definition.check_lazy_status(instance, **first) or []
        except Exception as exc:
            raise NodeExecutionError(node_id, exc) from exc
        return {links[name][0] for name in wanted if name in unevaluated}

    def _instance(self, node_id: str, definition: NodeDefinition) -> Any:
        key = (node_id, definition.name)
        if key not in self.instances:
            self.instances[key] = definition.make_instance()
        return self.instances[key]

    def _gather_inputs(self, run: PromptRun, node_id: str, definition: NodeDefinition) -> dict[str, list[Any]]:
        node = run.prompt[node_id]
        inputs: dict[str, list[Any]] = {}
        for name, value in node["inputs"].items():
            if is_link(value):
                source_outputs = run.results.get(value[0])
                inputs[name] = source_outputs[int(value[1])] if source_outputs is not None else [None]
            elif definition.input(name) is not None:
                inputs[name] = [unwrap(value)]
        for spec in definition.section("hidden"):
            inputs[spec.name] = [self._hidden_value(run, node_id, spec.type)]
        return inputs

    def _hidden_value(self, run: PromptRun, node_id: str, kind: str) -> Any:
        if kind == "PROMPT":
            return run.prompt
        if kind == "EXTRA_PNGINFO":
            return run.extra_data.get("extra_pnginfo")
        if kind == "UNIQUE_ID":
            return node_id
        return None

    def _execute_node(self, run: PromptRun, node_id: str) -> None:
        definition = self._definition(node_id, run.prompt)
        if self.interrupt.is_set():
            raise NodeExecutionError(node_id, Interrupted())
        inputs = self._gather_inputs(run, node_id, definition)
        blocker = find_blocker(inputs)
        if blocker is not None and blocker.message is not None:
            raise NodeExecutionError(node_id, RuntimeError(blocker.message))
        if blocker is not None:  # a blocked node does not run; its outputs block the nodes after it
            run.results[node_id] = [[blocker] for _ in definition.outputs]
            return
        run.events.emit("executing", {"node": node_id, "display_node": node_id, "prompt_id": run.prompt_id})
        context = ExecutionContext(run.prompt_id, node_id, self.folders, self.models, self.devices, self.interrupt,
                                   self._progress_sink(run, node_id))
        token = enter_context(context)
        try:
            outputs, ui = self._call(definition, self._instance(node_id, definition), inputs, context)
        except Exception as exc:
            raise NodeExecutionError(node_id, exc) from exc
        finally:
            leave_context(token)
        run.results[node_id] = outputs
        run.outcome.executed.append(node_id)
        self.cache.put(run.signatures[node_id], outputs, ui)
        if ui:
            run.outcome.ui_outputs[node_id] = ui
            run.events.emit("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                         "prompt_id": run.prompt_id})

    def _progress_sink(self, run: PromptRun, node_id: str):
        def sink(value: int, total: int, preview: Any) -> None:
            run.events.emit("progress", {"value": value, "max": total, "prompt_id": run.prompt_id, "node": node_id})
            if preview is not None:
                run.events.preview(preview, run.prompt_id, node_id)

        return sink

    def _call(self, definition: NodeDefinition, instance: Any, inputs: dict[str, list[Any]],
              context: ExecutionContext) -> tuple[Outputs, dict[str, list] | None]:
        """Call the node once per list element (or once with whole lists), then merge per output slot."""
        if definition.input_is_list:
            calls = [inputs]
        else:
            count = max((len(values) for values in inputs.values()), default=1)
            if any(len(values) == 0 for values in inputs.values()):
                count = 0
            calls = [{name: values[min(i, len(values) - 1)] for name, values in inputs.items()}
                     for i in range(count)]
        outputs: Outputs = [[] for _ in definition.outputs]
        ui: dict[str, list] = {}
        for kwargs in calls:
            values, call_ui = _normalise(definition.run(instance, context, **kwargs), definition)
            for slot, value in enumerate(values):
                if definition.outputs[slot].is_list:
                    outputs[slot].extend(value)
                else:
                    outputs[slot].append(value)
            for key, items in (call_ui or {}).items():
                ui.setdefault(key, []).extend(items if isinstance(items, list) else [items])
        return outputs, ui or None

    def _message(self, run: PromptRun, event: str, data: dict[str, Any]) -> None:
        """An event that is both sent and recorded in the prompt's history."""
        run.outcome.messages.append([event, data])
        run.events.emit(event, data)

    def _report_failure(self, run: PromptRun, failure: NodeExecutionError) -> None:
        node_id, cause = failure.node_id, failure.cause
        class_type = run.prompt[node_id]["class_type"]
        base = {"prompt_id": run.prompt_id, "node_id": node_id, "node_type": class_type,
                "executed": list(run.outcome.executed)}
        if isinstance(cause, Interrupted):
            run.outcome.status = "interrupted"
            self._message(run, "execution_interrupted", {**base, "timestamp": now_ms()})
            return
        run.outcome.status = "error"
        self._message(run, "execution_error", {
            **base,
            "exception_message": f"{class_type} #{node_id}: {cause}",
            "exception_type": _qualified_name(cause),
            "traceback": traceback.format_exception(type(cause), cause, cause.__traceback__),
            "current_inputs": _input_summary(run.prompt[node_id]),
            "current_outputs": [nid for nid in run.results],
            "timestamp": now_ms(),
        })


def _normalise(result: Any, definition: NodeDefinition) -> tuple[tuple, dict[str, list] | None]:
    ui = None
    if hasattr(result, "outputs") and hasattr(result, "ui"):  # nodes.api.NodeResult
        result, ui = result.outputs, result.ui
    elif isinstance(result, dict):
        ui = result.get("ui")
        result = result.get("result", ())
    if result is None:
        result = ()
    if not isinstance(result, (tuple, list)):
        raise TypeError(f"{definition.name} returned {type(result).__name__}, expected a tuple of outputs")
    if len(result) != len(definition.outputs):
        raise TypeError(f"{definition.name} returned {len(result)} values for {len(definition.outputs)} outputs")
    return tuple(result), ui


def _qualified_name(error: BaseException) -> str:
    module = type(error).__module__
    return type(error).__name__ if module == "builtins" else f"{module}.{type(error).__name__}"


def _input_summary(node: dict[str, Any]) -> dict[str, list[str]]:
    summary = {}
    for name, value in node["inputs"].items():
        text = f"link to #{value[0]} output {value[1]}" if is_link(value) else repr(unwrap(value))
        summary[name] = [text if len(text) <= 200 else text[:197] + "..."]
    return summary


def new_prompt_id() -> str:
    return str(uuid.uuid4())
