"""The wire contract without servers: topics, validation reasons, points."""

from __future__ import annotations

import json

import pytest

from schoolnet_core import contract
from tests.contract.examples import contract_examples, example_bytes
from tests.contract.influx_points import to_points

NOW = 1795570200000
COUNTY, SCHOOL = "hx", "hx-dazhuang-zx"


def topic(kind: str, county: str = COUNTY, school: str = SCHOOL) -> str:
    return contract.topic(county, school, kind)


def test_contract_md_has_one_example_per_kind():
    assert sorted(contract_examples()) == sorted(contract.KINDS)


@pytest.mark.parametrize("kind", sorted(contract.KINDS))
def test_every_example_is_valid(kind):
    message = contract.validate(topic(kind), example_bytes(kind), NOW)
    assert isinstance(message, contract.Message), message
    assert (message.kind, message.county, message.school, message.ts_ms) == (kind, COUNTY, SCHOOL, NOW)


@pytest.mark.parametrize("kind", sorted(contract.KINDS))
def test_encode_builds_what_validate_accepts(kind):
    document = contract_examples()[kind]
    body = {key: value for key, value in document.items() if key not in contract.ENVELOPE}
    payload = contract.encode(kind, COUNTY, SCHOOL, NOW, body)
    assert json.loads(payload) == document
    assert contract.validate(topic(kind), payload, NOW).body == body


def test_encode_refuses_an_invalid_message():
    with pytest.raises(ValueError, match="download_mbps: expected a number"):
        body = {**contract_examples()["speedtest"], "download_mbps": "fast"}
        for key in contract.ENVELOPE:
            del body[key]
        contract.encode("speedtest", COUNTY, SCHOOL, NOW, body)


def test_encode_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown kind 'weather'"):
        contract.encode("weather", COUNTY, SCHOOL, NOW, {})


def test_encode_refuses_a_message_the_broker_would_refuse():
    device = {key: value for key, value in contract_examples()["classrooms"]["devices"][0].items()}
    device["name"] = "交" * 64
    body = {"in_hours": True, "classes_total": 0, "classes_ready": 0, "devices_total": 1000,
            "devices_up": 1000, "classes": [], "devices": [device] * 1000}
    with pytest.raises(ValueError, match="bytes; the limit is 262144"):
        contract.encode("classrooms", COUNTY, SCHOOL, NOW, body)


def test_topics():
    assert contract.topic("hx", "hx-01", "status") == "schoolnet/v1/hx/hx-01/status"
    assert contract.parse_topic("schoolnet/v1/hx/hx-01/sync") == contract.TopicParts("hx", "hx-01", "sync")
    assert contract.deadletter_topic("bad_json") == "schoolnet/v1/_deadletter/bad_json"


def _deep(kind: str, path: tuple, value):
    """The example of `kind` with one nested value replaced (value None removes it)."""
    document = contract_examples()[kind]
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(document, ensure_ascii=False).encode()


