"""2. Sweep: 500 classroom devices, checked by the agent's sweep and by plain anchors.

The devices live in namespace b of a netns.Link (a school LAN behind the gateway,
namespace a), on addresses of 10.214.0.0/16 routed through the link:
  up       10.214.16.0/20 is local to b (on its loopback): every address answers ICMP
           echo, and a TCP listener on port 80 accepts (port 81: nothing listens, the
           kernel answers RST - a device that is on but whose service is not: "refused");
  down     10.214.32.0/20 is an `unreachable` route in b: b answers ICMP host unreachable
           (the kernel rate-limits those, as a real router does, so most go unanswered);
  slow     10.214.48.0/20 is a `blackhole` route in b: packets vanish, every check times out.
The mix is 60 % up, 20 % down, 20 % slow: 300/100/100 of 500, as in 100 classes of 5.

ICMP devices are compared with fping run on the same addresses from the same namespace:
  same timeout and retries   -r 2 (3 echoes, as the agent's ICMP_TRIES), -B 1 (no backoff:
                             the agent has none) and -t = the agent's wait per echo;
  the same with -i 1         1 ms between probes instead of fping's default 10 ms;
  the agent's schedule       -c 3 -p <timeout/6> -t <wait per echo> -i 1: three echoes per
                             host spaced as the agent spaces them, all waited for at once.
TCP devices are compared with a minimal asyncio connect loop (open_connection under
wait_for, the same concurrency limit as the agent): nmap is not installed, and fping does
not speak TCP; the loop shows what the agent costs above the bare minimum in its language.

Each tool runs in its own process in namespace a. The agent's sweep and the TCP anchor time
themselves around the sweep (interpreter start-up and imports excluded; shown in the notes);
fping is timed from start to exit with its own rusage.

This module is also the program run inside the namespaces:
    python -m bench.sweep listen PORT           accepts and closes connections (namespace b)
    python -m bench.sweep agent PLAN.json       the agent's sweep (namespace a)
    python -m bench.sweep connect-loop PLAN.json  the TCP anchor (namespace a)
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import re
import resource
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.plan import RunPlan, say
from bench.processes import Programs, Timed, timed_run
from bench.report import Figure, Outcome, Target
from schoolnet_stack.netns import Link

NAME = "sweep"
TITLE = "classroom device sweep vs fping and a bare connect loop / 教室设备巡检"

DEVICES = 500
SHARES = {"up": 0.6, "down": 0.2, "slow": 0.2}
LAN = "10.214.0.0/16"
LOCAL = "10.214.16.0/20"
"""Local to namespace b: every address answers ICMP, and TCP port 80 (port 81 refuses)."""
UNREACHABLE, BLACKHOLE = "10.214.32.0/20", "10.214.48.0/20"
ADDRESSES = {
    ("icmp", "up"): "10.214.16.0/21", ("icmp", "down"): UNREACHABLE, ("icmp", "slow"): BLACKHOLE,
    ("tcp", "up"): "10.214.16.0/21", ("tcp", "down"): "10.214.24.0/21", ("tcp", "slow"): BLACKHOLE,
}  # fmt: skip
LISTEN_PORT, CLOSED_PORT = 80, 81
TIMEOUT_S = 2.0  # the example config's sweep.timeout_s
ICMP_TRIES = 3  # agent.probes.devices.ICMP_TRIES
CONCURRENCY = 256  # agent.probes.devices.sweep's default
DEVICES_PER_CLASS = 5
TARGET = Target("<=", 1.5, "ratio", "<= 1.5x anchor wall time")


@dataclass(frozen=True)
class Device:
    host: str
    port: int | None
    expected: str
    """up, down or slow."""


def device_plan(method: str, count: int = DEVICES) -> list[Device]:
    """`count` devices in SHARES, the kinds interleaved so every class has a mix. A tcp
    device that is down is on but refuses (port 81); an icmp one is unreachable."""
    counts = {kind: round(count * share) for kind, share in SHARES.items()}
    counts["up"] += count - sum(counts.values())
    used: Counter = Counter()
    devices = []
    for kind in interleave(counts):
        used[kind] += 1
        host = str(ipaddress.ip_network(ADDRESSES[method, kind])[used[kind]])
        port = None if method == "icmp" else (CLOSED_PORT if kind == "down" else LISTEN_PORT)
        devices.append(Device(host, port, kind))
    return devices


def interleave(counts: dict[str, int]) -> list[str]:
    """Kinds spread evenly: each position takes the kind furthest behind its share."""
    total = sum(counts.values())
    placed: Counter = Counter()
    order = []
    for position in range(1, total + 1):
        kind = max(counts, key=lambda k: counts[k] * position / total - placed[k])
        placed[kind] += 1
        order.append(kind)
    return order


def per_echo_wait_s(timeout_s: float, tries: int = ICMP_TRIES) -> float:
    """How long the agent waits for each echo (agent.probes._icmp): the echoes go out
    timeout/(2*tries) apart and the last one's answer is due at `timeout`."""
    return timeout_s - (tries - 1) * timeout_s / (2 * tries)


