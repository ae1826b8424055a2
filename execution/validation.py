"""Validation of an API-format prompt before anything runs, collecting every problem at once.

The result has ComfyUI's shape: outputs whose whole upstream is valid run; ``node_errors`` lists the nodes
with their own errors, each error naming its input in ``extra_info.input_name``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from core.definition import WIDGET_TYPES, InputSpec, NodeDefinition
from core.errors import error, input_error
from core.folders import Folders
from core.registry import Registry
from execution.graph import Prompt, ancestors, dependency_order, find_cycle, is_link, unwrap
from execution.workflows.node_sources import missing_node_type_error

COMBO_LIST_SHOWN = 20


@dataclass
class ValidationResult:
    prompt: Prompt  # with constants coerced to their declared types
    good_outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def types_match(received: str, expected: str) -> bool:
    """ComfyUI's non-strict rule: equal, ``*`` on either side, or overlapping comma-separated unions."""
    if received == "*" or expected == "*" or received == expected:
        return True
    if expected == "COMBO" and received == "COMBO":
        return True
    return bool(set(received.split(",")) & set(expected.split(",")))


def validate_prompt(registry: Registry, folders: Folders, prompt: Any,
                    targets: list[str] | None = None) -> ValidationResult:
    """Check ``prompt`` against the node types of ``registry``; choices are the files ``folders`` hold now."""
    if not isinstance(prompt, dict) or not prompt:
        return ValidationResult({}, error=error("invalid_prompt", "Prompt must be a non-empty object of nodes"))
    problem = _check_node_types(registry, prompt)
    if problem is not None:
        return problem
    registry.refresh_inputs({node["class_type"] for node in prompt.values()})  # a plug-in's INPUT_TYPES, read now
    outputs = [nid for nid, node in prompt.items() if registry.get(node["class_type"]).output_node]
    if targets is not None:
        outputs = [nid for nid in outputs if nid in {str(t) for t in targets}]
    if not outputs:
        return ValidationResult(dict(prompt), error=error("prompt_no_outputs", "Prompt has no outputs",
                                                          "Add an output node such as Save Image."))
    return _Validator(registry, folders, prompt).run(outputs)


