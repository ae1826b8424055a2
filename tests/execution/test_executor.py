"""Execution order, caching by signature, list mapping, lazy inputs, interrupts and node errors."""

from __future__ import annotations

from typing import Any

import pytest

from core.folders import Folders
from tests.execution.counting_nodes import CALLS, make_registry
from tests.harness import Harness

REGISTRY = make_registry()


@pytest.fixture
def executor(tmp_path) -> Harness:
    CALLS.clear()
    return Harness(Folders.under(tmp_path), REGISTRY)


def run(harness: Harness, prompt: dict, prompt_id: str = "p"):
    return harness.run(prompt, prompt_id)


def adder_prompt(a: int = 1, b: int = 2) -> dict:
    return {"1": {"class_type": "Number", "inputs": {"value": a}},
            "2": {"class_type": "Number", "inputs": {"value": b}},
            "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
            "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}},
            "5": {"class_type": "Number", "inputs": {"value": 9}}}  # not upstream of an output: never runs


def test_runs_only_ancestors_in_dependency_order(executor):
    outcome = run(executor, adder_prompt())
    assert outcome.status == "success"
    order = executor.recorded.executing()
    assert set(order) == {"1", "2", "3", "4"}
    assert order.index("3") > max(order.index("1"), order.index("2")) and order[-1] == "4"
    assert outcome.ui_outputs == {"4": {"values": [3]}}
    assert executor.recorded.names()[:2] == ["execution_start", "execution_cached"]
    assert executor.recorded.names()[-1] == "execution_success"


def test_requeue_runs_nothing_and_reports_cached(executor):
    run(executor, adder_prompt())
    before = CALLS.copy()
    outcome = run(executor, adder_prompt())
    assert before == CALLS
    cached = dict(executor.recorded.events)["execution_cached"]["nodes"]
    assert set(cached) == {"1", "2", "3", "4"}
    assert outcome.ui_outputs == {"4": {"values": [3]}}
    assert ("executed", {"node": "4", "display_node": "4", "output": {"values": [3]}, "prompt_id": "p"}) \
        in executor.recorded.events


def test_changing_one_widget_reruns_that_node_and_descendants_only(executor):
    run(executor, adder_prompt(1, 2))
    CALLS.clear()
    outcome = run(executor, adder_prompt(1, 5))
    assert executor.recorded.executing() == ["2", "3", "4"]
    assert CALLS == {"Number": 1, "Add": 1, "Show": 1}
    assert outcome.ui_outputs["4"] == {"values": [6]}


def test_cache_is_by_content_not_node_id(executor):
    run(executor, adder_prompt())
    renumbered = {"10": {"class_type": "Number", "inputs": {"value": 1}},
                  "20": {"class_type": "Number", "inputs": {"value": 2}},
                  "30": {"class_type": "Add", "inputs": {"a": ["10", 0], "b": ["20", 0]}},
                  "40": {"class_type": "Show", "inputs": {"value": ["30", 0]}}}
    CALLS.clear()
    run(executor, renumbered)
    assert CALLS == {}


def test_list_outputs_map_over_downstream_nodes(executor):
    prompt = {"1": {"class_type": "Range", "inputs": {"count": 4}},
              "2": {"class_type": "Number", "inputs": {"value": 10}},
              "3": {"class_type": "Add", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
              "4": {"class_type": "Sum", "inputs": {"values": ["3", 0]}},
              "5": {"class_type": "Show", "inputs": {"value": ["4", 0]}}}
    outcome = run(executor, prompt)
    assert CALLS["Add"] == 4 and CALLS["Sum"] == 1
    assert outcome.ui_outputs["5"] == {"values": [0 + 1 + 2 + 3 + 40]}


def test_lazy_inputs_evaluate_only_what_is_needed(executor):
    prompt = {"1": {"class_type": "Number", "inputs": {"value": 1}},
              "2": {"class_type": "Number", "inputs": {"value": 2}},
              "3": {"class_type": "Choose", "inputs": {"pick": 1, "first": ["1", 0], "second": ["2", 0]}},
              "4": {"class_type": "Show", "inputs": {"value": ["3", 0]}}}
    outcome = run(executor, prompt)
    assert outcome.ui_outputs["4"] == {"values": [2]}
    assert "1" not in executor.recorded.executing()
    assert CALLS["Number"] == 1


def test_node_error_ends_prompt_with_details_and_next_prompt_runs(executor):
    prompt = {"1": {"class_type": "Number", "inputs": {"value": 1}},
              "2": {"class_type": "Boom", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "Show", "inputs": {"value": ["2", 0]}}}
    outcome = run(executor, prompt)
    assert outcome.status == "error"
    error = dict(executor.recorded.events)["execution_error"]
    assert error["node_id"] == "2" and error["node_type"] == "Boom"
    assert error["exception_type"] == "RuntimeError" and "boom" in error["exception_message"]
    assert error["current_inputs"] == {"value": ["link to #1 output 0"]}
    assert any("raise RuntimeError" in line for line in error["traceback"])
    assert run(executor, adder_prompt()).status == "success"


def test_interrupt_stops_inside_a_node_at_its_next_progress_report(executor):
    prompt = {"1": {"class_type": "Steps", "inputs": {"steps": 50}},
              "2": {"class_type": "Show", "inputs": {"value": ["1", 0]}}}
    reports = []

    class InterruptAtThree:
        def on_event(self, event: str, data: dict[str, Any], client_id: str | None) -> None:
            reports.append(event)
            if event == "progress" and data["value"] == 3:
                executor.interrupt.set()

    from execution.events import EventHub, PromptEvents

    hub = EventHub([InterruptAtThree()])
    result = executor.validate(prompt)
    outcome = executor.executor.execute("p", result.prompt, result.good_outputs, {}, PromptEvents(hub, "c"))
    assert outcome.status == "interrupted"
    assert reports.count("progress") == 3
    assert "execution_interrupted" in reports


def test_outputs_of_older_prompts_are_evicted_beyond_the_budget(executor):
    executor.memory.max_bytes = 0  # nothing beyond the latest prompt may stay
    run(executor, adder_prompt(1, 2))
    run(executor, adder_prompt(3, 4))
    CALLS.clear()
    run(executor, adder_prompt(3, 4))
    assert CALLS == {}  # the latest prompt is pinned
    run(executor, adder_prompt(1, 2))
    assert CALLS["Add"] == 1  # the older prompt's outputs were evicted
