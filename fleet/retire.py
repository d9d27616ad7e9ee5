"""Retiring a school: its account leaves the broker, its sessions end, and its retained
status is cleared.

The broker keeps each school's last status message (retained); a school switched off for
good keeps `online=false` and AgentOffline pages for it for 31 days (deploy/README-alerts.md,
"A school that leaves the network"). fleet.sync clears it as the admin once the school's
account and sessions are gone: ending a connected session fires the school's last will,
which would put an `online=false` back after an earlier clear.
"""

from __future__ import annotations

from dataclasses import dataclass

from schoolnet_core import contract


@dataclass(frozen=True)
class RetiredSchool:
    county: str
    school: str
    user: str
    name: str

    @property
    def status_topic(self) -> str:
        return contract.topic(self.county, self.school, contract.STATUS)
