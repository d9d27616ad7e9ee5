from __future__ import annotations

import asyncio
import json
from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace

import pytest

from agent.probes import Endpoint
from agent.probes.quality import PathQuality
from agent.probes.sync_classroom import (
    EndpointResult,
    PlatformResult,
    Session,
    SyncResult,
    Thresholds,
    assess,
    check_platform,
    check_sync,
    echo_burst,
    echo_datagram,
    read_echo,
    session_now,
    sync_body,
    udp_echo,
)
from agent.probes.tcp import ConnectResult
from schoolnet_core import contract
from schoolnet_stack.peers.tcp import closed_port
from schoolnet_stack.requirements import require_root

TS = 1_795_570_200_000
SHANGHAI = "Asia/Shanghai"
ENGLISH = Session("s-eng-c7-1", ("tue", "thu"), time(8, 55), time(9, 40))
MUSIC = Session("s-music-c8-1", ("wed",), time(14, 55), time(15, 40))


def encoded(body: dict) -> dict:
    payload = contract.encode("sync", "hx", "hx-dazhuang-zx", TS, body)
    message = contract.validate(contract.topic("hx", "hx-dazhuang-zx", "sync"), payload, TS)
    assert isinstance(message, contract.Message), message
    return json.loads(payload)


def shanghai(day: int, hour: int, minute: int) -> datetime:
    """A moment in November 2026 at Shanghai wall-clock time, given in UTC (24th: Tuesday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone(timedelta(hours=8))).astimezone(timezone.utc)


# --- which session is on (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (shanghai(24, 8, 55), ENGLISH),  # Tuesday, the first minute
        (shanghai(24, 9, 39), ENGLISH),
        (shanghai(24, 9, 40), None),  # the end is outside
        (shanghai(24, 8, 54), None),
        (shanghai(26, 9, 0), ENGLISH),  # Thursday
        (shanghai(25, 9, 0), None),  # Wednesday morning
        (shanghai(25, 15, 0), MUSIC),
    ],
)
def test_the_session_on_is_found_by_local_weekday_and_time(moment, expected):
    assert session_now([ENGLISH, MUSIC], moment, SHANGHAI) == expected


def test_utc_midnight_is_already_morning_in_shanghai():
    # 00:55 UTC on Tuesday is 08:55 in Shanghai: taking the UTC wall time would miss it.
    assert session_now([ENGLISH], datetime(2026, 11, 24, 0, 55, tzinfo=timezone.utc), SHANGHAI) == ENGLISH


def test_no_session_is_held_on_a_holiday():
    assert session_now([ENGLISH], shanghai(24, 9, 0), SHANGHAI, school_day=False) is None


def test_a_naive_time_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="aware datetime"):
        session_now([ENGLISH], datetime(2026, 11, 24, 9, 0), SHANGHAI)


def test_the_configs_sessions_work_as_they_are():
    configured = SimpleNamespace(id="s-x", name="英语", classroom="c7-1", days=("tue",),
                                 start=time(8, 0), end=time(9, 0), remote_school=None)

    assert session_now([configured], shanghai(24, 8, 30), SHANGHAI) is configured


@pytest.mark.parametrize(
    ("days", "start", "end", "words"),
    [
        (("tuesday",), time(8), time(9), "days \\['tuesday'\\] are not among mon"),
        (("tue",), time(9), time(9), "end 09:00 must be after start 09:00"),
    ],
)
def test_a_session_that_cannot_happen_is_refused(days, start, end, words):
    with pytest.raises(ValueError, match=words):
        Session("s", days, start, end)


# --- echo datagrams ------------------------------------------------------------------------------


def test_an_echo_datagram_carries_token_sequence_and_send_time_in_a_voice_packets_size():
    datagram = echo_datagram(0xC0FFEE, 7, 123_456_789)

    assert len(datagram) == 172
    assert read_echo(datagram, 0xC0FFEE) == (7, 123_456_789)
    assert read_echo(datagram, 0xBEEF) is None  # another burst's
    assert read_echo(datagram[:10], 0xC0FFEE) is None
    assert read_echo(b"XXXX" + datagram[4:], 0xC0FFEE) is None


def test_a_loopback_echo_burst_comes_back_whole(udp_echo_peer):
    burst = asyncio.run(udp_echo("127.0.0.1", udp_echo_peer.port, count=50, interval=0.002, timeout=1))

    assert (burst.sent, len(burst.rtts_ms), burst.status) == (50, 50, "ok")
    assert all(0 < rtt < 100 for rtt in burst.rtts_ms)
    assert udp_echo_peer.echoed == 50


def test_no_echo_service_is_refused():
    burst = asyncio.run(udp_echo("127.0.0.1", closed_port(), count=5, interval=0.001, timeout=0.3))

    assert (burst.status, burst.rtts_ms) == ("refused", ())
    assert "port unreachable (no echo service there)" in burst.detail


def test_the_path_can_be_measured_by_icmp_where_the_county_has_no_echo_service():
    require_root()

    burst = asyncio.run(echo_burst("icmp", "127.0.0.1", None, count=20, interval=0.002, timeout=1))

    assert (burst.sent, len(burst.rtts_ms), burst.status) == (20, 20, "ok")


def test_a_path_method_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="'tcp' is not one of udp_echo, icmp"):
        asyncio.run(echo_burst("tcp", "127.0.0.1", 80, 1, 0.01, 0.1))


# --- the platform ----------------------------------------------------------------------------------


def test_the_platform_reports_connect_and_tls_handshake_times(http_peer, tls_files):
    peer = http_peer(tls=(tls_files["cert"], tls_files["key"]))

    result = asyncio.run(check_platform("127.0.0.1", peer.port, 2, tls=True, ca_file=tls_files["ca"]))

    assert (result.status, result.up) == ("ok", True)
    assert 0 < result.connect_ms < 1000 and 0 < result.tls_ms < 1000


def test_a_platform_certificate_we_cannot_trust_is_not_up(http_peer, tls_files):
    peer = http_peer(tls=(tls_files["cert"], tls_files["key"]))

    result = asyncio.run(check_platform("127.0.0.1", peer.port, 2, tls=True))

    assert (result.status, result.up, result.tls_ms) == ("bad_reply", False, None)


def test_a_plain_platform_reports_its_connect_time(listener):
    result = asyncio.run(check_platform("127.0.0.1", listener().port, 2))

    assert (result.status, result.tls_ms) == ("ok", None)
    assert result.connect_ms > 0


# --- readiness -----------------------------------------------------------------------------------


def test_a_school_with_everything_answering_on_a_clean_path_is_ready(listener, udp_echo_peer):
    result = asyncio.run(check_sync(
        platform_host="127.0.0.1", platform_port=listener().port,
        path_method="udp_echo", path_host="127.0.0.1", path_port=udp_echo_peer.port,
        count=20, interval=0.002, endpoints=[("c7-1", Endpoint("tcp", "127.0.0.1", listener().port))],
        timeout=1,
    ))

    assert (result.ready, result.problems) == (True, ())
    body = encoded(sync_body(result, rural=True, session="s-eng-c7-1"))
    assert (body["ready"], body["session"], body["session_active"], body["loss_pct"]) == (True, "s-eng-c7-1", True, 0.0)
    assert (body["endpoints_up"], body["endpoints_total"], body["platform_up"]) == (1, 1, True)
    assert body["mos"] > 4.3 and body["r_factor"] > 90


def test_a_silent_endpoint_makes_the_school_not_ready_and_says_which(listener, udp_echo_peer):
    gone = closed_port()

    result = asyncio.run(check_sync(
        platform_host="127.0.0.1", platform_port=listener().port,
        path_method="udp_echo", path_host="127.0.0.1", path_port=udp_echo_peer.port,
        count=10, interval=0.002, endpoints=[("c8-1", Endpoint("tcp", "127.0.0.1", gone))], timeout=1,
    ))

    assert result.ready is False
    assert result.problems == (
        f"classroom c8-1 endpoint refused: 127.0.0.1:{gone}: connection refused (nothing listening on that port)",
    )
    body = encoded(sync_body(result, rural=False, session=None))
    assert "session" not in body and body["session_active"] is False
    assert body["endpoints"] == [{"classroom": "c8-1", "up": False}]


def _path(rtt=40.0, jitter=3.0, loss=0.0, rating=89.0, score=4.3) -> PathQuality:
    return PathQuality(50, 50, rtt, jitter, loss, rating, score)


def test_every_threshold_broken_is_named():
    up = PlatformResult("ok", 10.0)

    problems = assess(up, _path(rtt=210, jitter=42.5, loss=3, score=3.1), [], Thresholds())

    assert problems == (
        "round trip 210ms is above the limit 150ms",
        "jitter 42.5ms is above the limit 30ms",
        "loss 3% is above the limit 1%",
        "MOS 3.1 is below the limit 3.6",
    )


def test_a_down_platform_and_no_echo_are_both_reasons():
    down = PlatformResult("timeout", detail="platform p:443: no answer within 2 s")
    nothing = PathQuality(50, 0, None, None, 100.0, 0.0, 1.0)
    endpoint = EndpointResult("c7-1", ConnectResult("ok", 1.0))

    problems = assess(down, nothing, [endpoint], Thresholds())

    assert problems == (
        "platform timeout: platform p:443: no answer within 2 s",
        "no echo came back: the path quality is unknown",
    )


def test_the_body_of_a_dead_path_still_encodes():
    result = SyncResult(PlatformResult("refused"), PathQuality(50, 0, None, None, 100.0, 0.0, 1.0), "", (), ("x",))

    body = encoded(sync_body(result, rural=True, session=None))

    assert (body["ready"], body["platform_up"], body["loss_pct"], body["mos"]) == (False, False, 100.0, 1.0)
    assert "rtt_ms" not in body and "jitter_ms" not in body

