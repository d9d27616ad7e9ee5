"""The agent's outbox on disk: every message waits here until the broker has acknowledged it.

A school's uplink goes down for hours, the gateway loses power, the agent is restarted;
none of that may lose a measurement. So a message is written to SQLite (WAL journal,
synchronous=FULL: on disk before append() returns) and removed only once the broker has
sent its PUBACK. The spool is bounded: when it is full the oldest messages are dropped
and counted, and the count survives restarts so the health message can report it. Rows
the publisher has sent and awaits a PUBACK for are skipped: paho resends them when the
line is back, so counting them as dropped would report as lost what arrives.

The spool never stops the measuring side. A full disk loses the message being added
(logged, counted as dropped); a corrupted file is moved aside and a new one started.

Threads: one connection guarded by one lock. The paho network side removes acknowledged
messages while the measuring side appends; SQLite serialises writers anyway, each
operation is a short transaction, and the in-memory counts (depth, bytes, drops not yet
written) must change together with the rows, which one lock makes simple to get right.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from schoolnet_core.private import private_dir, private_file

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_MAX_MESSAGES = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Bounds the disk a long outage can take on the gateway: a broadband result is about
600 bytes, a sweep of a large school's classrooms some tens of kilobytes."""

# AUTOINCREMENT: seq never goes back, even after the spool has emptied, so a seq the
# publisher still remembers can never name a newer message.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('dropped_total', 0);
"""


@dataclass(frozen=True)
class SpooledMessage:
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_ms: int


@dataclass(frozen=True)
class SpoolStats:
    depth: int
    oldest_age_s: float
    dropped_total: int


def health_fields(stats: SpoolStats) -> dict[str, float]:
    """The spool's share of the health message, named as in schoolnet_core/contract.py."""
    return {
        "spool_depth": stats.depth,
        "spool_oldest_age_s": stats.oldest_age_s,
        "spool_dropped_total": stats.dropped_total,
    }


def is_disk_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorname", None) == "SQLITE_FULL" or (
        "database or disk is full" in str(error)
    )


def is_corruption(error: sqlite3.Error) -> bool:
    if getattr(error, "sqlite_errorname", None) in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return True
    text = str(error)
    return "malformed" in text or "not a database" in text or "quick_check" in text


