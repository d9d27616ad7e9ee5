"""Broadband access: is the school's uplink reachable?

The school counts as connected when any target beyond its uplink answers: the county's
network, a public DNS resolver, an HTTP(S) endpoint. Several kinds of target, because a
county firewall may drop ICMP or DNS, and one dead server must not read as a dead line.

Each target gets a burst of `count` checks `interval` s apart, every target at once, so
a round takes about one timeout however many targets there are. A target is up when any
check of its burst answers; loss_pct is the share that did not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from agent.probes import Endpoint, Reply, check
from agent.probes.icmp import Pinger, pinger_if


@dataclass(frozen=True)
class Target:
    """`name` is the display text on the boards, e.g. 县教育城域网."""

    name: str
    endpoint: Endpoint


@dataclass(frozen=True)
class TargetResult:
    """One target's burst. status: "ok" when any check answered, else the last failure."""

    target: Target
    sent: int
    rtts_ms: tuple[float, ...]
    status: str
    detail: str

    @property
    def up(self) -> bool:
        return self.status == "ok"

    @property
    def rtt_ms(self) -> float | None:
        return round(sum(self.rtts_ms) / len(self.rtts_ms), 3) if self.rtts_ms else None

    @property
    def loss_pct(self) -> float:
        return round(100 * (self.sent - len(self.rtts_ms)) / self.sent, 3)


@dataclass(frozen=True)
class Reachability:
    targets: tuple[TargetResult, ...]

    @property
    def targets_up(self) -> int:
        return sum(result.up for result in self.targets)

    @property
    def up(self) -> bool:
        """Any target answering proves the uplink."""
        return self.targets_up > 0


async def check_broadband(
    targets: Sequence[Target], timeout: float = 2.0, count: int = 3, interval: float = 0.2
) -> Reachability:
    """Bursts to every target at once. Raises PermissionError when there are icmp targets
    and the agent may not ping (see icmp.open_icmp_socket), rather than report them down."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    async with pinger_if(_pings(targets)) as pinger:
        results = await asyncio.gather(
            *(_burst(target, timeout, count, interval, pinger) for target in targets)
        )
    return Reachability(tuple(results))


async def _burst(
    target: Target, timeout: float, count: int, interval: float, pinger: Pinger | None
) -> TargetResult:
    replies = await asyncio.gather(
        *(_check_later(n * interval, target.endpoint, timeout, pinger) for n in range(count))
    )
    return burst_result(target, replies)


async def _check_later(
    delay: float, endpoint: Endpoint, timeout: float, pinger: Pinger | None
) -> Reply:
    await asyncio.sleep(delay)
    return await check(endpoint, timeout, pinger)


def burst_result(target: Target, replies: Sequence[Reply]) -> TargetResult:
    """Folds a burst of check replies (in the order sent) into the target's result."""
    answered = [reply for reply in replies if reply.up]
    rtts = tuple(reply.rtt_ms for reply in answered if reply.rtt_ms is not None)
    telling = answered[0] if answered else replies[-1]
    return TargetResult(target, len(replies), rtts, telling.status, telling.detail)


def broadband_body(result: Reachability) -> dict:
    """The contract's "broadband" body for `result`."""
    return {
        "up": result.up,
        "targets_up": result.targets_up,
        "targets": [_target_item(target) for target in result.targets],
    }


def _target_item(result: TargetResult) -> dict:
    item = {
        "target": result.target.name,
        "method": result.target.endpoint.method,
        "up": result.up,
        "rtt_ms": result.rtt_ms,
        "loss_pct": result.loss_pct,
    }
    return {key: value for key, value in item.items() if value is not None}


def _pings(targets: Sequence[Target]) -> bool:
    return any(target.endpoint.method == "icmp" for target in targets)
