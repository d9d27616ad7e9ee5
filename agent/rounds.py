"""One round of each probe, as the daemon runs them again and again and `check` once.

The probes refuse to run their ICMP checks without permission to ping (PermissionError)
rather than report devices down that may well be up. A whole round lost for that would
hide every other result too (a school with one ping target among four would vanish from
the broadband board), so when the agent may not ping, the rounds here probe everything
else and report each ICMP check down with NO_ICMP as its detail: not shown to answer,
as a class with no devices is not shown to be ready. The daemon says why at start.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Callable, TypeVar

from agent.probes import Endpoint, Reply, broadband, check, devices, icmp
from agent.probes.health import Health, read_health
from agent.probes.quality import path_quality
from agent.probes.speed_test import SpeedTestResult, SpeedTestSettings, run_speed_test
from agent.probes.sync_classroom import (
    EndpointResult,
    SyncResult,
    assess,
    check_platform,
    check_sync,
    echo_burst,
)
from agent.publish import SpoolStats
from agent.wiring import ProbeSetup, SyncArguments

T = TypeVar("T")
NO_ICMP = ("ICMP not permitted: the agent may not ping (run it as root or with CAP_NET_RAW, "
           "or allow ping sockets: sysctl net.ipv4.ping_group_range)")


def icmp_problem() -> str | None:
    """Why this process may not ping, or None when it may (checked once, at start)."""
    try:
        sock, _ = icmp.open_icmp_socket()
    except PermissionError as error:
        return str(error)
    sock.close()
    return None


def not_pinged(host: str) -> icmp.PingResult:
    return icmp.PingResult(host, 0, (), "down", f"{host}: {NO_ICMP}")


def _pings(endpoint: Endpoint) -> bool:
    return endpoint.method == "icmp"


async def broadband_round(setup: ProbeSetup, may_ping: bool = True) -> broadband.Reachability:
    targets = setup.targets
    if may_ping or not any(_pings(target.endpoint) for target in targets):
        return await broadband.check_broadband(targets, setup.broadband_timeout_s)
    probed = tuple(target for target in targets if not _pings(target.endpoint))
    results = {}
    if probed:
        reachability = await broadband.check_broadband(probed, setup.broadband_timeout_s)
        results = {result.target.name: result for result in reachability.targets}
    return broadband.Reachability(tuple(
        results.get(target.name) or broadband.TargetResult(target, 1, (), "down", NO_ICMP)
        for target in targets
    ))


async def classrooms_round(setup: ProbeSetup, in_hours: bool, may_ping: bool = True) -> devices.Sweep:
    rooms = setup.classrooms
    if may_ping:
        return await devices.sweep(rooms, setup.sweep_timeout_s, in_hours)
    probed = tuple(
        replace(room, devices=tuple(d for d in room.devices if not _pings(d.endpoint))) for room in rooms
    )
    swept = await devices.sweep(probed, setup.sweep_timeout_s, in_hours)
    found = {(result.classroom, result.device.device): result for result in swept.devices}
    results = tuple(
        found.get((room.classroom, device.device))
        or devices.DeviceResult(room.classroom, device, not_pinged(device.endpoint.host))
        for room in rooms
        for device in room.devices
    )
    return devices.Sweep(in_hours, devices.score_classes(rooms, results), results)


async def sync_round(arguments: SyncArguments, may_ping: bool = True) -> SyncResult:
    pinging = arguments.path_method == "icmp" or any(_pings(e) for _, e in arguments.endpoints)
    if may_ping or not pinging:
        return await check_sync(**vars(arguments))
    return await _sync_without_icmp(arguments)


async def _sync_without_icmp(arguments: SyncArguments) -> SyncResult:
    """check_sync's steps with every ICMP part reported down (see the module docstring)."""
    a = arguments
    platform, *replies = await asyncio.gather(
        check_platform(a.platform_host, a.platform_port, a.timeout, a.platform_tls),
        *(_check_unless_ping(endpoint, a.timeout) for _, endpoint in a.endpoints),
    )
    endpoints = tuple(EndpointResult(room, reply) for (room, _), reply in zip(a.endpoints, replies))
    if a.path_method == "icmp":
        path, detail = path_quality(a.count, ()), f"{a.path_host}: {NO_ICMP}"
    else:
        burst = await echo_burst(a.path_method, a.path_host, a.path_port, a.count, a.interval, a.timeout)
        path, detail = path_quality(burst.sent, burst.rtts_ms), burst.detail
    problems = (*assess(platform, path, endpoints, a.thresholds), NO_ICMP)
    return SyncResult(platform, path, detail, endpoints, problems)


async def _check_unless_ping(endpoint: Endpoint, timeout: float) -> Reply:
    if _pings(endpoint):
        return not_pinged(endpoint.host)
    return await check(endpoint, timeout)


async def health_round(spool_path: str, spool: SpoolStats) -> Health:
    return await read_health(spool_path, spool.depth, spool.oldest_age_s, spool.dropped_total)


async def speed_test_round(settings: SpeedTestSettings) -> SpeedTestResult:
    """A speed test blocks for its whole length, so it runs in a thread of its own."""
    return await in_own_thread(lambda: run_speed_test(settings))


async def in_own_thread(work: Callable[[], T]) -> T:
    """`work()` in a daemon thread of its own. Unlike asyncio.to_thread's pool, a speed
    test still running when the agent is told to stop does not hold up its exit: the
    test is abandoned, and nothing of it is published."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle(result: object, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def target() -> None:
        result, error = None, None
        try:
            result = work()
        except BaseException as caught:  # noqa: BLE001 - raised on the awaiting side
            error = caught
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop has closed: the agent is exiting

    threading.Thread(target=target, name="speed-test", daemon=True).start()
    return await done