BAD_PAYLOADS = [
    # (case, topic, payload, reason, words in the detail)
    ("not json", topic("broadband"), b"{up: yes", "bad_json", "Expecting property name"),
    ("not utf-8", topic("broadband"), b'{"up": "\xff"}', "bad_json", "not UTF-8"),
    ("json list", topic("broadband"), b"[1, 2]", "not_object", "JSON list"),
    ("duplicate key", topic("health"), b'{"school": "a", "school": "b"}', "bad_json", "'school' appears twice"),
    ("missing field", topic("speedtest"), example_bytes("speedtest", target_mbps=None), "missing_field", "target_mbps is required"),
    ("missing envelope", topic("health"), example_bytes("health", ts=None), "missing_field", "ts is required"),
    ("missing nested", topic("broadband"), _deep("broadband", ("targets", 0, "up"), None), "missing_field", "targets[0].up is required"),
    ("number as string", topic("speedtest"), example_bytes("speedtest", download_mbps="94.2"), "wrong_type", "download_mbps: expected a number, got string"),
    ("bool as number", topic("health"), example_bytes("health", spool_depth=True), "wrong_type", "spool_depth: expected a number, got boolean"),
    ("number as bool", topic("broadband"), example_bytes("broadband", up=1), "wrong_type", "up: expected true or false, got number"),
    ("float for integer", topic("health"), example_bytes("health", spool_depth=1.5), "wrong_type", "spool_depth: expected an integer"),
    ("float ts", topic("health"), example_bytes("health", ts=1795570200000.5), "wrong_type", "ts must be an integer"),
    ("NaN", topic("speedtest"), example_bytes("speedtest").replace(b'"download_mbps": 94.2', b'"download_mbps": NaN'), "not_finite", "NaN"),
    ("Infinity", topic("sync"), example_bytes("sync").replace(b'"rtt_ms": 41.2', b'"rtt_ms": Infinity'), "not_finite", "Infinity"),
    ("-Infinity", topic("sync"), example_bytes("sync").replace(b'"mos": 4.3', b'"mos": -Infinity'), "not_finite", "-Infinity"),
    ("huge exponent", topic("speedtest"), example_bytes("speedtest").replace(b'"upload_mbps": 48.7', b'"upload_mbps": 1e999'), "not_finite", "upload_mbps"),
    ("negative", topic("speedtest"), example_bytes("speedtest", download_mbps=-1), "out_of_range", "download_mbps: -1 is outside 0..100000"),
    ("percent over 100", topic("health"), example_bytes("health", cpu_pct=180), "out_of_range", "cpu_pct: 180"),
    ("mos over 5", topic("sync"), example_bytes("sync", mos=7.5), "out_of_range", "mos: 7.5"),
    ("unknown kind", "schoolnet/v1/hx/hx-dazhuang-zx/weather", b"{}", "unknown_kind", "'weather'"),
    ("kind mismatch", topic("health"), example_bytes("sync"), "identity_mismatch", "payload kind 'sync'"),
    ("unknown field", topic("health"), example_bytes("health", temperature=40), "unknown_field", "'temperature'"),
    ("schema 2", topic("health"), example_bytes("health", schema=2), "schema_version", "schema is 2"),
    ("schema as string", topic("health"), example_bytes("health", schema="1"), "schema_version", "schema is '1'"),
    ("oversize", topic("health"), b" " * (contract.MAX_PAYLOAD_BYTES + 1), "oversize", "262145 bytes"),
    ("too many devices", topic("classrooms"), _deep("classrooms", ("devices",), [contract_examples()["classrooms"]["devices"][0]] * 1001), "too_many_items", "devices: 1001 items"),
    ("school mismatch", topic("health", school="hx-other"), example_bytes("health"), "identity_mismatch", "payload school 'hx-dazhuang-zx' differs from the topic's 'hx-other'"),
    ("county mismatch", topic("health"), example_bytes("health", county="gy"), "identity_mismatch", "payload county 'gy'"),
    ("ts from the future", topic("health"), example_bytes("health", ts=NOW + 3600_000), "ts_future", "3600 s ahead"),
    ("ts years ago", topic("health"), example_bytes("health", ts=NOW - 3 * 365 * 86_400_000), "ts_past", "1095 days old"),
    ("topic id with space", "schoolnet/v1/hx/hx dazhuang/health", b"{}", "bad_topic", "'hx dazhuang' is not a valid id"),
    ("topic id upper case", "schoolnet/v1/HX/hx-01/health", b"{}", "bad_topic", "'HX' is not a valid id"),
    ("topic too deep", "schoolnet/v1/hx/hx-01/health/extra", b"{}", "bad_topic", "is not schoolnet/v1"),
    ("topic other root", "other/v1/hx/hx-01/health", b"{}", "bad_topic", "is not schoolnet/v1"),
    ("id with comma", topic("classrooms"), _deep("classrooms", ("devices", 0, "device"), "panel,x=1"), "bad_id", "devices[0].device: 'panel,x=1'"),
    ("id with quote", topic("classrooms"), _deep("classrooms", ("classes", 0, "classroom"), 'c7"1'), "bad_id", "classes[0].classroom"),
    ("id with newline", topic("sync"), example_bytes("sync", session="s1\nfoo=1"), "bad_id", "session"),
    ("id with unicode", topic("sync"), example_bytes("sync", session="ｓ1"), "bad_id", "session"),
    ("id too long", topic("sync"), example_bytes("sync", session="s" * 65), "bad_id", "session"),
    ("text with newline", topic("broadband"), _deep("broadband", ("targets", 0, "target"), "县\n城域网"), "bad_text", "U+000A"),
    ("text with bidi override", topic("broadband"), _deep("broadband", ("targets", 0, "target"), "县\u202e网"), "bad_text", "U+202E"),
    ("text with zero-width space", topic("classrooms"), _deep("classrooms", ("classes", 0, "name"), "七年级\u200b(1)班"), "bad_text", "U+200B"),
    ("text padded", topic("classrooms"), _deep("classrooms", ("classes", 0, "name"), " 七年级(1)班"), "bad_text", "whitespace"),
    ("text with backslash", topic("broadband"), _deep("broadband", ("targets", 0, "target"), "C:\\ 机房"), "bad_text", "backslash"),
    ("empty text", topic("health"), example_bytes("health", agent_version=""), "bad_text", "1-32 characters"),
    ("bad choice", topic("speedtest"), example_bytes("speedtest", backend="ookla"), "bad_choice", "'ookla' is not one of iperf3, speedtest, http"),
    ("object for list", topic("sync"), example_bytes("sync", endpoints={"a": 1}), "wrong_type", "endpoints: expected a list"),
    ("list item not object", topic("sync"), example_bytes("sync", endpoints=[1]), "wrong_type", "endpoints[0]. must be an object"),
    ("deep nesting", topic("health"), b"[" * 100000 + b"]" * 100000, "bad_json", ""),
]