# --- inside the namespaces --------------------------------------------------------------------


def listen(port: int) -> None:
    """Namespace b: accepts on every local address and closes at once, so the backlog
    never fills however many sweeps run (the kernel completes the handshakes itself)."""
    server = socket.create_server(("0.0.0.0", port), backlog=4096)
    print("listening", flush=True)
    while True:
        connection, _ = server.accept()
        connection.close()


def classrooms_of(devices: list[Device]) -> list:
    """The agent's Classroom values for a plan: DEVICES_PER_CLASS devices per class."""
    from agent.probes import Endpoint
    from agent.probes.devices import Classroom
    from agent.probes.devices import Device as AgentDevice

    rooms = []
    for first in range(0, len(devices), DEVICES_PER_CLASS):
        members = tuple(
            AgentDevice(f"d{index}", "交互式一体机", "interactive_panel",
                        Endpoint("icmp" if d.port is None else "tcp", d.host, d.port))
            for index, d in enumerate(devices[first:first + DEVICES_PER_CLASS])
        )  # fmt: skip
        rooms.append(Classroom(f"c{first // DEVICES_PER_CLASS}", f"{first // DEVICES_PER_CLASS}班", members))
    return rooms


def agent_sweep(devices: list[Device], timeout_s: float) -> dict:
    """Namespace a: the agent's sweep, timed around the call (imports done before)."""
    from agent.probes.devices import sweep

    rooms = classrooms_of(devices)
    began, cpu = time.monotonic(), _cpu_s()
    result = asyncio.run(sweep(rooms, timeout=timeout_s, in_hours=True))
    wall, cpu = time.monotonic() - began, _cpu_s() - cpu
    statuses = [d.reply.status for d in result.devices]
    up = [d.device.endpoint.host for d in result.devices if d.up]
    return {"wall_s": wall, "cpu_s": cpu, "statuses": Counter(statuses), "up": up}


async def _connect(host: str, port: int, timeout_s: float, limit: asyncio.Semaphore) -> str:
    async with limit:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        except asyncio.TimeoutError:
            return "timeout"
        except ConnectionRefusedError:
            return "refused"
        except OSError:
            return "down"
        writer.close()
        return "ok"


def connect_loop(devices: list[Device], timeout_s: float) -> dict:
    """Namespace a: the TCP anchor, the least code that answers the same question."""

    async def all_devices() -> list[str]:
        limit = asyncio.Semaphore(CONCURRENCY)
        return await asyncio.gather(*(_connect(d.host, d.port, timeout_s, limit) for d in devices))

    began, cpu = time.monotonic(), _cpu_s()
    statuses = asyncio.run(all_devices())
    wall, cpu = time.monotonic() - began, _cpu_s() - cpu
    up = [d.host for d, status in zip(devices, statuses) if status == "ok"]
    return {"wall_s": wall, "cpu_s": cpu, "statuses": Counter(statuses), "up": up}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the programs bench.sweep runs inside its namespaces")
    parser.add_argument("role", choices=("listen", "agent", "connect-loop"))
    parser.add_argument("arg", help="PORT for listen, else the plan's JSON file")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S)
    args = parser.parse_args(argv)
    if args.role == "listen":
        listen(int(args.arg))
        return 0
    devices = [Device(**item) for item in json.loads(Path(args.arg).read_text())]
    measure = agent_sweep if args.role == "agent" else connect_loop
    print(json.dumps(measure(devices, args.timeout)))
    return 0


# --- the benchmark -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One tool's sweep of all devices: how long, how much CPU, which answered."""

    tool: str
    wall_s: float
    cpu_s: float
    up: int
    process_wall_s: float
    statuses: dict