def _shape_problem(node_id: str, node: Any) -> dict[str, Any] | None:
    """An error when a node is not ``{"class_type": str, "inputs": {...}, "_meta": {...}}``."""
    if not isinstance(node, dict) or "class_type" not in node:
        return error("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                     f"Node ID '#{node_id}'", node_id=node_id)
    for key, kind, name in (("class_type", str, "a string"), ("inputs", dict, "an object"),
                            ("_meta", dict, "an object")):
        if key in node and node[key] is not None and not isinstance(node[key], kind):
            return error("invalid_prompt", f"Node #{node_id}: {key} must be {name}",
                         f"Node ID '#{node_id}', {key} is a {type(node[key]).__name__}", node_id=node_id)
    return None


def _check_node_types(registry: Registry, prompt: dict[str, Any]) -> ValidationResult | None:
    node_errors: dict[str, dict[str, Any]] = {}
    for node_id, node in prompt.items():
        problem = _shape_problem(str(node_id), node)
        if problem is not None:
            node_errors[str(node_id)] = _entry([problem], "")
        elif node["class_type"] not in registry:
            node_errors[str(node_id)] = _entry([missing_node_type_error(str(node_id), node)], str(node["class_type"]))
    if not node_errors:
        return None
    first = next(iter(node_errors.values()))["errors"][0]
    details = "; ".join(e["errors"][0]["details"] for e in node_errors.values())
    top = error(first["type"], first["message"] if len(node_errors) == 1 else
                f"{len(node_errors)} nodes cannot be executed (missing or unknown node types)", details,
                **first["extra_info"])
    return ValidationResult(dict(prompt), node_errors=node_errors, error=top)


def _entry(errors: list[dict[str, Any]], class_type: str) -> dict[str, Any]:
    return {"errors": errors, "dependent_outputs": [], "class_type": class_type}


class _Validator:
    def __init__(self, registry: Registry, folders: Folders, prompt: Prompt) -> None:
        self.registry = registry
        self.folders = folders
        self.source = prompt
        self.prompt: Prompt = {nid: {**node, "inputs": dict(node.get("inputs") or {})} for nid, node in prompt.items()}
        self.valid: dict[str, bool] = {}
        self.node_errors: dict[str, dict[str, Any]] = {}

    def run(self, outputs: list[str]) -> ValidationResult:
        cycle = find_cycle(self.prompt, outputs)
        if cycle is not None:
            self._report_cycle(cycle)
        for node_id in dependency_order(self.prompt, outputs):  # sources first keeps recursion shallow
            self._node_ok(node_id)
        good = []
        for output in outputs:
            if self._node_ok(output):
                good.append(output)
            else:
                self._mark_dependent(output)
        result = ValidationResult(self.prompt, good, self.node_errors)
        if not good:
            reasons = [f"{entry['class_type']} #{nid}: {e['message']}: {e['details']}"
                       for nid, entry in self.node_errors.items() for e in entry["errors"]]
            result.error = error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                                 "\n".join(reasons))
        return result

    def _report_cycle(self, cycle: list[str]) -> None:
        description = " -> ".join(f"#{nid}" for nid in cycle)
        for node_id in set(cycle):
            self._add(node_id, error("dependency_cycle", "The graph contains a cycle", description,
                                     cycle=cycle))
            self.valid[node_id] = False

    def _add(self, node_id: str, problem: dict[str, Any]) -> None:
        class_type = self.prompt[node_id]["class_type"]
        self.node_errors.setdefault(node_id, _entry([], class_type))["errors"].append(problem)

    def _mark_dependent(self, output: str) -> None:
        for node_id in ancestors(self.prompt, [output]):
            if node_id in self.node_errors:
                self.node_errors[node_id]["dependent_outputs"].append(output)

    def _node_ok(self, node_id: str) -> bool:
        if node_id in self.valid:
            return self.valid[node_id]
        self.valid[node_id] = True  # provisional; cycles were reported already
        definition = self.registry.get(self.prompt[node_id]["class_type"])
        assert definition is not None
        own_errors_before = len(self.node_errors.get(node_id, {}).get("errors", []))
        upstream_ok = self._check_inputs(node_id, definition)
        own_ok = len(self.node_errors.get(node_id, {}).get("errors", [])) == own_errors_before
        self.valid[node_id] = upstream_ok and own_ok
        return self.valid[node_id]

    def _check_inputs(self, node_id: str, definition: NodeDefinition) -> bool:
        inputs = self.prompt[node_id]["inputs"]
        received_types: dict[str, str] = {}
        upstream_ok = True
        declared = {spec.name for spec in definition.inputs if spec.section != "hidden"}
        for name in [name for name in inputs if name not in declared and not is_link(inputs[name])]:
            del inputs[name]  # undeclared constants are dropped, as ComfyUI does
        for spec in definition.inputs:
            if spec.section == "hidden":
                continue
            if spec.name not in inputs:
                if spec.section == "required":
                    self._add(node_id, input_error("required_input_missing", "Required input is missing",
                                                   spec.name, f"{spec.name} is required but not connected or set"))
                continue
            value = inputs[spec.name]
            if isinstance(value, list):
                ok, received = self._check_link(node_id, definition, spec, value)
                upstream_ok &= ok
                if received is not None:
                    received_types[spec.name] = received
            else:
                self._check_constant(node_id, definition, spec, value)
        self._custom_validation(node_id, definition, received_types)
        return upstream_ok

    def _check_link(self, node_id: str, definition: NodeDefinition, spec: InputSpec,
                    value: list) -> tuple[bool, str | None]:
        if not is_link(value):
            self._add(node_id, input_error("bad_linked_input", "Bad linked input, must be a length-2 list of "
                                           "[node_id, slot_index]", spec.name, received_value=value))
            return True, None
        source_id, slot = value[0], int(value[1])
        source = self.prompt.get(source_id)
        if source is None:
            self._add(node_id, input_error("bad_linked_input", "Linked node does not exist", spec.name,
                                           f"{spec.name} is linked to node #{source_id}, which is not in the prompt",
                                           linked_node=value))
            return True, None
        source_def = self.registry.get(source["class_type"])
        assert source_def is not None
        if not 0 <= slot < len(source_def.outputs):
            self._add(node_id, input_error("bad_linked_input", "Linked output does not exist", spec.name,
                                           f"{spec.name} is linked to output {slot} of {source['class_type']} "
                                           f"#{source_id}, which has {len(source_def.outputs)} outputs",
                                           linked_node=value))
            return True, None
        received = source_def.outputs[slot].type
        checks_types_itself = "input_types" in definition.validate_takes
        if not checks_types_itself and not types_match(received, spec.type):
            self._add(node_id, input_error(
                "return_type_mismatch", "Return type mismatch between linked nodes", spec.name,
                f"{spec.name}, received_type({received}) mismatch input_type({spec.type})",
                received_type=received, linked_node=value, input_config=list(spec.to_comfy(self.folders))))
        return self._node_ok(source_id), received

    def _check_constant(self, node_id: str, definition: NodeDefinition, spec: InputSpec, raw: Any) -> None:
        if spec.name in definition.validate_takes or "*" in definition.validate_takes:
            return
        value = unwrap(raw)
        if spec.type not in WIDGET_TYPES and spec.type != "*":
            self._add(node_id, input_error(
                "invalid_input_type", f"Input expects a link from a {spec.type} output", spec.name,
                f"{spec.name} must be connected to a {spec.type} output, not set to a value", received_value=value))
            return
        try:
            value = _coerce(spec.type, value)
        except (TypeError, ValueError):
            self._add(node_id, input_error("invalid_input_type",
                                           f"Failed to convert an input value to a {spec.type} value", spec.name,
                                           f"{spec.name}, {value!r}", received_value=value))
            return
        problem = _range_problem(spec, value) or _choice_problem(spec, value, self.folders)
        if problem is not None:
            self._add(node_id, problem)
            return
        self.prompt[node_id]["inputs"][spec.name] = value

    def _custom_validation(self, node_id: str, definition: NodeDefinition, received: dict[str, str]) -> None:
        if definition.validate is None:
            return
        inputs = self.prompt[node_id]["inputs"]
        # Linked inputs have no value yet: like ComfyUI, they are not passed at all.
        values = {spec.name: unwrap(inputs[spec.name]) for spec in definition.inputs
                  if spec.section != "hidden" and spec.name in inputs and not is_link(inputs[spec.name])}
        takes = definition.validate_takes
        if takes and "*" not in takes:
            values = {name: value for name, value in values.items() if name in takes}
        if "input_types" in takes:
            values["input_types"] = received
        try:
            verdict = definition.validate(self.folders, **values)
        except Exception as exc:  # a plug-in's validator must not crash validation
            self._add(node_id, error("exception_during_inner_validation", "Exception when validating inner node",
                                     f"{type(exc).__name__}: {exc}"))
            return
        if verdict is not True:
            self._add(node_id, error("custom_validation_failed", "Custom validation failed for node",
                                     str(verdict)))


