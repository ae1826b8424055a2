"""Files a worker on another machine saved, sent to the server's own output and temp folders.

A worker without the server's folders (a Ray actor on another machine, no ``--shared-output``) saves into a
private scratch folder; each ``executed`` event names the files it wrote (ComfyUI's ``{filename, subfolder, type}``
entries), and those files travel with the event. The server writes them under the same subfolder, with a new
counter when the name is taken, and the event (and the history) names the file as stored.
"""

from __future__ import annotations

import re
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
        name = _free_name(folder, Path(saved.filename).name)
        (folder / name).write_bytes(saved.data)
        if name != saved.filename:
            renamed[(saved.kind, saved.subfolder, saved.filename)] = name
    return renamed


def _free_name(folder: Path, name: str) -> str:
    """``name``, or the same name with the next free counter (``x_00003_.png`` -> ``x_00004_.png``)."""
    if not (folder / name).exists():
        return name
    match = re.fullmatch(r"(.*?)(\d+)(_?\.[^.]+)", name)
    stem, number, suffix = (match.group(1), int(match.group(2)), match.group(3)) if match else (name + "_", 0, "")
    width = len(match.group(2)) if match else 5
    while True:
        number += 1
        candidate = f"{stem}{number:0{width}d}{suffix}"
        if not (folder / candidate).exists():
            return candidate


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
