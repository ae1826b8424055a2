"""UI-format workflows (what the editor saves and PNGs embed) converted to API prompts, in one place: the editor
asks the server (``POST /api/atelier/convert``), and ``/atelier/run``, ``--queue-workflow`` and PNG drops call it
directly. ComfyUI leaves this to its browser front end; the rules here are the front end's."""

from execution.workflows.convert import Conversion, convert_workflow, ui_to_api
from execution.workflows.graph import WorkflowError, check_workflow_shape, is_ui_workflow
from execution.workflows.node_sources import NODE_SOURCES, missing_node_errors, node_source
from execution.workflows.widgets import widget_names

__all__ = ["NODE_SOURCES", "Conversion", "WorkflowError", "check_workflow_shape", "convert_workflow",
           "is_ui_workflow", "missing_node_errors", "node_source", "ui_to_api", "widget_names"]
