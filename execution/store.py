"""Durable queue and history in SQLite under the user folder, so a restart loses nothing.

Every change is one transaction in WAL mode: a crash leaves either the old or the new state. A prompt that
was running when the process died is pending again after a restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

MAX_HISTORY = 10000

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    prompt_id TEXT PRIMARY KEY,
    number REAL NOT NULL,
    item TEXT NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_shards (
    run TEXT NOT NULL,
    shard INTEGER NOT NULL,
    shards INTEGER NOT NULL,
    prompt_id TEXT NOT NULL,
    worker TEXT,
    PRIMARY KEY (run, shard)
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT UNIQUE NOT NULL,
    entry TEXT NOT NULL
);
"""


class PromptStore:
    def __init__(self, path: Path | None) -> None:
        """A store in the SQLite file ``path``, or in memory when None (a worker: its server keeps the queue)."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._add_column("queue", "worker", "TEXT")  # stores made before workers were named

    def _add_column(self, table: str, column: str, kind: str) -> None:
        columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _write(self, sql: str, params: tuple = ()) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(sql, params)

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # queue
    def add_pending(self, prompt_id: str, number: float, item: list[Any], seq: int) -> None:
        self._write("INSERT OR REPLACE INTO queue (prompt_id, number, item, running, seq) VALUES (?, ?, ?, 0, ?)",
                    (prompt_id, number, json.dumps(item), seq))

    def mark_running(self, prompt_id: str, worker: str | None = None) -> None:
        self._write("UPDATE queue SET running = 1, worker = ? WHERE prompt_id = ?", (worker, prompt_id))

    def mark_pending(self, prompt_id: str) -> None:
        self._write("UPDATE queue SET running = 0, worker = NULL WHERE prompt_id = ?", (prompt_id,))

    def remove_pending(self, prompt_id: str) -> None:
        self._write("DELETE FROM queue WHERE prompt_id = ?", (prompt_id,))

    def clear_pending(self) -> None:
        self._write("DELETE FROM queue WHERE running = 0")

    def queued_items(self) -> list[tuple[list[Any], int]]:
        """Every queued prompt (running ones included: they did not finish) with its insertion sequence."""
        rows = self._read("SELECT item, seq FROM queue ORDER BY running DESC, number, seq")
        return [(json.loads(item), seq) for item, seq in rows]

    def finished_shards(self, run: str, shards: int) -> set[int]:
        """The shards of dataset run ``run`` (split into ``shards``) that finished."""
        rows = self._read("SELECT shard FROM run_shards WHERE run = ? AND shards = ?", (run, shards))
        return {int(row[0]) for row in rows}

    # history
    def finish(self, prompt_id: str, entry: dict[str, Any], shard: dict[str, Any] | None = None) -> None:
        """Record a finished prompt and drop it from the queue in one transaction; ``shard`` ({run, shard, shards})
        also records a dataset run's shard as done."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM queue WHERE prompt_id = ?", (prompt_id,))
            if shard is not None:
                self._db.execute("INSERT OR REPLACE INTO run_shards (run, shard, shards, prompt_id, worker) "
                                 "VALUES (?, ?, ?, ?, ?)", (str(shard["run"]), int(shard["shard"]),
                                                            int(shard["shards"]), prompt_id,
                                                            (entry.get("worker") or {}).get("name")))
            self._db.execute("INSERT OR REPLACE INTO history (prompt_id, entry) VALUES (?, ?)",
                             (prompt_id, json.dumps(entry, default=repr)))  # a plug-in's odd UI value
            self._db.execute("DELETE FROM history WHERE seq NOT IN "
                             "(SELECT seq FROM history ORDER BY seq DESC LIMIT ?)", (MAX_HISTORY,))

    def history(self, max_items: int | None = None, offset: int = -1) -> dict[str, Any]:
        """Entries oldest first; ``offset`` -1 means "the last max_items", as ComfyUI's /history."""
        total = self._read("SELECT COUNT(*) FROM history")[0][0]
        if offset < 0:
            offset = max(0, total - max_items) if max_items is not None else 0
        limit = max_items if max_items is not None else -1
        rows = self._read("SELECT prompt_id, entry FROM history ORDER BY seq LIMIT ? OFFSET ?", (limit, offset))
        return {prompt_id: json.loads(entry) for prompt_id, entry in rows}

    def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT entry FROM history WHERE prompt_id = ?", (prompt_id,))
        return json.loads(rows[0][0]) if rows else None

    def delete_history(self, prompt_ids: list[str]) -> None:
        for prompt_id in prompt_ids:
            self._write("DELETE FROM history WHERE prompt_id = ?", (str(prompt_id),))

    def clear_history(self) -> None:
        self._write("DELETE FROM history")

    def close(self) -> None:
        with self._lock:
            self._db.close()
