"""Malformed and hostile messages are dead-lettered with their reason, on the dead-letter
topic and in the JSONL file, while valid traffic keeps flowing into the store."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter

from schoolnet_core import contract
from schoolnet_stack.processes import InProcessCollector, scrape, write_collector_config
from tests.collector.running import (
    DeadLetterWatcher,
    Publisher,
    distinct_timestamps,
    samples_by_series,
    traffic,
)
from tests.contract.examples import contract_examples

COUNTY, SCHOOL = "hx", "hx-dazhuang-zx"  # the identity in CONTRACT.md's examples
NOW_MS = int(time.time() * 1000)
YEAR_MS = 365 * 86_400_000
TRICKY_TARGET = 'county,net=1 "core" up=0 县'  # commas, =, quotes and spaces: line-protocol specials


def topic(kind: str) -> str:
    return contract.topic(COUNTY, SCHOOL, kind)


def example(kind: str, **changes) -> dict:
    document = contract_examples()[kind]
    document["ts"] = NOW_MS
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


def payload(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()  # NaN and Infinity written as JS does


def with_nested(kind: str, path: tuple, value) -> bytes:
    document = example(kind)
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return payload(document)


HOSTILE = [
    # (what, topic, payload, reason)
    ("cut-off JSON", topic("health"), b'{"schema": 1, "kind": ', "bad_json"),
    ("not UTF-8", topic("health"), b"\xff\xfe{\x00}", "bad_json"),
    ("empty payload", topic("health"), b"", "bad_json"),
    ("key given twice", topic("health"), b'{"ts": 1, "ts": 2}', "bad_json"),
    ("nested 100k deep", topic("health"), b"[" * 100_000 + b"]" * 100_000, "bad_json"),
    ("a JSON list", topic("health"), b"[1, 2, 3]", "not_object"),
    ("schema 2", topic("health"), payload(example("health", schema=2)), "schema_version"),
    ("another school's topic", contract.topic(COUNTY, "hx-other", "health"), payload(example("health")),
     "identity_mismatch"),
    ("kind differs from topic", topic("speedtest"), payload(example("health")), "identity_mismatch"),
    ("NaN", topic("speedtest"), payload(example("speedtest", download_mbps=float("nan"))), "not_finite"),
    ("Infinity", topic("speedtest"), payload(example("speedtest", upload_mbps=float("inf"))), "not_finite"),
    ("5 MB", topic("health"), b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}', "oversize"),
    ("3 years ahead", topic("health"), payload(example("health", ts=NOW_MS + 3 * YEAR_MS)), "ts_future"),
    ("3 years old", topic("health"), payload(example("health", ts=NOW_MS - 3 * YEAR_MS)), "ts_past"),
    ("injection in topic id", 'schoolnet/v1/hx/x";drop table schools;--/health', b"{}", "bad_topic"),
    ("newline in classroom id", topic("sync"), with_nested("sync", ("endpoints", 0, "classroom"), "c7-1\nup=0"),
     "bad_id"),
    ("bidi override in a name", topic("classrooms"), with_nested("classrooms", ("classes", 0, "name"), "七年级\u202e班"),
     "bad_text"),
    ("backslash in a name", topic("broadband"), with_nested("broadband", ("targets", 0, "target"), "a\\ up=0"),
     "bad_text"),
    ("number as text", topic("speedtest"), payload(example("speedtest", download_mbps="94.2")), "wrong_type"),
    ("extra field", topic("health"), payload(example("health", shell="rm -rf /")), "unknown_field"),
    ("missing field", topic("health"), payload(example("health", cpu_pct=None)), "missing_field"),
    ("unknown kind", contract.topic(COUNTY, SCHOOL, "weather"), b"{}", "unknown_kind"),
    ("cpu 250 %", topic("health"), payload(example("health", cpu_pct=250)), "out_of_range"),
    ("unknown backend", topic("speedtest"), payload(example("speedtest", backend="pigeon")), "bad_choice"),
    ("33 targets", topic("broadband"), payload(example("broadband", targets=[example("broadband")["targets"][0]] * 33)),
     "too_many_items"),
]  # fmt: skip


def test_hostile_messages_are_dead_lettered_while_valid_traffic_flows(tmp_path, mosquitto, victoria_metrics):
    config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "c-hostile")
    valid = traffic(20, 10, NOW_MS - 60_000)
    tricky = (topic("broadband"), payload(example("broadband", targets=[
        {"target": TRICKY_TARGET, "method": "tcp", "up": True, "rtt_ms": 2.5}
    ])))  # fmt: skip
    stream = [*valid[:100], *((t, p) for _, t, p, _ in HOSTILE), tricky, *valid[100:]]
    watcher = DeadLetterWatcher(mosquitto.port)
    with InProcessCollector(config) as running:
        publisher = Publisher(mosquitto.port)
        publisher.publish(stream)
        publisher.close()
        cpu = 'schoolnet_health_cpu_pct{school=~"hx-school-.*"}'
        victoria_metrics.wait_for(lambda: distinct_timestamps(victoria_metrics, cpu) == len(valid))
        envelopes = victoria_metrics.wait_for(lambda: _all(watcher.received(), len(HOSTILE)))
        metrics = scrape(running.port)
    watcher.close()

    # On the dead-letter topic, in the order they came, each with its reason and source.
    assert [(t, e["reason"], e["topic"]) for t, e in envelopes] == [
        (contract.deadletter_topic(reason), reason, source) for _, source, _, reason in HOSTILE
    ]
    for (what, _, sent, _), (_, record) in zip(HOSTILE, envelopes):
        assert _payload_of(record) == sent[:16 * 1024], what
        assert record["payload_bytes"] == len(sent), what
        assert record["detail"], what
    assert envelopes[HOSTILE.index(next(h for h in HOSTILE if h[0] == "5 MB"))][1]["payload_truncated"]

    # The same records in the JSONL file, nothing more.
    lines = (tmp_path / "c-hostile-deadletter.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [record for _, record in envelopes]

    # Counted per reason; every valid message stored, the tricky label intact.
    refused = {name: value for name, value in metrics.items() if name.startswith("schoolnet_collector_deadlettered")}
    assert refused == {
        f'schoolnet_collector_deadlettered_total{{reason="{reason}"}}': float(count)
        for reason, count in Counter(reason for *_, reason in HOSTILE).items()
    }
    assert metrics["schoolnet_collector_received_total"] == len(stream)
    stored = samples_by_series(victoria_metrics, 'schoolnet_broadband_target_rtt_ms{method="tcp"}')
    assert [dict(labels)["target"] for labels in stored] == [TRICKY_TARGET]


def _all(envelopes: list, count: int) -> list | None:
    return envelopes if len(envelopes) >= count else None


def _payload_of(record: dict) -> bytes:
    if record["payload_encoding"] == "base64":
        return base64.b64decode(record["payload"])
    return record["payload"].encode("utf-8")
