"""A school gateway on loopback, for the footprint and alert benchmarks: the real agent
(schoolnet_stack.processes.AgentProcess: `schoolnet-agent run`) with
schoolnet_stack.school.LoopbackSchool's example_config(), agent/example-config.yaml's
intervals and kinds of checks with every address pointing at a peer on loopback:
  broadband   icmp 127.0.0.1, tcp listener, DNS on 127.53.x.y:53, HTTP /health
  classrooms  school.CLASSES classes, each a panel (tcp) and a PC (icmp, not required), every
              third a projector (PJLink with a password), as a rural middle school
  sync        the platform (tcp), two classroom endpoints (tcp), a UDP echo for the path
  speed test  optional: the county's iperf3 server at `speed_server` (HOST:PORT), below
"""

from __future__ import annotations

from datetime import datetime


def speed_section(server: str, at: datetime, wan_interface: str | None = None) -> dict:
    """The example's speed test (iperf3, 4 streams, 10 s) once a day at `at` (its minute,
    in the timetable's zone), no stagger, so it runs while the benchmark watches."""
    section = {"backend": "iperf3", "server": server, "streams": 4, "duration_s": 10,
               "times": [at.strftime("%H:%M")], "stagger_window_min": 0, "during_lessons": True,
               "target_mbps": 100}  # fmt: skip
    if wan_interface:
        section["wan_interface"] = wan_interface
    return section