def _coerce(kind: str, value: Any) -> Any:
    if kind == "INT":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if kind == "FLOAT":
        result = float(value)
        if math.isnan(result):
            raise ValueError(value)
        return result
    if kind == "STRING":
        if isinstance(value, (dict, list)):
            raise TypeError(value)
        return str(value)
    if kind == "BOOLEAN":
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return bool(value)
    return value


def _range_problem(spec: InputSpec, value: Any) -> dict[str, Any] | None:
    if spec.type not in ("INT", "FLOAT"):
        return None
    low, high = spec.options.get("min"), spec.options.get("max")
    config = [spec.type, dict(spec.options)]
    if low is not None and value < low:
        return input_error("value_smaller_than_min", f"Value {value} smaller than min of {low}", spec.name,
                           f"{spec.name}: {value} is below the minimum {low}", received_value=value,
                           input_config=config)
    if high is not None and value > high:
        return input_error("value_bigger_than_max", f"Value {value} bigger than max of {high}", spec.name,
                           f"{spec.name}: {value} is above the maximum {high}", received_value=value,
                           input_config=config)
    return None


def _choice_problem(spec: InputSpec, value: Any, folders: Folders) -> dict[str, Any] | None:
    if spec.type != "COMBO":
        return None
    choices = spec.current_choices(folders)
    if value in choices:
        return None
    shown = choices if len(choices) <= COMBO_LIST_SHOWN else f"(list of length {len(choices)})"
    hint = " (the file is not installed in that model folder)" if str(value).endswith(
        (".safetensors", ".ckpt", ".pt", ".pth", ".bin")) else ""
    return input_error("value_not_in_list", "Value not in list", spec.name,
                       f"{spec.name}: '{value}' not in {shown}{hint}", received_value=value,
                       input_config=None if len(choices) > COMBO_LIST_SHOWN else [choices, dict(spec.options)])