@pytest.mark.parametrize(
    "topic_name, payload, reason, detail", [case[1:] for case in BAD_PAYLOADS], ids=[case[0] for case in BAD_PAYLOADS]
)
def test_bad_payload_is_rejected_with_its_reason(topic_name, payload, reason, detail):
    rejection = contract.validate(topic_name, payload, NOW)
    assert isinstance(rejection, contract.Rejection), rejection
    assert rejection.reason == reason
    assert detail in rejection.detail
    assert str(rejection).startswith(reason + ": ")


def test_status_may_be_old_but_not_from_the_future():
    old_will = example_bytes("status", online=False, ts=NOW - 90 * 86_400_000)
    assert isinstance(contract.validate(topic("status"), old_will, NOW), contract.Message)
    future = example_bytes("status", ts=NOW + 3600_000)
    assert contract.validate(topic("status"), future, NOW).reason == "ts_future"


def test_ts_limits_are_inclusive():
    ahead = example_bytes("health", ts=NOW + contract.MAX_CLOCK_AHEAD_MS)
    oldest = example_bytes("health", ts=NOW - contract.MAX_AGE_MS)
    assert isinstance(contract.validate(topic("health"), ahead, NOW), contract.Message)
    assert isinstance(contract.validate(topic("health"), oldest, NOW), contract.Message)


def test_optional_fields_may_be_null_or_absent():
    failed = example_bytes("speedtest", ok=False, error="unreachable", download_mbps=None, upload_mbps=None)
    message = contract.validate(topic("speedtest"), failed, NOW)
    assert message.body["error"] == "unreachable"
    with_null = example_bytes("speedtest").replace(b'"jitter_ms": 1.3', b'"jitter_ms": null')
    assert isinstance(contract.validate(topic("speedtest"), with_null, NOW), contract.Message)


def _lines(kind: str, payload: bytes = b"", received_ms=None) -> list:
    message = contract.validate(topic(kind), payload or example_bytes(kind), NOW)
    return [point.to_line_protocol() for point in to_points(message, received_ms)]


def test_speedtest_point():
    (line,) = _lines("speedtest")
    assert line.startswith(
        "schoolnet_speedtest,backend=iperf3,county=hx,school=hx-dazhuang-zx,"
        "server=iperf.hx.edu.example:5201,trigger=scheduled "
    )
    assert "download_mbps=94.2," in line and "bytes_down=117750000i," in line
    assert "ok=true" in line and "target_mbps=100," in line
    assert line.endswith(f" {NOW}")


def test_classrooms_points_carry_parent_and_item_tags():
    lines = _lines("classrooms")
    assert len(lines) == 1 + 2 + 3
    assert lines[0].startswith("schoolnet_classrooms,county=hx,school=hx-dazhuang-zx ")
    assert "coverage_pct=50," in lines[0] and "in_hours=true" in lines[0]
    assert lines[1].startswith("schoolnet_classrooms_class,classroom=c7-1,county=hx,name=七年级(1)班,")
    projector = lines[4]
    assert projector.startswith(
        "schoolnet_classrooms_device,classroom=c7-1,county=hx,device=projector,kind=projector,"
        "method=pjlink,name=投影仪,required=true,school=hx-dazhuang-zx,status=ok "
    )
    assert "lamp_hours=1234i" in projector and "err_fan=2i" in projector and "power_on=true" in projector
    assert "rtt_ms" not in lines[5] and "up=false" in lines[5]


def test_sync_endpoint_inherits_session_and_rural():
    lines = _lines("sync")
    assert lines[1].startswith(
        "schoolnet_sync_endpoint,classroom=c7-1,county=hx,rural=true,school=hx-dazhuang-zx,session=s-math-tue "
    )


def test_status_point_is_stamped_when_received():
    (line,) = _lines("status", example_bytes("status", online=False), received_ms=NOW + 5)
    assert line == (f"schoolnet_agent,agent_version=0.1.0,county=hx,school=hx-dazhuang-zx,school_name=大庄中学 "
                    f"online=false {NOW + 5}")


def test_tag_values_are_escaped_by_the_library():
    payload = _deep("broadband", ("targets", 0, "target"), "县 城域网,a=b")
    line = _lines("broadband", payload)[1]
    assert r"target=县\ 城域网\,a\=b" in line
