from __future__ import annotations

import asyncio
import json
import os
import secrets
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from agent.probes import icmp
from schoolnet_stack.netns import namespace_name
from schoolnet_stack.requirements import require_binary, require_netns, require_root

REPO = Path(__file__).resolve().parents[3]


# --- packets -----------------------------------------------------------------------------


def test_checksum_matches_the_rfc_1071_example():
    # RFC 1071 section 3: these bytes sum to ddf2, so the checksum is its complement.
    assert icmp.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_odd_length_data_is_padded_with_a_zero_byte():
    assert icmp.checksum(b"\x01") == icmp.checksum(b"\x01\x00") == 0xFEFF


def test_an_echo_request_is_laid_out_as_rfc_792_says():
    packet = icmp.echo_request(0x1234, 1, b"")

    # type 8, code 0, checksum ~(0x0800 + 0x1234 + 0x0001), identifier, sequence
    assert packet == bytes.fromhex("0800e5ca12340001")
    assert icmp.checksum(icmp.echo_request(7, 65535, b"payload")) == 0  # self-consistent


def _ip_header(ihl_words: int = 5) -> bytes:
    return bytes([0x40 | ihl_words]) + bytes(ihl_words * 4 - 1)


def test_a_reply_is_read_after_the_ip_header_raw_sockets_deliver():
    reply = struct.pack("!BBHHH", 0, 0, 0, 0xBEEF, 42) + b"token"

    assert icmp.parse_echo(_ip_header() + reply, with_ip_header=True) == icmp.Echo(0, 0xBEEF, 42, b"token")
    assert icmp.parse_echo(_ip_header(6) + reply, with_ip_header=True).sequence == 42  # IP options
    assert icmp.parse_echo(reply, with_ip_header=False).identifier == 0xBEEF


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        struct.pack("!BBH", 0, 0, 0),  # cut short
        struct.pack("!BBHHH", 3, 1, 0, 0, 0),  # destination unreachable
        struct.pack("!BBHHH", 0, 5, 0, 0, 0),  # echo reply with a code that does not exist
    ],
)
def test_anything_but_an_echo_is_ignored(packet):
    assert icmp.parse_echo(packet, with_ip_header=False) is None


def test_a_mode_that_does_not_exist_is_refused_by_name():
    with pytest.raises(ValueError, match="auto, dgram, raw"):
        icmp.open_icmp_socket("udp")


# --- pinging loopback ---------------------------------------------------------------------


def test_raw_socket_pings_loopback_with_a_small_round_trip():
    require_root()

    result = asyncio.run(icmp.ping("127.0.0.1", count=3, timeout=1, interval=0.05, mode="raw"))

    assert (result.status, result.up, result.sent, result.loss_pct) == ("ok", True, 3, 0.0)
    assert len(result.rtts_ms) == 3
    assert 0 < result.rtt_ms < 50
    assert result.detail == "127.0.0.1: 3/3 echo replies within 1 s"


def test_one_pinger_keeps_concurrent_hosts_apart():
    require_root()

    async def sweep() -> list[icmp.PingResult]:
        async with icmp.pinging() as pinger:
            hosts = [f"127.0.9.{n}" for n in range(1, 41)]
            return await asyncio.gather(*(pinger.ping(h, count=2, interval=0.01) for h in hosts))

    results = asyncio.run(sweep())

    assert [r.host for r in results] == [f"127.0.9.{n}" for n in range(1, 41)]
    assert all(r.status == "ok" and len(r.rtts_ms) == 2 for r in results)


def test_a_closed_pinger_says_how_to_use_it():
    async def misuse() -> None:
        pinger = icmp.Pinger()
        await pinger.ping("127.0.0.1", count=1)

    with pytest.raises(RuntimeError, match="async with pinging"):
        asyncio.run(misuse())


# --- socket kinds inside a namespace of our own ----------------------------------------------
# ping_group_range and icmp_echo_ignore_all belong to a network namespace, so the
# unprivileged path is tried in one of ours without touching the machine's settings.

_PING = """
import asyncio, json, sys
from agent.probes import icmp
try:
    r = asyncio.run(icmp.ping("127.0.0.1", count=3, timeout=0.3, interval=0.05, mode=sys.argv[1]))
    print(json.dumps({"status": r.status, "rtts": r.rtts_ms, "kind": sys.argv[1]}))
except PermissionError as error:
    print(json.dumps({"error": str(error)}))
"""


@pytest.fixture(scope="module")
def namespace():
    require_netns()
    require_binary("setpriv")
    name = namespace_name(os.getpid(), secrets.token_hex(3), "a")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _ping_inside(namespace: str, mode: str, ping_group_range: str, net_raw: bool, answer: bool = True) -> dict:
    for setting in (f"net.ipv4.ping_group_range={ping_group_range}",
                    f"net.ipv4.icmp_echo_ignore_all={0 if answer else 1}"):
        subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-qw", setting], check=True)
    drop = [] if net_raw else ["setpriv", "--bounding-set", "-net_raw"]
    argv = ["ip", "netns", "exec", namespace, *drop, sys.executable, "-c", _PING, mode]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_unprivileged_ping_socket_works_where_the_group_range_allows_it(namespace):
    result = _ping_inside(namespace, "dgram", "0 2147483647", net_raw=False)

    assert result["status"] == "ok"
    assert len(result["rtts"]) == 3 and max(result["rtts"]) < 50


def test_auto_mode_takes_the_ping_socket_without_cap_net_raw(namespace):
    result = _ping_inside(namespace, "auto", "0 2147483647", net_raw=False)

    assert result["status"] == "ok"


def test_without_either_permission_the_error_says_both_ways_to_allow_it(namespace):
    result = _ping_inside(namespace, "auto", "1 0", net_raw=False)

    assert "dgram: Permission denied" in result["error"]
    assert "raw: Operation not permitted" in result["error"]
    assert "CAP_NET_RAW" in result["error"]
    assert "sysctl -w net.ipv4.ping_group_range='0 2147483647'" in result["error"]


def test_a_host_that_ignores_echoes_times_out_with_all_lost(namespace):
    result = _ping_inside(namespace, "raw", "1 0", net_raw=True, answer=False)

    assert result == {"status": "timeout", "rtts": [], "kind": "raw"}