def prepare_lan(link) -> None:
    """Addresses and routes of the school LAN (see the module docstring)."""
    for argv in (
        ["sysctl", "-qw", "net.ipv4.ip_forward=1"],  # else b answers "unreachable" for the blackhole too
        ["ip", "addr", "add", LOCAL, "dev", "lo"],  # on lo, the whole prefix is local
        ["ip", "route", "add", "unreachable", UNREACHABLE],
        ["ip", "route", "add", "blackhole", BLACKHOLE],
    ):
        link.run_in("b", argv, check=True)
    link.run_in("a", ["ip", "route", "add", LAN, "via", link.b_ip], check=True)


def fping_anchors(hosts_file: Path, timeout_s: float) -> dict[str, list[str]]:
    """fping three ways, each with the agent's 3 echoes and its wait per echo (-t):
    retrying after each timeout without backoff, at fping's default 10 ms between probes and
    at 1 ms; and in count mode, the echoes a sixth of the timeout apart as the agent sends them."""
    wait_ms = str(round(per_echo_wait_s(timeout_s) * 1000))
    retrying = ["fping", "-a", "-q", "-r", str(ICMP_TRIES - 1), "-B", "1", "-t", wait_ms, "-f", str(hosts_file)]
    spacing_ms = str(round(timeout_s / (2 * ICMP_TRIES) * 1000))
    return {
        FPING: retrying,
        FPING_FAST: [*retrying, "-i", "1"],
        FPING_SCHEDULE: ["fping", "-q", "-c", str(ICMP_TRIES), "-p", spacing_ms, "-t", wait_ms, "-i", "1",
                         "-f", str(hosts_file)],
    }


_RECEIVED = re.compile(r"xmt/rcv/%loss = \d+/(\d+)/")


def alive_count(stdout: str, stderr: str) -> int:
    """Hosts that answered: -a prints them on stdout; -c prints per-host counts on stderr."""
    counts = _RECEIVED.findall(stderr)
    if counts:
        return sum(int(received) > 0 for received in counts)
    return len(stdout.split())


def run_fping(link, argv: list[str], tool: str) -> Run:
    timed = timed_run(link.argv_in("a", argv), timeout_s=120)
    if timed.returncode not in (0, 1):  # 1: some hosts unreachable, as planned
        raise RuntimeError(f"fping failed ({timed.returncode}): {timed.stderr[-500:]}")
    alive = alive_count(timed.stdout, timed.stderr)
    return Run(tool, timed.wall_s, timed.cpu_s, alive, timed.wall_s, {"alive": alive})


def run_python(link, role: str, plan_file: Path, timeout_s: float, tool: str) -> Run:
    argv = [sys.executable, "-m", "bench.sweep", role, str(plan_file), "--timeout", str(timeout_s)]
    timed: Timed = timed_run(link.argv_in("a", argv), timeout_s=120)
    if timed.returncode != 0:
        raise RuntimeError(f"{tool} failed ({timed.returncode}): {timed.stderr[-1000:]}")
    found = json.loads(timed.stdout)
    return Run(tool, found["wall_s"], found["cpu_s"], len(found["up"]), timed.wall_s, dict(found["statuses"]))


AGENT_ICMP, AGENT_TCP = "agent sweep (icmp)", "agent sweep (tcp)"
FPING = "fping -r 2 -B 1 -t <wait per echo> (-i 10)"
FPING_FAST = "fping, the same with -i 1"
FPING_SCHEDULE = "fping -c 3 -p <agent's spacing> -t <wait per echo> -i 1"
CONNECT_LOOP = "asyncio connect loop"


