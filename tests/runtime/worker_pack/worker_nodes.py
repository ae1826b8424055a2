"""Nodes for the worker tests: which process and GPU ran a prompt, a worker that dies once, slow progress, and a
saved file (loaded as a plug-in by every worker process or Ray actor)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nodes.api import ExecutionContext, Float, Int, Node, NodeResult, String


class WhoRuns(Node):
    """Reports the process and the GPUs it sees, after ``seconds``."""

    output_node = True
    inputs = [Float("seconds", 0.0, min=0.0, max=60.0), Int("tag", 0, min=0, max=1 << 30)]
    outputs = []

    def execute(self, seconds: float, tag: int) -> NodeResult:
        time.sleep(seconds)
        return NodeResult((), {"pid": [os.getpid()], "gpus": [os.environ.get("CUDA_VISIBLE_DEVICES", "")],
                               "tag": [tag]})


class DieOnce(Node):
    """Kills its own process the first time (leaving a marker file), and succeeds after."""

    output_node = True
    inputs = [String("marker", "")]
    outputs = []

    def execute(self, marker: str) -> NodeResult:
        path = Path(marker)
        if not path.exists():
            path.write_text(str(os.getpid()))
            os._exit(3)
        return NodeResult((), {"pid": [os.getpid()]})


class SlowSteps(Node):
    """``steps`` progress steps of ``seconds`` each; stops when interrupted."""

    output_node = True
    inputs = [Int("steps", 5, min=1, max=1000), Float("seconds", 0.1, min=0.0, max=10.0)]
    outputs = []

    def execute(self, steps: int, seconds: float, context: ExecutionContext) -> NodeResult:
        for step in range(steps):
            time.sleep(seconds)
            context.progress(step + 1, steps)
        return NodeResult((), {"steps": [steps]})


class SaveNote(Node):
    """Writes ``text`` to ``output/notes/note_00001_.txt`` (the next free counter) and names it as images are named."""

    output_node = True
    inputs = [String("text", "hello")]
    outputs = []

    def execute(self, text: str, context: ExecutionContext) -> NodeResult:
        folder = context.folders.output_dir / "notes"
        folder.mkdir(parents=True, exist_ok=True)
        counter = 1 + len(list(folder.glob("note_*_.txt")))
        name = f"note_{counter:05d}_.txt"
        (folder / name).write_text(text)
        return NodeResult((), {"images": [{"filename": name, "subfolder": "notes", "type": "output"}]})


ATELIER_NODES = [WhoRuns, DieOnce, SlowSteps, SaveNote]
