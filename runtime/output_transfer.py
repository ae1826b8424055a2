"""Files a worker on another machine saved, sent to the server's own output and temp folders.

A worker without the server's folders (a Ray actor on another machine, no ``--shared-output``) saves into a
private scratch folder; each ``executed`` event names the files it wrote (ComfyUI's ``{filename, subfolder, type}``
entries), and those files travel with the event. The server writes them under the same subfolder, with a new
counter when the name is taken, and the event (and the history) names the file as stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.folders import Folders, safe_join

KINDS = ("output", "temp")
MAX_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class SavedFile:
    kind: str  # "output" | "temp"
    subfolder: str
    filename: str
    data: bytes


def _root(folders: Folders, kind: str) -> Path:
    return folders.output_dir if kind == "output" else folders.temp_dir


def _entries(ui: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for values in ui.values() if isinstance(values, list) for entry in values
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str) and entry.get("type") in KINDS]


def file_path(folders: Folders, saved: SavedFile) -> Path:
    return safe_join(_root(folders, saved.kind), saved.subfolder, saved.filename)


def collect_files(ui: dict[str, Any], folders: Folders) -> list[SavedFile]:
    """The files an ``executed`` event's ``output`` names, read from the worker's folders."""
    files = []
    for entry in _entries(ui):
        path = safe_join(_root(folders, entry["type"]), entry.get("subfolder") or "", entry["filename"])
        if path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
            files.append(SavedFile(entry["type"], entry.get("subfolder") or "", entry["filename"], path.read_bytes()))
    return files


def store_files(files: list[SavedFile], folders: Folders) -> dict[tuple[str, str, str], str]:
    """Write the files into the server's folders; the new name of each file whose name was taken."""
    renamed = {}
    for saved in files:
        folder = safe_join(_root(folders, saved.kind), saved.subfolder)
        folder.mkdir(parents=True, exist_ok=True)
        name = _write_new(folder, Path(saved.filename).name, saved.data)
        if name != saved.filename:
            renamed[(saved.kind, saved.subfolder, saved.filename)] = name
    return renamed


def _write_new(folder: Path, name: str, data: bytes) -> str:
    """Write ``data`` to a new file named ``name``, or the same name with the next free counter (``x_00003_.png``
    -> ``x_00004_.png``); the name it got. Each name is claimed with O_EXCL, so two workers' files relayed at the
    same time never overwrite each other, and no existing file or link (even a dangling one) is written through."""
    for candidate in _names(name):
        try:
            with (folder / candidate).open("xb") as file:
                file.write(data)
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable: the names never run out")


def _names(name: str) -> Iterator[str]:
    yield name
    match = re.fullmatch(r"(.*?)(\d+)(_?\.[^.]+)", name)
    stem, number, suffix = (match.group(1), int(match.group(2)), match.group(3)) if match else (name + "_", 0, "")
    width = len(match.group(2)) if match else 5
    while True:
        number += 1
        yield f"{stem}{number:0{width}d}{suffix}"


def rename_entries(ui: dict[str, Any], renamed: dict[tuple[str, str, str], str]) -> dict[str, Any]:
    """``ui`` with each stored file's entry naming it as stored."""
    if not renamed:
        return ui
    result: dict[str, Any] = {}
    for key, values in ui.items():
        if not isinstance(values, list):
            result[key] = values
            continue
        result[key] = [
            {**entry, "filename": renamed.get((entry.get("type"), entry.get("subfolder") or "", entry["filename"]),
                                              entry["filename"])}
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str) else entry
            for entry in values]
    return result
