"""A dataset run end to end: the shipped sharded digits workflow, queued on a server with two worker processes,
is split into shard prompts that both workers run, and its merged metrics equal one process running every item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.folders import Folders
from tests.conftest import ROOT, serve, stop_server
from tests.harness import Harness
from tests.runtime.worker_helpers import wait_for_history
from tests.server.api_client import http

WORKFLOW = ROOT / "workflows" / "dataset_digits_sharded.json"
METRICS = ("fid", "is_mean", "is_std")  # KID and precision/recall need reference images, not a stats file


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    running = serve(tmp_path_factory.mktemp("dataset"), "--workers", "2", models_dir=ROOT / "models")
    yield running
    stop_server(running)


def small_run(url: str) -> dict:
    """The shipped workflow as an API prompt, cut to 24 items in 3 shards and fewer steps (fast on a CPU)."""
    status, body = http(url + "/api/atelier/convert", {"workflow": json.loads(WORKFLOW.read_text())})
    assert status == 200, body
    prompt = json.loads(body)["prompt"]
    prompt["1"]["inputs"].update(count=24, shard_size=8, seed=5)
    prompt["3"]["inputs"]["steps"], prompt["13"]["inputs"]["steps"] = 4, 2
    return prompt


def compared(output_dir: Path) -> list[dict]:
    files = sorted(output_dir.glob("dataset_digits_*_.json"))
    assert len(files) == 1, files  # Compare Models ran once, after the last shard
    return json.loads(files[0].read_text())


def test_a_sharded_run_on_two_workers_equals_one_process(two_workers, tmp_path):
    url = two_workers.url
    prompt = small_run(url)
    status, body = http(url + "/prompt", {"prompt": prompt})
    assert status == 200, body
    answer = json.loads(body)
    shards = answer["shards"]
    assert (shards["count"], shards["queued_shards"], answer["prompt_id"]) == (3, [0, 1, 2], shards["report"])
    history = wait_for_history(url, [*shards["queued"], shards["report"]], timeout=300)
    assert all(entry["status"]["status_str"] == "success" for entry in history.values())
    assert {history[shard_id]["worker"]["name"] for shard_id in shards["queued"]} == {"worker-0", "worker-1"}
    assert "11" in history[shards["report"]]["outputs"]  # Compare Models ran in the report prompt
    assert not any("11" in history[shard_id]["outputs"] for shard_id in shards["queued"])
    sharded = compared(two_workers.base / "output")

    # One process running every item (shard -1), with the workers' arithmetic: each of the 2 workers computes on
    # 1 of the 2 cores, and a different thread count changes convolutions in their last bits.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outcome = Harness(Folders.under(tmp_path, models_dir=ROOT / "models")).run(prompt)
    finally:
        torch.set_num_threads(threads)
    assert outcome.status == "success", outcome.messages
    single = compared(tmp_path / "output")
    assert [row["label"] for row in sharded] == [row["label"] for row in single]
    for merged, whole in zip(sharded, single, strict=True):
        assert merged["num_images"] == whole["num_images"] == 24
        for key in METRICS:
            # the same images, summed in another order: 24 images in 128 feature dimensions make a singular
            # covariance, which turns 1e-16 differences into ~1e-8 relative (tests/engine/test_shard_stats.py
            # checks FID to 1e-6 absolute where the features are well conditioned)
            assert merged[key] == pytest.approx(whole[key], rel=1e-6, abs=1e-9), key

    again = json.loads(http(url + "/prompt", {"prompt": prompt})[1])["shards"]
    assert (again["done_shards"], again["queued_shards"]) == ([0, 1, 2], [])  # recorded: only the report again
    assert wait_for_history(url, [again["report"]])[again["report"]]["status"]["status_str"] == "success"