def corrupt_name(path: Path, now_s: float) -> Path:
    """Where a corrupted spool is kept for inspection, e.g. spool.db.corrupt-20261001T080000Z."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    return path.with_name(f"{path.name}.corrupt-{stamp}")


class Spool:
    """A bounded, durable FIFO of (topic, payload) in one SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
    ):
        if max_messages < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValueError("spool.max_messages and the byte limit must be at least 1")
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._count = 0  # rows in the file
        self._bytes = 0  # payload bytes in the file
        self._saved_drops = 0
        self._unsaved_drops = 0  # lost while the disk was full; saved with the next write
        self._unremoved: set[int] = set()  # acknowledged, but the DELETE failed (disk full)
        self._awaiting_ack: frozenset[int] = frozenset()  # sent, PUBACK to come: never dropped
        self._disk_full = False
        self._dropping = False
        self._last_seq = 0
        private_dir(self.path.parent)
        self._db = self._open()

    # --- the outbox -------------------------------------------------------------------

    def append(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
        created_ms: int | None = None,
    ) -> int | None:
        """Store a message durably and return its seq; None if it was lost (disk full)."""
        if created_ms is None:
            created_ms = int(time.time() * 1000)
        row = (topic, bytes(payload), qos, int(retain), created_ms)
        with self._lock:
            try:
                return self._guarded(lambda: self._insert(row))
            except sqlite3.OperationalError as error:
                if not is_disk_full(error):
                    raise
                self._lost_to_full_disk(topic)
                return None

    def oldest(self, n: int, after_seq: int = 0) -> list[SpooledMessage]:
        """Up to n messages in the order they were added, starting after `after_seq`."""
        with self._lock:
            rows = self._guarded(lambda: self._db.execute(
                "SELECT seq, topic, payload, qos, retain, created_ms FROM spool"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, n + len(self._unremoved)),
            ).fetchall())
            messages = [
                SpooledMessage(seq, topic, bytes(payload), qos, bool(retain), created_ms)
                for seq, topic, payload, qos, retain, created_ms in rows
                if seq not in self._unremoved
            ]
        return messages[:n]

    def awaiting_ack(self, seqs: Iterable[int]) -> None:
        """The publisher's rows in flight, replaced as a whole: making room skips them."""
        self._awaiting_ack = frozenset(seqs)  # one atomic swap, read under the lock

    def remove(self, seq: int) -> None:
        self.remove_many((seq,))

    def remove_many(self, seqs: Iterable[int]) -> None:
        """Forget delivered messages in one transaction (one fsync for a whole batch).

        If the disk is full the rows stay, but are hidden from oldest() and depth() and
        deleted with the next write, so a delivered message is never sent again."""
        with self._lock:
            self._unremoved.update(seqs)
            try:
                self._guarded(self._delete_unremoved)
            except sqlite3.OperationalError as error:
                if not is_disk_full(error):
                    raise
                log.warning("spool: disk full, %d delivered messages stay marked for removal",
                            len(self._unremoved))

    # --- figures for the health message -----------------------------------------------

    def depth(self) -> int:
        with self._lock:
            return self._count - len(self._unremoved)

    def oldest_age_s(self, now_ms: int) -> float:
        """Seconds the oldest waiting message has waited (0 when empty)."""
        with self._lock:
            rows = self._guarded(lambda: self._db.execute(
                "SELECT seq, created_ms FROM spool ORDER BY seq LIMIT ?",
                (len(self._unremoved) + 1,),
            ).fetchall())
            created = [ms for seq, ms in rows if seq not in self._unremoved]
        return max(0.0, (now_ms - created[0]) / 1000) if created else 0.0

    @property
    def dropped_total(self) -> int:
        """Messages ever dropped by this spool (full, or lost to a full disk)."""
        with self._lock:
            return self._saved_drops + self._unsaved_drops

    def stats(self, now_ms: int | None = None) -> SpoolStats:
        if now_ms is None:
            now_ms = int(time.time() * 1000)
        return SpoolStats(self.depth(), self.oldest_age_s(now_ms), self.dropped_total)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing ----------------------------------------------------------------------

    def _insert(self, row: tuple) -> int:
        size = len(row[1])
        with self._transaction():
            cleared = self._delete_rows(self._unremoved)
            dropped = self._make_room(self._count - cleared[0], self._bytes - cleared[1], size)
            seq = self._db.execute(
                "INSERT INTO spool (topic, payload, qos, retain, created_ms) VALUES (?, ?, ?, ?, ?)",
                row,
            ).lastrowid
            self._save_drops(dropped[0] + self._unsaved_drops)
        self._committed(1 - cleared[0] - dropped[0], size - cleared[1] - dropped[1], dropped[0])
        self._last_seq = seq
        return seq

    def _make_room(self, count: int, stored: int, incoming: int) -> tuple[int, int]:
        """Delete the oldest rows so one more message of `incoming` bytes fits; returns
        (rows, bytes) deleted. The new message is kept even if alone it is over the limit."""
        excess_rows = count + 1 - self.max_messages
        excess_bytes = stored + incoming - self.max_bytes if self.max_bytes else 0
        if excess_rows <= 0 and excess_bytes <= 0:
            return (0, 0)
        rows, freed, last_seq, kept = 0, 0, None, self._awaiting_ack
        cursor = self._db.execute("SELECT seq, length(payload) FROM spool ORDER BY seq")
        for seq, size in cursor:
            if rows >= excess_rows and freed >= excess_bytes:
                break
            if seq not in kept:
                rows, freed, last_seq = rows + 1, freed + size, seq
        cursor.close()
        if last_seq is not None:
            spared = sorted(seq for seq in kept if seq < last_seq)
            marks = ",".join("?" * len(spared))
            self._db.execute(f"DELETE FROM spool WHERE seq <= ? AND seq NOT IN ({marks})",
                             (last_seq, *spared))
        return (rows, freed)

    def _delete_unremoved(self) -> None:
        if not self._unremoved and not self._unsaved_drops:
            return
        with self._transaction():
            cleared = self._delete_rows(self._unremoved)
            self._save_drops(self._unsaved_drops)
        self._committed(-cleared[0], -cleared[1], dropped=0)
        self._dropping = False

    def _delete_rows(self, seqs: set[int]) -> tuple[int, int]:
        """Delete these rows inside the caller's transaction; returns (rows, bytes)."""
        ordered = sorted(seqs)
        rows, size = 0, 0
        for start in range(0, len(ordered), 500):  # below SQLite's bound-parameter limit
            chunk = ordered[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found = self._db.execute(
                f"SELECT count(*), coalesce(sum(length(payload)), 0) FROM spool WHERE seq IN ({marks})",
                chunk,
            ).fetchone()
            self._db.execute(f"DELETE FROM spool WHERE seq IN ({marks})", chunk)
            rows, size = rows + found[0], size + found[1]
        return (rows, size)

    def _save_drops(self, count: int) -> None:
        if count:
            self._db.execute(
                "UPDATE counters SET value = value + ? WHERE name = 'dropped_total'", (count,)
            )

    def _committed(self, rows: int, size: int, dropped: int) -> None:
        """Bring the figures kept in memory in line with what was just committed."""
        self._count += rows
        self._bytes += size
        self._saved_drops += dropped + self._unsaved_drops
        self._unsaved_drops = 0
        self._unremoved.clear()
        if dropped and not self._dropping:
            self._dropping = True
            log.warning("缓存已满，丢弃最旧的消息 / spool full (limit %d messages, %s bytes): "
                        "dropping the oldest messages; %d dropped in total. Is the broker "
                        "reachable?", self.max_messages, self.max_bytes, self._saved_drops)
        if self._disk_full:
            self._disk_full = False
            log.warning("缓存恢复写入 / spool writable again: %s; %d messages dropped in total",
                        self.path, self._saved_drops)

    def _lost_to_full_disk(self, topic: str) -> None:
        self._unsaved_drops += 1
        if not self._disk_full:
            self._disk_full = True
            log.error("缓存磁盘已满，消息丢失 / spool disk full: cannot store the message for %s "
                      "in %s; it is lost and counted as dropped. Measuring continues. Free "
                      "space on that disk or set spool.path to a larger one.", topic, self.path)

    # --- opening and recovering -------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _guarded(self, operation: Callable[[], _T]) -> _T:
        """Run `operation`; if the file turns out to be corrupted, replace it and retry once."""
        try:
            return operation()
        except sqlite3.DatabaseError as error:
            if not is_corruption(error):
                raise
            self._db.close()
            self._db = self._replace_corrupted(error)
            return operation()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as error:
            if not is_corruption(error):
                raise
            return self._replace_corrupted(error)

    def _replace_corrupted(self, error: sqlite3.Error) -> sqlite3.Connection:
        """Move the bad file aside and start afresh, keeping the seq numbers and drop count
        known so far (at start-up there are none: they were in the bad file)."""
        dropped_total = self._saved_drops + self._unsaved_drops
        target = self._move_aside()
        db = self._connect()
        with _Transaction(db):
            if self._last_seq:
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('spool', ?)",
                           (self._last_seq,))
            db.execute("UPDATE counters SET value = ? WHERE name = 'dropped_total'",
                       (dropped_total,))
        self._load_figures(db)
        log.critical("缓存文件损坏 / SPOOL FILE CORRUPTED: %s (%s). Moved it to %s and started "
                     "a new, empty spool; messages still in the old file will not be sent. "
                     "Check the gateway's disk or SD card.", self.path, error, target)
        return db

    def _connect(self) -> sqlite3.Connection:
        """Open (or create) the file, check it, and load the figures kept in memory."""
        private_file(self.path)  # SQLite gives its -wal and -shm files the same mode
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"quick_check: {'; '.join(problems[:3])}")
            db.executescript(_SCHEMA)
            self._load_figures(db)
        except BaseException:
            db.close()
            raise
        return db

    def _load_figures(self, db: sqlite3.Connection) -> None:
        self._count, self._bytes = db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM spool"
        ).fetchone()
        (self._saved_drops,) = db.execute(
            "SELECT value FROM counters WHERE name = 'dropped_total'"
        ).fetchone()
        self._unsaved_drops = 0
        self._unremoved.clear()

    def _move_aside(self) -> Path:
        """Rename the file (and its -wal/-shm, which belong to it) for later inspection."""
        target = corrupt_name(self.path, time.time())
        n = 1
        while target.exists():
            n += 1
            target = target.with_name(f"{corrupt_name(self.path, time.time()).name}.{n}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, f"{target}{suffix}")
        return target


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (if SQLite has not already)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:
            self._db.execute("ROLLBACK")
