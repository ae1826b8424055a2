"""What a plug-in did while loading that it should not (pip, writes outside its folder, network, commands) is
reported by /api/atelier/plugins and logged, never blocked; a well-behaved pack reports nothing, and nothing is
watched outside plug-in loading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.registry import Registry
from nodes.plugin_audit import MAX_DETAILS, audit_plugin, summary
from nodes.plugins import load_plugins
from tests.conftest import InProcessServer, free_port, serve, stop_server

TESTS = Path(__file__).resolve().parent.parent
AUDIT_PACKS = TESTS / "plugins" / "audit_packs"


@pytest.fixture
def system_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system temp folder of its own: writes there are fine, and the test's other folders (under the real one)
    then count as outside."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def audited(tmp_path: Path, system_temp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessServer]:
    """A server whose custom_nodes/ holds the audit test packs (copied: they write next to custom_nodes/)."""
    custom_nodes = tmp_path / "custom_nodes"
    shutil.copytree(AUDIT_PACKS, custom_nodes, ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    monkeypatch.setenv("DOWNLOADER_PACK_URL", f"http://127.0.0.1:{free_port()}/model-list.json")  # nothing listens
    running = serve(tmp_path, "--custom-nodes-dir", str(custom_nodes))
    yield running
    stop_server(running)


def plugins_answer(server: InProcessServer) -> dict:
    with urllib.request.urlopen(server.url + "/api/atelier/plugins") as answer:
        return json.load(answer)


def test_each_pack_is_reported_for_what_it_did_at_import(audited, tmp_path):
    answer = plugins_answer(audited)
    assert answer["failed"] == []
    assert {"custom_nodes.leaky_pack", "custom_nodes.installer_pack", "custom_nodes.downloader_pack",
            "custom_nodes.quiet_pack"} <= set(answer["loaded"])
    found = {(a["module"], a["stage"], a["kind"]): a["details"] for a in answer["activities"]}
    assert set(found) == {("leaky_pack", "import", "write-outside"), ("installer_pack", "prestartup", "pip-install"),
                          ("installer_pack", "import", "subprocess"), ("downloader_pack", "import", "network")}

    # Its settings and temp file are fine; the folders made on the way to the copied file go without saying.
    extension = (tmp_path / "web" / "extensions" / "leaky_pack").resolve()
    assert found["leaky_pack", "import", "write-outside"] == [str(extension / "leaky.js")]
    assert found["installer_pack", "prestartup", "pip-install"] == [f"{sys.executable} -m pip --version"]
    assert found["installer_pack", "import", "subprocess"] == [f"{sys.executable} -c print('1.0.0')"]
    network = found["downloader_pack", "import", "network"]
    url = os.environ["DOWNLOADER_PACK_URL"]
    assert url in network and url.split("/")[2] in network, "the attempt counts though nothing answered"

    assert "Plug-in leaky_pack at import: wrote outside its folder: " in audited.log()
    assert "Plug-in installer_pack in prestartup_script.py: installed packages with pip: " in audited.log()


def test_the_shipped_and_the_test_plugins_report_nothing():
    registry = Registry()
    load_plugins(registry, [TESTS / "plugins", TESTS.parent / "custom_nodes"])
    assert registry.definitions and registry.activities == []


def test_only_the_loading_thread_is_watched_and_only_while_it_loads(tmp_path, system_temp):
    registry = Registry()
    pack, outside = tmp_path / "pack", tmp_path / "elsewhere"
    pack.mkdir()
    outside.mkdir()
    with audit_plugin(registry, pack):
        (pack / "settings.json").write_text("{}")
        (system_temp / "scratch.txt").write_text("x")
        other = threading.Thread(target=(outside / "other-thread.txt").write_text, args=("x",))
        other.start()
        other.join()
        (outside / "own.txt").write_text("x")
    (outside / "after.txt").write_text("x")
    subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, check=False)
    assert [(a.module, a.kind, a.details) for a in registry.activities] == [
        ("pack", "write-outside", [str((outside / "own.txt").resolve())])]


def test_details_are_distinct_short_and_capped(tmp_path, system_temp):
    registry = Registry()
    with audit_plugin(registry, tmp_path / "pack.py"):  # a single-file pack: its folder is custom_nodes/
        for _ in range(2):
            for index in range(MAX_DETAILS + 5):
                sys.audit("socket.connect", None, ("example.com", 8000 + index))
        sys.audit("os.system", b"pip3 install some-package")
        sys.audit("import", "pip._internal", None, [], [], [])
    by_kind = {a.kind: a for a in registry.activities}
    assert by_kind["network"].details == [f"example.com:{8000 + index}" for index in range(MAX_DETAILS)]
    assert by_kind["network"].more == 5
    assert by_kind["pip-install"].details == ["pip3 install some-package",
                                              "pip run inside the server's process (import pip._internal)"]
    assert summary(registry.activities).startswith(
        "Plug-in pack.py at import: installed packages with pip: pip3 install some-package, pip run inside")
    assert "example.com:8019 and 5 more" in summary(registry.activities)


def test_a_reporting_bug_never_breaks_the_pack(tmp_path, system_temp):
    registry = Registry()
    with audit_plugin(registry, tmp_path):
        sys.audit("open", 12.5, object(), "not flags")
        sys.audit("socket.connect", None, "not an address")
        sys.audit("subprocess.Popen", None, 42, None, None)
        sys.audit("os.rename")
    assert registry.activities == []
