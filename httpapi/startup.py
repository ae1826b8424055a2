"""Queueing a workflow file when the server starts (``--queue-workflow``), as the run command does."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from httpapi.submit import submit_workflow
from runtime import Runtime

log = logging.getLogger(__name__)


async def queue_on_start(runtime: Runtime, path: Path) -> None:
    try:
        workflow = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        log.error("cannot read workflow %s: %s", path, exc)
        return
    status, answer = submit_workflow(runtime, workflow)
    if status != 200:
        log.error("cannot queue %s: %s\n%s", path, answer["error"]["message"], answer["error"]["details"])
    else:
        log.info("queued %s as prompt %s", path.name, answer["prompt_id"])