def median_run(runs: list[Run]) -> Run:
    """The run with the median wall time (its CPU and counts with it, so they belong together)."""
    return sorted(runs, key=lambda run: run.wall_s)[len(runs) // 2]


def sweep_figures(runs: dict[str, list[Run]]) -> list[Figure]:
    """Wall time against each anchor (the target), CPU beside it (information)."""
    agent_icmp, agent_tcp = median_run(runs[AGENT_ICMP]), median_run(runs[AGENT_TCP])
    figures = []
    pairs = [(FPING, agent_icmp, "icmp"), (FPING_FAST, agent_icmp, "icmp"), (FPING_SCHEDULE, agent_icmp, "icmp"),
             (CONNECT_LOOP, agent_tcp, "tcp")]
    for anchor_name, agent, what in pairs:
        anchor = median_run(runs[anchor_name])
        label = f"agent sweep of {DEVICES} {what} devices: wall time"
        figures.append(Figure(label, agent.wall_s, "s", anchor_name, anchor.wall_s, TARGET,
                              note=f"up {agent.up} vs {anchor.up}"))
    for anchor_name, agent, what in ((FPING_SCHEDULE, agent_icmp, "icmp"), (CONNECT_LOOP, agent_tcp, "tcp")):
        anchor = median_run(runs[anchor_name])
        figures.append(Figure(f"agent sweep of {DEVICES} {what} devices: CPU", agent.cpu_s, "s",
                              anchor_name, anchor.cpu_s))
    return figures


def run(plan: RunPlan) -> Outcome:
    repeats = 1 if plan.quick else 3
    folder = plan.scratch(NAME)
    plans = {method: folder / f"{method}.json" for method in ("icmp", "tcp")}
    for method, path in plans.items():
        path.write_text(json.dumps([vars(device) for device in device_plan(method)]))
    hosts = folder / "icmp-hosts.txt"
    hosts.write_text("\n".join(device.host for device in device_plan("icmp")) + "\n")
    anchors = fping_anchors(hosts, TIMEOUT_S)
    runs: dict[str, list[Run]] = {name: [] for name in (AGENT_ICMP, *anchors, AGENT_TCP, CONNECT_LOOP)}
    with Link() as link, Programs() as programs:
        prepare_lan(link)
        programs.serve(link.argv_in("b", [sys.executable, "-m", "bench.sweep", "listen", str(LISTEN_PORT)]),
                       "listening")
        for repeat in range(repeats):
            say(f"sweep: round {repeat + 1} of {repeats}")
            plan.check()
            runs[AGENT_ICMP].append(run_python(link, "agent", plans["icmp"], TIMEOUT_S, AGENT_ICMP))
            for name, argv in anchors.items():
                runs[name].append(run_fping(link, argv, name))
            runs[AGENT_TCP].append(run_python(link, "agent", plans["tcp"], TIMEOUT_S, AGENT_TCP))
            runs[CONNECT_LOOP].append(run_python(link, "connect-loop", plans["tcp"], TIMEOUT_S, CONNECT_LOOP))
    return Outcome(NAME, TITLE, tuple(sweep_figures(runs)), sweep_notes(runs, repeats),
                   {name: [vars(r) for r in rs] for name, rs in runs.items()})


def sweep_notes(runs: dict[str, list[Run]], repeats: int) -> tuple[str, ...]:
    agent_icmp, agent_tcp = median_run(runs[AGENT_ICMP]), median_run(runs[AGENT_TCP])
    return (
        (f"{DEVICES} devices, 60 % up / 20 % down / 20 % slow, {DEVICES_PER_CLASS} per class; "
         f"sweep timeout {TIMEOUT_S:g} s (example config), {ICMP_TRIES} echoes per icmp device, "
         f"fping -t {round(per_echo_wait_s(TIMEOUT_S) * 1000)} ms = the agent's wait per echo. "
         f"Median of {repeats} run(s), each tool alternating with the others."),
        (f"Statuses, agent icmp: {agent_icmp.statuses}; agent tcp: {agent_tcp.statuses}; "
         f"connect loop: {median_run(runs[CONNECT_LOOP]).statuses}; "
         f"fping alive: {', '.join(str(median_run(runs[name]).up) for name in (FPING, FPING_FAST, FPING_SCHEDULE))}."),
        (f"The agent's figures are timed around the sweep call; its whole process (interpreter start, "
         f"imports) took {agent_icmp.process_wall_s:.2f} s (icmp) and {agent_tcp.process_wall_s:.2f} s (tcp). "
         "fping is timed from start to exit."),
        ("fping (retry mode) asks a silent host again after each timeout, so a dead host costs it 3 waits "
         "in a row; the agent sends its 3 echoes a sixth of the timeout apart and waits for them "
         "together. fping -c 3 -p sends them on the agent's schedule: the tightest anchor."),
        ("All wall times include the slow devices' full timeout: no tool can finish a sweep with a "
         f"silent device in under {per_echo_wait_s(TIMEOUT_S):.2f} s (icmp) or {TIMEOUT_S:g} s (tcp)."),
    )


if __name__ == "__main__":
    sys.exit(main())
