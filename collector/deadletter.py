"""Refused messages, kept for county IT: what arrived, where, when, and why it was refused.

Each refusal becomes one JSON envelope, published on the dead-letter topic and appended
to a JSONL file that rotates by size (deadletter.jsonl, .1, .2, ... like logrotate), so a
school flooding the collector with junk cannot fill the disk. The file is synced before
the message is acknowledged: acking hands the only copy over to us.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

from schoolnet_core.private import private_dir, private_file

PAYLOAD_KEEP_BYTES = 16 * 1024
"""How much of a refused payload the envelope keeps: enough to see what went wrong,
without copying a 5 MB flood into every dead-letter line."""
TOPIC_KEEP_CHARS = 512


def envelope(reason: str, detail: str, topic: str, received_ms: int, payload: bytes) -> dict:
    """The dead-letter record: the payload as text when it is UTF-8, else base64."""
    kept = payload[:PAYLOAD_KEEP_BYTES]
    if _is_utf8(payload):
        # a cut inside a multi-byte character loses only that character
        text, encoding = kept.decode("utf-8", "ignore"), "utf-8"
    else:
        text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return {
        "reason": reason,
        "detail": detail,
        "topic": topic[:TOPIC_KEEP_CHARS],
        "received_ms": received_ms,
        "payload": text,
        "payload_encoding": encoding,
        "payload_bytes": len(payload),
        "payload_truncated": len(kept) < len(payload),
    }


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def envelope_bytes(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rotated_name(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


class DeadLetterFile:
    """An append-only JSONL file rotated when the next line would pass `max_bytes`;
    at most `backups` old files are kept (0 keeps none). The worker appends while the
    writer thread syncs before its acks: a lock keeps the two (and a rotation) apart."""

    def __init__(self, path: str | os.PathLike, max_bytes: int, backups: int):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._file = None
        self._dirty = False
        self._lock = threading.RLock()

    def append(self, record: dict) -> None:
        with self._lock:
            self._append(envelope_bytes(record) + b"\n")

    def _append(self, line: bytes) -> None:
        file = self._open()
        if file.tell() > 0 and file.tell() + len(line) > self.max_bytes:
            self._rotate()
            file = self._open()
        file.write(line)
        file.flush()
        self._dirty = True

    def sync(self) -> None:
        """Makes the lines appended so far survive a power cut."""
        with self._lock:
            if self._file is not None and self._dirty:
                os.fsync(self._file.fileno())
                self._dirty = False

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self.sync()
                self._file.close()
                self._file = None

    def _open(self):
        if self._file is None:
            private_dir(self.path.parent)
            self._file = open(private_file(self.path), "ab")  # noqa: SIM115 - kept open between appends
        return self._file

    def _rotate(self) -> None:
        self.close()
        if self.backups == 0:
            self.path.unlink()
            return
        rotated_name(self.path, self.backups).unlink(missing_ok=True)
        for number in range(self.backups - 1, 0, -1):
            older = rotated_name(self.path, number)
            if older.exists():
                older.rename(rotated_name(self.path, number + 1))
        self.path.rename(rotated_name(self.path, 1))
