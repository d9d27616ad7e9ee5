"""The spool on its own: order, bounds, drop counts that survive restarts, a corrupted file,
a full disk (a real, tiny tmpfs) and threads appending while others remove."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.publish.spool import (
    Spool,
    SpooledMessage,
    SpoolStats,
    corrupt_name,
    health_fields,
)
from schoolnet_core import contract

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def spool_path(tmp_path) -> Path:
    return tmp_path / "spool" / "spool.db"


def fill(spool: Spool, count: int, size: int = 10, topic: str = "t/a") -> list[int]:
    return [spool.append(topic, bytes([n % 256]) * size, created_ms=1000 + n) for n in range(count)]


def test_messages_come_out_oldest_first_with_everything_stored(spool_path):
    spool = Spool(spool_path)
    first = spool.append("a/1", b"one", created_ms=5)
    second = spool.append("a/2", b"\x00two\xff", qos=0, retain=True, created_ms=6)
    third = spool.append("a/3", "三".encode(), created_ms=7)
    assert first < second < third
    assert spool.oldest(2) == [
        SpooledMessage(first, "a/1", b"one", 1, False, 5),
        SpooledMessage(second, "a/2", b"\x00two\xff", 0, True, 6),
    ]
    assert [m.payload for m in spool.oldest(10, after_seq=first)] == [b"\x00two\xff", "三".encode()]
    assert spool.oldest(10, after_seq=third) == []


def test_remove_takes_out_exactly_the_delivered_messages(spool_path):
    spool = Spool(spool_path)
    seqs = fill(spool, 5)
    spool.remove(seqs[1])
    spool.remove_many([seqs[0], seqs[3], 999_999])  # an unknown seq is harmless
    assert [m.seq for m in spool.oldest(10)] == [seqs[2], seqs[4]]
    assert spool.depth() == 2


def test_messages_and_seq_numbers_survive_reopening(spool_path):
    spool = Spool(spool_path)
    seqs = fill(spool, 3)
    spool.remove_many(seqs)
    spool.close()
    spool = Spool(spool_path)
    assert spool.depth() == 0
    later = spool.append("t/b", b"x")
    assert later > seqs[-1], "a seq is never given twice, even after the spool emptied"


def test_message_is_on_disk_when_append_returns_even_if_the_process_is_killed(spool_path):
    code = (
        "import os, signal, sys\n"
        "from agent.publish.spool import Spool\n"
        "seq = Spool(sys.argv[1]).append('t/kill', b'survives')\n"
        "print(seq, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(spool_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -9, done.stderr
    [message] = Spool(spool_path).oldest(5)
    assert (message.seq, message.topic, message.payload) == (int(done.stdout), "t/kill", b"survives")


def test_full_spool_drops_the_oldest_and_the_count_survives_reopening(spool_path, caplog):
    spool = Spool(spool_path, max_messages=3)
    seqs = fill(spool, 5)
    assert [m.seq for m in spool.oldest(10)] == seqs[2:]
    assert spool.dropped_total == 2
    assert sum("spool full" in r.getMessage() for r in caplog.records) == 1, "logged once, not per drop"
    spool.close()

    spool = Spool(spool_path, max_messages=3)
    assert spool.dropped_total == 2
    spool.append("t/a", b"new")
    assert spool.dropped_total == 3
    assert spool.depth() == 3


def test_messages_awaiting_their_puback_are_not_dropped_and_not_counted(spool_path):
    """paho resends what it has in flight once the line is back: dropping those rows
    would count as lost what arrives. The next-oldest go instead."""
    spool = Spool(spool_path, max_messages=4)
    seqs = fill(spool, 4)
    spool.awaiting_ack(seqs[:2])
    newer = fill(spool, 2)
    assert [m.seq for m in spool.oldest(10)] == seqs[:2] + newer
    assert spool.dropped_total == 2 and spool.depth() == 4

    spool.remove_many(seqs[:2])  # their PUBACKs came
    spool.awaiting_ack(newer)
    latest = fill(spool, 3)
    assert [m.seq for m in spool.oldest(10)] == newer + latest[1:]
    assert spool.dropped_total == 3 and spool.depth() == 4


def test_with_every_row_awaiting_its_puback_the_new_message_is_kept_over_the_bound(spool_path):
    spool = Spool(spool_path, max_messages=2)
    spool.awaiting_ack(fill(spool, 2))
    fill(spool, 1)
    assert spool.depth() == 3 and spool.dropped_total == 0


def test_byte_limit_drops_enough_old_messages_but_keeps_the_new_one(spool_path):
    spool = Spool(spool_path, max_messages=100, max_bytes=250)
    fill(spool, 2, size=100)
    newest = spool.append("t/a", b"n" * 100)
    assert [m.seq for m in spool.oldest(10)][-1] == newest
    assert spool.depth() == 2 and spool.dropped_total == 1
    huge = spool.append("t/a", b"h" * 1000)  # alone over the limit: kept, the rest dropped
    assert [m.seq for m in spool.oldest(10)] == [huge]
    assert spool.dropped_total == 3


def test_oldest_age_is_measured_from_the_oldest_waiting_message(spool_path):
    spool = Spool(spool_path)
    assert spool.oldest_age_s(now_ms=10_000) == 0.0
    first = spool.append("t/a", b"1", created_ms=2_000)
    spool.append("t/a", b"2", created_ms=7_000)
    assert spool.oldest_age_s(now_ms=10_000) == 8.0
    spool.remove(first)
    assert spool.stats(now_ms=10_000) == SpoolStats(depth=1, oldest_age_s=3.0, dropped_total=0)
    assert spool.oldest_age_s(now_ms=1_000) == 0.0, "a clock stepped back gives 0, not negative"


def test_health_fields_are_what_the_contract_expects():
    fields = health_fields(SpoolStats(depth=4, oldest_age_s=12.5, dropped_total=2))
    body = {"agent_version": "0.1.0", "cpu_pct": 1.0, "mem_pct": 2.0, "disk_pct": 3.0,
            "uptime_s": 10, **fields}
    payload = contract.encode("health", "hx", "hx-s1", 1_795_570_200_000, body)
    message = contract.validate(contract.topic("hx", "hx-s1", "health"), payload, 1_795_570_200_000)
    assert isinstance(message, contract.Message), message
    assert (message.body["spool_depth"], message.body["spool_oldest_age_s"],
            message.body["spool_dropped_total"]) == (4, 12.5, 2)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, an SD card ate it" * 100)


def _scribble_over_pages(path: Path) -> None:
    spool = Spool(path)
    fill(spool, 300, size=2000)
    spool.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
    db.close()
    with open(path, "r+b") as file:
        file.seek(4096 * 3)
        file.write(b"\xff" * 4096 * 4)


@pytest.mark.parametrize("damage", [_garbage, _scribble_over_pages], ids=["not-a-database", "malformed"])
def test_corrupted_file_is_moved_aside_and_a_new_spool_started(spool_path, caplog, damage):
    spool_path.parent.mkdir(parents=True)
    damage(spool_path)
    damaged = spool_path.read_bytes()

    spool = Spool(spool_path)

    aside = sorted(spool_path.parent.glob("spool.db.corrupt-*"))
    assert [p.name for p in aside if not p.name.endswith(("-wal", "-shm"))] == [aside[0].name]
    assert aside[0].read_bytes() == damaged, "the damaged file is kept as it was, for inspection"
    loud = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(loud) == 1 and "CORRUPTED" in loud[0].getMessage()
    assert aside[0].name in loud[0].getMessage()
    assert spool.depth() == 0
    seq = spool.append("t/a", b"after")
    assert [m.payload for m in spool.oldest(5)] == [b"after"] and seq >= 1


def test_corrupt_name_says_when_in_utc():
    assert corrupt_name(Path("/var/lib/schoolnet/spool.db"), 1_790_000_000) == Path(
        "/var/lib/schoolnet/spool.db.corrupt-20260921T141320Z")


def test_full_disk_loses_the_message_with_one_clear_log_line_and_no_exception(tiny_disk, caplog):
    filler = tiny_disk / "filler"
    filler.write_bytes(b"\0" * 64 * 1024)  # freed later, to give the spool room again
    spool = Spool(tiny_disk / "spool.db")
    try:
        results = [spool.append("schoolnet/v1/hx/s1/broadband", os.urandom(8000)) for _ in range(40)]

        stored = [seq for seq in results if seq is not None]
        lost = results.count(None)
        assert stored and lost, f"the disk should fill part way through: {results}"
        assert results[: len(stored)] == stored, "once the disk is full nothing more fits"
        assert spool.dropped_total == lost
        assert [m.seq for m in spool.oldest(100)] == stored, "what was stored is still readable"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert "disk full" in errors[0].getMessage() and str(tiny_disk) in errors[0].getMessage()

        filler.unlink()
        assert spool.append("schoolnet/v1/hx/s1/broadband", b"room again") is not None
        assert any("writable again" in r.getMessage() for r in caplog.records)
    finally:
        spool.close()
    reopened = Spool(tiny_disk / "spool.db")
    assert reopened.dropped_total == lost, "drops lost to the full disk are saved with the next write"
    reopened.close()


def test_delivered_message_is_not_offered_again_when_its_removal_hits_a_full_disk(tiny_disk, caplog):
    spool = Spool(tiny_disk / "spool.db")
    try:
        first = spool.append("t/a", b"delivered")
        for size in (8000, 1):  # big messages first, then small ones into the last gaps
            while spool.append("t/a", os.urandom(size)) is not None:
                pass
        spool.remove(first)
        assert any("marked for removal" in r.getMessage() for r in caplog.records), \
            "the DELETE should have hit the full disk"
        waiting = [m.seq for m in spool.oldest(1000)]
        assert first not in waiting
        assert spool.depth() == len(waiting)
    finally:
        spool.close()


def test_threads_appending_and_removing_at_once_lose_and_repeat_nothing(spool_path):
    spool = Spool(spool_path)
    measuring_done = threading.Event()

    def measure(topic: str) -> list[int]:
        return [spool.append(topic, f"{topic}-{n}".encode()) for n in range(300)]

    def deliver() -> list[int]:
        removed: list[int] = []
        while not measuring_done.is_set() or spool.depth():
            batch = [m.seq for m in spool.oldest(25)]
            spool.remove_many(batch)
            removed.extend(batch)
        return removed

    with ThreadPoolExecutor(max_workers=5) as pool:
        sender = pool.submit(deliver)
        measurers = [pool.submit(measure, f"t/{n}") for n in range(4)]
        appended = [seq for future in measurers for seq in future.result()]
        measuring_done.set()
        removed = sender.result()

    assert len(appended) == 1200 and len(set(appended)) == 1200
    assert sorted(removed) == sorted(appended), "each message removed exactly once"
    assert spool.depth() == 0
