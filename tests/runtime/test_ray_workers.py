"""``--ray``: a real local Ray cluster with two logical GPUs, so device placement is exercised without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.folders import Folders
from execution.events import EventHub
from execution.queue import QueueItem
from runtime.settings import Settings
from tests.conftest import serve, stop_server
from tests.runtime.worker_helpers import PACK, die_once, queue, wait_for_history, who_runs
from tests.server.api_client import run_prompt

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=3, num_gpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_server(cluster, tmp_path_factory):
    running = serve(tmp_path_factory.mktemp("ray"), "--ray", "local", "--custom-nodes-dir", str(PACK))
    yield running
    stop_server(running)


def test_one_actor_per_gpu_each_seeing_only_its_own(ray_server):
    ids = [queue(ray_server.url, who_runs(0.8, tag)) for tag in range(4)]
    history = wait_for_history(ray_server.url, ids)
    seen = {(entry["worker"]["name"], tuple(entry["worker"]["gpu_ids"]), entry["outputs"]["1"]["gpus"][0])
            for entry in history.values()}
    assert {name for name, _, _ in seen} == {"ray-0", "ray-1"}
    assert sorted(gpus for _, gpus, _ in seen) == [("0",), ("1",)]  # one logical GPU each, never shared
    for _, gpus, visible in seen:  # Ray set CUDA_VISIBLE_DEVICES to the actor's one GPU
        assert visible == gpus[0]


def test_progress_streams_from_an_actor_while_its_prompt_runs(ray_server):
    prompt = {"1": {"class_type": "SlowSteps", "inputs": {"steps": 3, "seconds": 0.05}}}
    _, messages, _ = run_prompt(ray_server.url, ray_server.ws_url, prompt)
    assert [m["data"]["value"] for m in messages if m["type"] == "progress"] == [1, 2, 3]
    assert any(m["type"] == "executed" and m["data"]["output"] == {"steps": [3]} for m in messages)


def test_an_actor_that_dies_mid_prompt_loses_nothing(ray_server, tmp_path):
    dying = queue(ray_server.url, die_once(tmp_path / "died"))
    entry = wait_for_history(ray_server.url, [dying])[dying]
    assert entry["status"]["status_str"] == "success"
    assert entry["outputs"]["1"]["pid"][0] != int((tmp_path / "died").read_text())
    assert "queued again" in ray_server.log()


def test_files_of_a_worker_without_shared_folders_reach_the_server(cluster, tmp_path):
    from runtime.ray_workers import RayRunner

    folders = Folders.under(tmp_path)
    (folders.output_dir / "notes").mkdir(parents=True)
    (folders.output_dir / "notes" / "note_00001_.txt").write_text("already here")
    runner = RayRunner(Settings(folders, custom_node_dirs=[PACK]), "ray-remote", 0, transfer_outputs=True)
    events = Recorder()
    note = {"1": {"class_type": "SaveNote", "inputs": {"text": "from afar"}}}
    other = {"1": {"class_type": "SaveNote", "inputs": {"text": "no one watches"}}}
    try:
        outcome = runner.run(QueueItem(0, 0, "p", note, {"client_id": "c"}, ["1"]), events.hub)
        unwatched = runner.run(QueueItem(1, 1, "q", other, {}, ["1"]), events.hub)  # no client: no executed event
        again = runner.run(QueueItem(2, 2, "r", note, {"client_id": "c"}, ["1"]), events.hub)
    finally:
        runner.close()
    stored = outcome.ui_outputs["1"]["images"][0]
    assert stored == {"filename": "note_00002_.txt", "subfolder": "notes", "type": "output"}  # renamed: 1 was taken
    assert (folders.output_dir / "notes" / "note_00002_.txt").read_text() == "from afar"
    assert (folders.output_dir / "notes" / "note_00001_.txt").read_text() == "already here"
    executed = [data for event, data in events.sent if event == "executed"]
    assert executed[0]["output"]["images"][0]["filename"] == "note_00002_.txt"
    assert unwatched.ui_outputs["1"]["images"][0]["filename"] == "note_00003_.txt"
    assert (folders.output_dir / "notes" / "note_00003_.txt").read_text() == "no one watches"
    # the first prompt again: its Save node is cached on the worker, whose ui names the file the first run sent
    assert again.ui_outputs["1"]["images"][0]["filename"] == "note_00002_.txt"
    assert executed[-1]["output"]["images"][0]["filename"] == "note_00002_.txt"
    assert len(list((folders.output_dir / "notes").iterdir())) == 3


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.hub = EventHub()
        self.hub.subscribe(self)

    def on_event(self, event: str, data: dict, client_id: str | None) -> None:
        self.sent.append((event, data))

    def on_preview(self, image, client_id, prompt_id, node_id) -> None:
        pass


def test_settings_cross_to_an_actor_unchanged(tmp_path):
    settings = Settings(Folders.under(tmp_path), custom_node_dirs=[PACK], ray_address="local")
    assert ray.cloudpickle.loads(ray.cloudpickle.dumps(settings)) == settings
    assert isinstance(settings.folders.output_dir, Path)
