from __future__ import annotations

import asyncio
import struct

import pytest

from agent.probes import dns
from schoolnet_stack.peers.tcp import closed_port


def ask(peer_or_port, name="www.moe.gov.cn", timeout=1.0) -> dns.DnsResult:
    port = getattr(peer_or_port, "port", peer_or_port)
    return asyncio.run(dns.query("127.0.0.1", name, timeout, port))


# --- against an emulated server --------------------------------------------------------------


def test_a_dns_server_answering_is_up_with_its_addresses(dns_peer):
    peer = dns_peer(addresses=("192.0.2.7", "192.0.2.8"))

    result = ask(peer)

    assert (result.status, result.up, result.rcode) == ("ok", True, "NOERROR")
    assert result.addresses == ("192.0.2.7", "192.0.2.8")
    assert 0 < result.rtt_ms < 1000
    assert result.detail == f"DNS 127.0.0.1:{peer.port}: NOERROR for www.moe.gov.cn"
    assert len(peer.queries) == 1


def test_nxdomain_still_proves_the_resolver_reached_the_dns(dns_peer):
    result = ask(dns_peer(rcode=3), name="no-such-name.moe.gov.cn")

    assert (result.status, result.rcode, result.addresses) == ("ok", "NXDOMAIN", ())


@pytest.mark.parametrize(("rcode", "name"), [(2, "SERVFAIL"), (5, "REFUSED")])
def test_a_resolver_that_cannot_resolve_is_a_bad_reply(dns_peer, rcode, name):
    result = ask(dns_peer(rcode=rcode))

    assert (result.status, result.up, result.rcode) == ("bad_reply", False, name)
    assert f"answered {name} for www.moe.gov.cn" in result.detail


def test_an_answer_with_another_id_is_ignored_so_the_query_times_out(dns_peer):
    result = ask(dns_peer(mode="wrong_id"), timeout=0.3)

    assert result.status == "timeout"
    assert result.detail.endswith("no answer within 0.3 s; 1 stray datagrams ignored")


def test_garbage_with_our_id_is_a_bad_reply(dns_peer):
    result = ask(dns_peer(mode="garbage"))

    assert result.status == "bad_reply"
    assert "different question" in result.detail


def test_a_silent_server_times_out(dns_peer):
    assert ask(dns_peer(mode="silent"), timeout=0.2).status == "timeout"


def test_no_server_on_the_port_is_refused():
    result = ask(closed_port())

    assert (result.status, result.up) == ("refused", False)
    assert "port unreachable (no DNS server on that port)" in result.detail


# --- packets ----------------------------------------------------------------------------------


def test_a_query_is_one_recursive_a_question():
    packet = dns.build_query(0xABCD, "www.moe.gov.cn")

    assert packet[:12] == struct.pack("!HHHHHH", 0xABCD, 0x0100, 1, 0, 0, 0)
    assert packet[12:] == b"\x03www\x03moe\x03gov\x02cn\x00" + b"\x00\x01\x00\x01"


def test_chinese_names_are_sent_as_idna():
    assert dns.encode_name("教育.cn") == b"\x0bxn--wcvs22d\x02cn\x00"


@pytest.mark.parametrize("name", ["", "a..b", "x" * 64 + ".cn", ("a" * 60 + ".") * 5])
def test_a_name_dns_cannot_carry_is_refused(name):
    with pytest.raises(ValueError, match="not a valid host name"):
        dns.encode_name(name)


def _response(query: bytes, flags: int = 0x8180, answers: bytes = b"", ancount: int = 0) -> bytes:
    header = query[:2] + struct.pack("!HHHHH", flags, 1, ancount, 0, 0)
    return header + query[12:] + answers


def test_records_behind_a_compression_pointer_and_other_types_are_read():
    query = dns.build_query(7, "www.moe.gov.cn")
    cname = struct.pack("!HHHIH", 0xC00C, 5, 1, 60, 4) + b"\x01x\xc0\x10"
    a_record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([10, 1, 2, 3])

    response = dns.read_response(_response(query, answers=cname + a_record, ancount=2), query)

    assert response == dns.Response(0, ("10.1.2.3",))


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda r: r[:11], "shorter than a DNS header"),
        (lambda r: b"\x00\x00" + r[2:], "id differs"),
        (lambda r: r[:2] + b"\x01\x00" + r[4:], "not a response"),
        (lambda r: r[:-5] + b"\x00\x02" + r[-3:], "different question"),
        (lambda r: r[:6] + b"\x00\x01" + r[8:], "a name runs past the end"),
        (lambda r: r[:6] + b"\x00\x01" + r[8:] + b"\xc0\x0c\x00\x01", "cut short"),
        (lambda r: r[:6] + b"\x00\x01" + r[8:] + b"\x40", "label type 0x40"),
    ],
)
def test_responses_that_do_not_answer_our_query_say_why(mangle, words):
    query = dns.build_query(7, "www.moe.gov.cn")

    with pytest.raises(dns.BadResponse, match=words):
        dns.read_response(mangle(_response(query)), query)
