"""PJLink class 1 client: a projector's power, error status and lamp hours (TCP 4352).

Most classroom projectors speak PJLink (JBMIA's standard), so one query tells the county
whether the projector is on, whether a fan, lamp or filter needs a technician, and how
close the lamp is to replacement, without a vendor's tool.

Protocol: the projector greets with "PJLINK 0" (no password) or "PJLINK 1 <random>". With
a password, the first command is prefixed by md5(random + password) in hex; a wrong one
is answered "PJLINK ERRA". Commands and answers are lines ending in CR: "%1POWR ?" ->
"%1POWR=1"; an answer may instead be ERR1 (no such command), ERR2 (bad parameter), ERR3
(not now, e.g. in standby) or ERR4 (projector failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, replace

from agent.probes.tcp import elapsed_ms, failure, open_socket

PORT = 4352
COMMANDS = ("POWR", "ERST", "LAMP")
POWER_STATES = {0: "standby", 1: "on", 2: "cooling down", 3: "warming up"}
POWER_ON = {1, 3}  # a warming-up lamp is being switched on; a cooling one off
REFUSALS = {
    "ERR1": "not supported by this device (ERR1)",
    "ERR2": "parameter refused (ERR2)",
    "ERR3": "not available now, e.g. in standby (ERR3)",
    "ERR4": "the projector reports a failure (ERR4)",
}
ERROR_LEVELS = {0: "ok", 1: "warning", 2: "error"}
MAX_LINE = 136  # the longest line class 1 allows, CR included
_GREETING = re.compile(r"PJLINK (?:(0)|1 ([!-~]{1,32}))")
_ANSWER = re.compile(r"%1([A-Z0-9]{4})=(.*)")
_LAMPS = re.compile(r"[0-9]{1,5} [01](?: [0-9]{1,5} [01]){0,7}")  # up to 8 lamps


@dataclass(frozen=True)
class ErrorStatus:
    """The six ERST digits: 0 no error, 1 warning, 2 error."""

    fan: int
    lamp: int
    temperature: int
    cover: int
    filter: int
    other: int

    def has_error(self) -> bool:
        """A 2 anywhere (lamp out, fan stopped, overheated, cover open...): the projector
        answers but cannot teach, so its class is not ready. Warnings (1) do not count."""
        return 2 in vars(self).values()

    def problems(self) -> list[str]:
        """e.g. ["fan error", "filter warning"]."""
        return [
            f"{name} {ERROR_LEVELS[level]}"
            for name, level in vars(self).items()
            if level
        ]


@dataclass(frozen=True)
class ProjectorState:
    """status is one of contract.PROBE_STATUSES; rtt_ms runs from connecting to the
    greeting. Fields the projector did not give (standby, no lamp) are None."""

    status: str
    rtt_ms: float | None = None
    detail: str = ""
    power: int | None = None
    lamp_hours: int | None = None
    lamp_on: bool | None = None
    errors: ErrorStatus | None = None

    @property
    def up(self) -> bool:
        return self.status == "ok"

    @property
    def power_on(self) -> bool | None:
        return None if self.power is None else self.power in POWER_ON


class ProtocolError(Exception):
    """The device broke the exchange; `status` is auth_failed or bad_reply."""

    status = "bad_reply"


class AuthFailed(ProtocolError):
    status = "auth_failed"


# --- lines (pure) --------------------------------------------------------------------


def read_greeting(line: str) -> str | None:
    """The random challenge of a greeting, or None when no password is asked for."""
    match = _GREETING.fullmatch(line)
    if not match:
        raise ProtocolError(f"not a PJLink greeting: {line[:40]!r}")
    return match.group(2)


def auth_digest(challenge: str, password: str) -> str:
    """What to put before the first command: md5(challenge + password), 32 hex digits."""
    return hashlib.md5((challenge + password).encode(), usedforsecurity=False).hexdigest()


def read_answer(line: str, command: str) -> str:
    """The parameter of the answer to `command` (which may be ERR1..ERR4)."""
    if line == "PJLINK ERRA":
        raise AuthFailed("the projector refused the PJLink password (PJLINK ERRA); "
                         "check the password configured for this device")
    match = _ANSWER.fullmatch(line)
    if not match or match.group(1) != command:
        raise ProtocolError(f"unexpected answer to {command}: {line[:40]!r}")
    return match.group(2)


def read_power(value: str) -> int:
    if value not in ("0", "1", "2", "3"):
        raise ProtocolError(f"POWR answer {value[:20]!r} is not 0-3")
    return int(value)


def read_errors(value: str) -> ErrorStatus:
    if not re.fullmatch(r"[012]{6}", value):
        raise ProtocolError(f"ERST answer {value[:20]!r} is not six digits 0-2")
    return ErrorStatus(*(int(digit) for digit in value))


def read_lamps(value: str) -> tuple[tuple[int, bool], ...]:
    """(hours, on) for each lamp: "1234 1 567 0" -> ((1234, True), (567, False))."""
    if not _LAMPS.fullmatch(value):
        raise ProtocolError(f"LAMP answer {value[:40]!r} is not pairs of hours and 0/1")
    fields = value.split(" ")
    return tuple((int(hours), on == "1") for hours, on in zip(fields[::2], fields[1::2]))


def projector_state(answers: dict[str, str], rtt_ms: float | None, where: str) -> ProjectorState:
    """The state told by the answers to COMMANDS; refused ones (ERRn) leave fields None."""
    notes = [f"{command}: {REFUSALS[value]}" for command, value in answers.items()
             if value in REFUSALS]
    given = {command: value for command, value in answers.items() if value not in REFUSALS}
    power = read_power(given["POWR"]) if "POWR" in given else None
    errors = read_errors(given["ERST"]) if "ERST" in given else None
    lamps = read_lamps(given["LAMP"]) if "LAMP" in given else ()
    state = ProjectorState(
        "device_error" if errors is not None and errors.has_error() else "ok",
        rtt_ms,
        power=power,
        lamp_hours=max(hours for hours, _ in lamps) if lamps else None,
        lamp_on=any(on for _, on in lamps) if lamps else None,
        errors=errors,
    )
    return _with_detail(state, where, notes)


def _with_detail(state: ProjectorState, where: str, notes: list[str]) -> ProjectorState:
    said = [f"power {POWER_STATES[state.power]}" if state.power is not None else ""]
    said.append(f"lamp {state.lamp_hours} h" if state.lamp_hours is not None else "")
    if state.errors is not None:
        said.append(", ".join(state.errors.problems()) or "no errors")
    detail = f"{where}: " + "; ".join(part for part in said + notes if part)
    return replace(state, detail=detail)


# --- the exchange ----------------------------------------------------------------------


async def query(
    host: str, timeout: float, port: int = PORT, password: str | None = None
) -> ProjectorState:
    """Asks for power, error status and lamp hours in one connection within `timeout` s.
    The password is only ever sent as the digest and never appears in a detail."""
    where = f"PJLink {host}:{port}"
    try:
        return await asyncio.wait_for(_session(host, port, password, where), timeout)
    except (OSError, asyncio.TimeoutError) as error:
        status, detail = failure(error, where, timeout)
        return ProjectorState(status, detail=detail)
    except ProtocolError as error:
        return ProjectorState(error.status, detail=f"{where}: {error}")


async def _session(host: str, port: int, password: str | None, where: str) -> ProjectorState:
    started = time.perf_counter()
    sock, _ = await open_socket(host, port)
    reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE)
    try:
        challenge = read_greeting(await _read_line(reader))
        rtt_ms = elapsed_ms(started)
        prefix = _auth_prefix(challenge, password)
        answers = {}
        for command in COMMANDS:
            writer.write(f"{prefix}%1{command} ?\r".encode("ascii"))
            prefix = ""  # only the first command carries the digest
            answers[command] = read_answer(await _read_line(reader), command)
    finally:
        writer.close()
    return projector_state(answers, rtt_ms, where)


def _auth_prefix(challenge: str | None, password: str | None) -> str:
    if challenge is None:
        return ""
    if not password:
        raise AuthFailed("the projector asks for a PJLink password and none is configured")
    return auth_digest(challenge, password)


async def _read_line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\r")
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"a line longer than {MAX_LINE} bytes: not PJLink") from None
    except asyncio.IncompleteReadError as error:
        said = f" after {error.partial[:40]!r}" if error.partial else ""
        raise ProtocolError(f"the device closed the connection{said}") from None
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ProtocolError(f"non-ASCII bytes {raw[:40]!r}: not PJLink") from None
