"""The names callers have always imported; the conversion lives in ``execution.workflows``."""

from execution.workflows import (
    Conversion,
    WorkflowError,
    check_workflow_shape,
    convert_workflow,
    is_ui_workflow,
    ui_to_api,
    widget_names,
)
from execution.workflows.convert import BYPASSED, MUTED, VIRTUAL_NODES

__all__ = ["BYPASSED", "MUTED", "VIRTUAL_NODES", "Conversion", "WorkflowError", "check_workflow_shape",
           "convert_workflow", "is_ui_workflow", "ui_to_api", "widget_names"]
