from __future__ import annotations

import asyncio
import hashlib

import pytest

from agent.probes import pjlink
from agent.probes.pjlink import ErrorStatus, ProtocolError


def query(peer, password=None, timeout=2.0) -> pjlink.ProjectorState:
    return asyncio.run(pjlink.query(peer.host, timeout, peer.port, password))


# --- against an emulated projector ---------------------------------------------------------


def test_lamp_hours_and_a_fan_error_are_read_exactly(pjlink_peer):
    peer = pjlink_peer(power=1, errors="200000", lamp_hours=1234)

    state = query(peer)

    assert (state.status, state.up, state.power, state.power_on) == ("device_error", False, 1, True)
    assert (state.lamp_hours, state.lamp_on) == (1234, True)
    assert state.errors == ErrorStatus(fan=2, lamp=0, temperature=0, cover=0, filter=0, other=0)
    assert state.detail == f"PJLink 127.0.0.1:{peer.port}: power on; lamp 1234 h; fan error"
    assert 0 < state.rtt_ms < 1000
    assert peer.received == [b"%1POWR ?\r", b"%1ERST ?\r", b"%1LAMP ?\r"]


def test_the_password_goes_only_as_a_digest_before_the_first_command(pjlink_peer):
    peer = pjlink_peer(password="jiaoyu-2024", power=0, errors="000010", lamp_hours=87, lamp_on=False)

    state = query(peer, password="jiaoyu-2024")

    assert (state.status, state.power_on, state.lamp_hours, state.lamp_on) == ("ok", False, 87, False)
    assert state.errors.filter == 1
    assert state.detail.endswith("power standby; lamp 87 h; filter warning")
    first, *rest = peer.received
    assert len(first) == 32 + len(b"%1POWR ?\r") and first.endswith(b"%1POWR ?\r")
    assert rest == [b"%1ERST ?\r", b"%1LAMP ?\r"]
    assert not any(b"jiaoyu" in line for line in peer.received)


def test_a_wrong_password_is_auth_failed_with_a_clear_detail(pjlink_peer):
    peer = pjlink_peer(password="jiaoyu-2024")

    state = query(peer, password="wrong-password")

    assert (state.status, state.up, state.power) == ("auth_failed", False, None)
    assert state.detail == (
        f"PJLink 127.0.0.1:{peer.port}: the projector refused the PJLink password "
        "(PJLINK ERRA); check the password configured for this device"
    )
    assert "wrong-password" not in state.detail
    assert len(peer.received) == 1  # it hung up after the refused digest


def test_a_projector_asking_for_a_password_none_is_configured_for(pjlink_peer):
    peer = pjlink_peer(password="jiaoyu-2024")

    state = query(peer, password=None)

    assert state.status == "auth_failed"
    assert state.detail.endswith("the projector asks for a PJLink password and none is configured")
    assert peer.received == []  # nothing sent that could be mistaken for a try


@pytest.mark.parametrize(
    ("garbage", "words"),
    [
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "not a PJLink greeting: 'SSH-2.0-OpenSSH_9.2p1"),
        (b"\x16\x03\x01\x00\xa5\x01\r", "non-ASCII bytes"),
        (b"A" * 300, "a line longer than 136 bytes"),
        (b"PJLINK 0", "closed the connection after b'PJLINK 0'"),
    ],
)
def test_a_device_that_is_no_projector_is_a_bad_reply(pjlink_peer, garbage, words):
    peer = pjlink_peer(garbage=garbage)

    state = query(peer)

    assert (state.status, state.up) == ("bad_reply", False)
    assert words in state.detail


def test_a_projector_without_a_lamp_still_reports_power_and_errors(pjlink_peer):
    peer = pjlink_peer(power=3, errors="000002", lamp_hours=None)  # laser: LAMP is ERR1

    state = query(peer)

    assert (state.status, state.power_on, state.lamp_hours) == ("device_error", True, None)
    assert state.errors.other == 2
    assert "LAMP: not supported by this device (ERR1)" in state.detail


def test_a_warning_alone_keeps_the_projector_up(pjlink_peer):
    state = query(pjlink_peer(power=1, errors="000010", lamp_hours=87))

    assert (state.status, state.up) == ("ok", True)
    assert state.errors.filter == 1


def test_a_stopped_projector_is_refused(pjlink_peer):
    peer = pjlink_peer()
    peer.stop()

    state = query(peer)

    assert state.status == "refused"


# --- lines ----------------------------------------------------------------------------------


def test_greetings_tell_whether_a_password_is_asked():
    assert pjlink.read_greeting("PJLINK 0") is None
    assert pjlink.read_greeting("PJLINK 1 498e4a67") == "498e4a67"
    with pytest.raises(ProtocolError, match="not a PJLink greeting"):
        pjlink.read_greeting("PJLINK 2")


def test_the_digest_is_md5_of_challenge_then_password_as_the_standard_shows():
    # The PJLink class 1 document's example: random 498e4a67, password JBMIAProjectorLink.
    assert pjlink.auth_digest("498e4a67", "JBMIAProjectorLink") == "5d8409bc1c3fa39749434aa3a5c38682"
    assert pjlink.auth_digest("x", "y") == hashlib.md5(b"xy").hexdigest()


def test_answers_are_matched_to_their_command():
    assert pjlink.read_answer("%1POWR=1", "POWR") == "1"
    assert pjlink.read_answer("%1LAMP=ERR3", "LAMP") == "ERR3"
    with pytest.raises(ProtocolError, match="unexpected answer to ERST"):
        pjlink.read_answer("%1POWR=1", "ERST")
    with pytest.raises(pjlink.AuthFailed):
        pjlink.read_answer("PJLINK ERRA", "POWR")


def test_error_status_digits_map_to_fan_lamp_temperature_cover_filter_other():
    assert pjlink.read_errors("012021") == ErrorStatus(0, 1, 2, 0, 2, 1)
    assert pjlink.read_errors("012021").problems() == [
        "lamp warning", "temperature error", "filter error", "other warning"
    ]
    for bad in ("00000", "0000003", "00000x"):
        with pytest.raises(ProtocolError, match="six digits"):
            pjlink.read_errors(bad)


def test_lamp_answers_give_hours_and_state_per_lamp():
    assert pjlink.read_lamps("1234 1") == ((1234, True),)
    assert pjlink.read_lamps("99999 0 12 1") == ((99999, False), (12, True))
    for bad in ("", "1234", "1234 2", "123456 1", "-1 1", "1 1 " * 9):
        with pytest.raises(ProtocolError):
            pjlink.read_lamps(bad.strip())


def test_the_state_takes_the_oldest_lamp_and_notes_refusals():
    answers = {"POWR": "2", "ERST": "ERR3", "LAMP": "1500 0 2100 1"}

    state = pjlink.projector_state(answers, 3.0, "PJLink p:4352")

    assert (state.power, state.power_on, state.errors) == (2, False, None)
    assert (state.lamp_hours, state.lamp_on) == (2100, True)
    assert state.detail == (
        "PJLink p:4352: power cooling down; lamp 2100 h; "
        "ERST: not available now, e.g. in standby (ERR3)"
    )


def test_an_impossible_power_state_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="POWR answer '7' is not 0-3"):
        pjlink.projector_state({"POWR": "7", "ERST": "000000", "LAMP": "1 1"}, None, "p")
