"""Queueing a workflow file when the server starts (``--queue-workflow``), as the run command does."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

from execution.validation import validate_prompt
from execution.workflow_format import is_ui_workflow, ui_to_api
from httpapi.runtime import Runtime

log = logging.getLogger(__name__)


async def queue_on_start(runtime: Runtime, path: Path) -> None:
    workflow = json.loads(path.read_text())
    extra: dict = {}
    if is_ui_workflow(workflow):
        extra = {"extra_pnginfo": {"workflow": workflow}}
        workflow = ui_to_api(workflow, runtime.registry.object_info())
    result = validate_prompt(runtime.registry, workflow)
    if not result.ok:
        log.error("cannot queue %s: %s\n%s", path, result.error["message"], result.error["details"])
        return
    prompt_id = str(uuid.uuid4())
    runtime.queue.put(prompt_id, runtime.queue.next_number(), result.prompt, extra, result.good_outputs)
    log.info("queued %s as prompt %s", path.name, prompt_id)
