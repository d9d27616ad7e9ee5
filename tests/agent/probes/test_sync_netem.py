"""The sync-classroom path probe across a shaped link between two network namespaces.

The harness's Link delays each direction by 40 ms +- a uniform 10 ms and drops 2 % per
direction, in its userspace wire (schoolnet_stack/wire.py). The echo peer runs behind the
link in namespace "b"; the probe in "a", this test process's own namespace.

What to expect, and so the tolerances:
  rtt     2 x 40 ms, plus a few ms because the wire keeps packets in order (a packet
          due before its predecessor waits for it): a simulation of the wire gives a
          mean of 84 ms; asserted 78-100 ms.
  jitter  without reordering, |D| of two sums of uniforms would average ~9 ms; in-order
          release at 5 ms spacing smooths it: 200 simulated runs gave 3.2-6.8 ms (mean
          5.1); asserted 2-10 ms.
  loss    a round trip survives both directions: 1 - 0.98**2 = 3.96 %; with 500
          probes the standard deviation is 0.87 %; asserted 1-8 % (beyond 3.4 sigma).
  MOS     one-way loss 0 %, ~2 % and ~10 % give R about 92, 85 and 64: MOS must fall.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from agent.probes.quality import path_quality
from agent.probes.sync_classroom import udp_echo
from schoolnet_stack.netns import Link
from schoolnet_stack.peers import udp_echo as echo_peer
from schoolnet_stack.requirements import require_netns

pytestmark = pytest.mark.netns

ECHO_PEER = Path(echo_peer.__file__)
COUNT, INTERVAL, WAIT = 500, 0.005, 0.5


@pytest.fixture(scope="module")
def shaped():
    """(link, echo port) with the echo peer running behind the link."""
    require_netns()
    with Link(delay_ms=40, jitter_ms=10, loss_pct=2, a_in_root=True) as link:
        peer = link.popen_in(
            "b", [sys.executable, str(ECHO_PEER), "--host", link.b_ip],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            ready = peer.stdout.readline().split()
            assert ready[:1] == ["ready"], f"the echo peer did not start: {ready}"
            yield link, int(ready[1])
        finally:
            peer.stdin.close()  # EOF stops it
            peer.wait(timeout=5)
            peer.stdout.close()


def burst(link: Link, port: int, loss_pct: float):
    link.update_shaping(loss_pct=loss_pct)
    result = asyncio.run(udp_echo(link.b_ip, port, COUNT, INTERVAL, WAIT))
    return path_quality(result.sent, result.rtts_ms)


@pytest.fixture(scope="module")
def measured(shaped) -> dict:
    """Path quality at 2 %, 0 % and 10 % loss per direction, one burst each."""
    link, port = shaped
    return {loss: burst(link, port, loss) for loss in (2, 0, 10)}


def test_round_trip_is_both_directions_delay(measured):
    assert 78 <= measured[2].rtt_ms <= 100, measured[2]


def test_jitter_is_seen_and_bounded(measured):
    assert 2 <= measured[2].jitter_ms <= 10, measured[2]


def test_loss_is_that_of_both_directions(measured):
    assert 1 <= measured[2].loss_pct <= 8, measured[2]
    assert measured[0].loss_pct == 0.0


def test_mos_falls_as_loss_rises(measured):
    scores = [measured[loss].mos for loss in (0, 2, 10)]

    assert scores[0] > scores[1] > scores[2], [measured[loss] for loss in (0, 2, 10)]
    assert scores[0] >= 4.3 and scores[2] < 3.6  # clean is "very satisfied"; 10 % fails the default
