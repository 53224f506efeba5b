"""The job journal: one SQLite file (WAL mode) that only the driver writes.

``items`` holds each photo's current state; ``history`` is append-only, one row per attempt
start and end, so what happened can be audited (every item has exactly one ``done`` row once it
is done, whatever was interrupted on the way). Every change is its own transaction: a killed
driver loses at most the results it had not recorded yet, and the next run finds their outputs
(written atomically) and keeps them.

States: ``pending`` -> ``running`` (dispatched) -> ``done`` | ``failed``. A ``running`` item
found by a new run was interrupted; it is dispatched again with ``adopt=True``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from photomend.errors import InputError, OutputError

try:
    import fcntl
except ImportError:  # not POSIX: no lock against a second driver
    fcntl = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,   -- times dispatched
    failures INTEGER NOT NULL DEFAULT 0,   -- attempts that failed (the retry budget counts these)
    error TEXT,
    kind TEXT,                             -- input | output | conflict | unexpected | crash
    checksum TEXT,                         -- SHA-256 of the output file once done
    seconds REAL,
    worker TEXT,
    notes TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event TEXT NOT NULL,                   -- started | done | failed | skipped
    at REAL NOT NULL,
    detail TEXT
);
"""


@dataclass(frozen=True)
class Record:
    """One row of ``items``."""

    key: str
    input: str
    output: str
    status: str
    attempts: int
    failures: int
    error: str | None
    kind: str | None
    checksum: str | None


class Journal:
    """The journal of one job. Use as a context manager; holds an exclusive lock on
    ``<journal>.lock`` so that two drivers never run the same job at once."""

    def __init__(self, path: str | os.PathLike[str], *, fingerprint: str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115
        except OSError as exc:
            raise OutputError(f"cannot create the journal {self.path}: {exc.strerror or exc}")
        try:
            if fcntl is not None:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise OutputError(f"another photomend batch is running this job (journal "
                              f"{self.path} is locked)") from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # safe against a killed process
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            self.close()
            raise OutputError(f"cannot open the journal {self.path}: {exc}") from None
        self._check_fingerprint(fingerprint)

    def _check_fingerprint(self, fingerprint: str) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        elif row[0] != fingerprint:
            self.close()
            raise InputError(
                f"the journal {self.path} belongs to a job with other steps or output settings; "
                "give this job its own output folder (or [output] journal), or delete the journal "
                "to start over")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
            self.db = None
        if not self._lock.closed:
            if fcntl is not None:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    # -- reading ----------------------------------------------------------------------------

    def records(self) -> dict[str, Record]:
        rows = self.db.execute("SELECT key, input, output, status, attempts, failures, error, "
                               "kind, checksum FROM items")
        return {r[0]: Record(*r) for r in rows}

    def failures(self, key: str) -> int:
        row = self.db.execute("SELECT failures FROM items WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM items GROUP BY status"))

    def history(self, key: str | None = None) -> list[tuple[str, str, str | None]]:
        sql, args = "SELECT key, event, detail FROM history", ()
        if key is not None:
            sql, args = sql + " WHERE key = ?", (key,)
        return list(self.db.execute(sql + " ORDER BY id", args))

    # -- writing (one transaction each) -----------------------------------------------------

    def add(self, items: Iterable[tuple[str, str, str]]) -> None:
        """Record new items (key, input, output) as pending; known keys are left alone."""
        now = time.time()
        with self._tx():
            self.db.executemany(
                "INSERT OR IGNORE INTO items (key, input, output, status, updated) "
                "VALUES (?, ?, ?, 'pending', ?)", [(k, i, o, now) for k, i, o in items])

    def reset(self, key: str, *, failures: bool = False) -> None:
        """Back to pending (an output that vanished, or --reset-failed)."""
        with self._tx():
            sql = "UPDATE items SET status = 'pending', checksum = NULL, updated = ?"
            sql += ", failures = 0" if failures else ""
            self.db.execute(sql + " WHERE key = ?", (time.time(), key))

    def started(self, key: str) -> None:
        with self._tx():
            self.db.execute("UPDATE items SET status = 'running', attempts = attempts + 1, "
                            "updated = ? WHERE key = ?", (time.time(), key))
            self._event(key, "started", None)

    def finished(self, result: dict[str, Any]) -> None:
        """Record a worker's result (see :meth:`photomend.batch.worker.Pipeline.process`)."""
        key, now = result["key"], time.time()
        notes = json.dumps(result.get("notes") or []) if result.get("notes") else None
        with self._tx():
            if result["status"] == "done":
                self.db.execute(
                    "UPDATE items SET status = 'done', checksum = ?, error = NULL, kind = NULL, "
                    "seconds = ?, worker = ?, notes = ?, updated = ? WHERE key = ?",
                    (result["checksum"], result.get("seconds"), result.get("worker"), notes, now,
                     key))
                self._event(key, "done", result["checksum"])
            else:
                self.db.execute(
                    "UPDATE items SET status = 'failed', failures = failures + 1, error = ?, "
                    "kind = ?, seconds = ?, worker = ?, notes = ?, updated = ? WHERE key = ?",
                    (result["error"], result.get("kind"), result.get("seconds"),
                     result.get("worker"), notes, now, key))
                self._event(key, "failed", result["error"])

    def _event(self, key: str, event: str, detail: str | None) -> None:
        self.db.execute("INSERT INTO history (key, event, at, detail) VALUES (?, ?, ?, ?)",
                        (key, event, time.time(), detail))

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")


def read_journal(path: str | os.PathLike[str]) -> Iterator[Record]:
    """The items of a journal, read-only (for reports and tests); no lock taken."""
    db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT key, input, output, status, attempts, failures, error, kind, "
                          "checksum FROM items ORDER BY key").fetchall()
    finally:
        db.close()
    yield from (Record(*r) for r in rows)
