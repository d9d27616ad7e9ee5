"""Dead-letter envelopes and the size-rotated JSONL file."""

from __future__ import annotations

import base64
import json

from collector.deadletter import (
    PAYLOAD_KEEP_BYTES,
    DeadLetterFile,
    envelope,
    envelope_bytes,
    rotated_name,
)

TOPIC = "schoolnet/v1/hx/hx-01/health"


def test_utf8_payload_is_kept_as_text():
    record = envelope("bad_json", "Expecting value", TOPIC, 1795570200000, '{"名": 1'.encode())
    assert record == {
        "reason": "bad_json",
        "detail": "Expecting value",
        "topic": TOPIC,
        "received_ms": 1795570200000,
        "payload": '{"名": 1',
        "payload_encoding": "utf-8",
        "payload_bytes": 9,
        "payload_truncated": False,
    }


def test_binary_payload_is_kept_as_base64():
    payload = b"\xff\xfe\x00junk"
    record = envelope("bad_json", "not UTF-8 at byte 0", TOPIC, 1, payload)
    assert record["payload_encoding"] == "base64"
    assert base64.b64decode(record["payload"]) == payload


def test_big_payload_is_truncated_and_says_so():
    payload = b"x" * (5 * 1024 * 1024)
    record = envelope("oversize", "5242880 bytes", TOPIC, 1, payload)
    assert record["payload"] == "x" * PAYLOAD_KEEP_BYTES
    assert (record["payload_bytes"], record["payload_truncated"]) == (5 * 1024 * 1024, True)


def test_cut_inside_a_chinese_character_keeps_the_text_readable():
    payload = ("学" * PAYLOAD_KEEP_BYTES).encode()  # 3 bytes each: the cut falls mid-character
    record = envelope("oversize", "", TOPIC, 1, payload)
    assert record["payload_encoding"] == "utf-8"
    assert record["payload"] == "学" * (PAYLOAD_KEEP_BYTES // 3)


def test_envelope_bytes_is_one_json_line():
    record = envelope("bad_text", "name: contains U+000A", TOPIC, 1, b'{"name": "a\\nb"}')
    data = envelope_bytes(record)
    assert b"\n" not in data
    assert json.loads(data) == record


def _lines(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_file_rotates_by_size_and_keeps_the_newest_backups(tmp_path):
    path = tmp_path / "dl" / "deadletter.jsonl"  # folder created on first write
    file = DeadLetterFile(path, max_bytes=300, backups=2)
    records = [envelope("bad_json", f"n{i}", TOPIC, i, b"{") for i in range(12)]
    size = len(envelope_bytes(records[0])) + 1
    per_file = 300 // size
    assert per_file >= 1
    for record in records:
        file.append(record)
    file.sync()
    kept = _lines(rotated_name(path, 2)) + _lines(rotated_name(path, 1)) + _lines(path)
    assert [r["received_ms"] for r in kept] == list(range(12 - len(kept), 12))
    assert len(_lines(path)) <= per_file
    assert all(len(_lines(p)) == per_file for p in (rotated_name(path, 1), rotated_name(path, 2)))
    assert not rotated_name(path, 3).exists()
    assert all(p.stat().st_size <= 300 for p in (path, rotated_name(path, 1), rotated_name(path, 2)))
    file.close()


def test_appends_continue_an_existing_file(tmp_path):
    path = tmp_path / "deadletter.jsonl"
    first = DeadLetterFile(path, max_bytes=10_000, backups=1)
    first.append(envelope("bad_json", "", TOPIC, 1, b"{"))
    first.close()
    second = DeadLetterFile(path, max_bytes=10_000, backups=1)
    second.append(envelope("bad_json", "", TOPIC, 2, b"{"))
    second.close()
    assert [r["received_ms"] for r in _lines(path)] == [1, 2]


def test_no_backups_starts_afresh(tmp_path):
    path = tmp_path / "deadletter.jsonl"
    file = DeadLetterFile(path, max_bytes=1, backups=0)
    for i in range(3):
        file.append(envelope("bad_json", "", TOPIC, i, b"{"))  # each line alone is over the limit
    file.close()
    assert [r["received_ms"] for r in _lines(path)] == [2]
    assert list(tmp_path.iterdir()) == [path]
