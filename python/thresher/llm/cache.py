"""A score cache on disk: (model, question, document) -> log p(yes), log p(no).

One SQLite file (WAL mode, so worker processes of one run can share it). Scores are committed
after every scored batch, so a task that crashes or is killed resumes where it stopped: its
rerun finds the finished batches here and scores only the rest. The key is short:

    scope = sha256(model identity, question fingerprint, scoring options)[:16]
    doc   = blake2b(document text)[:16 bytes]

and a side table `scopes` keeps what each scope stands for, for people inspecting the file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_CHUNK = 500  # SQLite's parameter limit is 999 in old builds


def document_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def scope_key(description: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


class ScoreCache:
    def __init__(self, path: str | Path, timeout_s: float = 120.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS scores (scope TEXT NOT NULL, doc BLOB NOT NULL, "
                "log_p_yes REAL NOT NULL, log_p_no REAL NOT NULL, PRIMARY KEY (scope, doc)) WITHOUT ROWID"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS scopes (scope TEXT PRIMARY KEY, description TEXT NOT NULL)")
            self._db.commit()
        self.hits = 0
        self.misses = 0

    def register_scope(self, description: dict[str, Any]) -> str:
        key = scope_key(description)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO scopes VALUES (?, ?)", (key, json.dumps(description, sort_keys=True))
            )
            self._db.commit()
        return key

    def get(self, scope: str, docs: Sequence[bytes]) -> dict[bytes, tuple[float, float]]:
        found: dict[bytes, tuple[float, float]] = {}
        unique = list(dict.fromkeys(docs))
        with self._lock:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT doc, log_p_yes, log_p_no FROM scores WHERE scope = ? AND doc IN ({marks})",
                    (scope, *chunk),
                )
                for doc, yes, no in rows:
                    found[doc] = (yes, no)
        hit = sum(1 for d in docs if d in found)
        self.hits += hit
        self.misses += len(docs) - hit
        return found

    def put(self, scope: str, docs: Sequence[bytes], log_yes: np.ndarray, log_no: np.ndarray) -> None:
        rows = [(scope, d, float(y), float(n)) for d, y, n in zip(docs, log_yes, log_no, strict=True)]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", rows)
            self._db.commit()

    def count(self, scope: str | None = None) -> int:
        with self._lock:
            if scope is None:
                return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM scores WHERE scope = ?", (scope,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
