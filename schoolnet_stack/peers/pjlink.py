"""An emulated PJLink class 1 projector: a real asyncio TCP server in its own thread.

Speaks what the JBMIA PJLink class 1 document describes: greets "PJLINK 0" or, with a
password, "PJLINK 1 <8 hex digits>"; the first command must then start with
md5(random + password) in hex, else it answers "PJLINK ERRA" and hangs up. Commands and
answers are lines ending in CR. Implemented here: POWR ?, ERST ?, LAMP ?; anything else
is ERR1. `garbage` (bytes) is sent instead of the greeting, as by a device on that
port that is no projector, and the connection is closed.

    peer = PjlinkPeer(power=1, errors="200000", lamp_hours=1234).start()
    ... query("127.0.0.1", timeout, peer.port) ...
    peer.stop()
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading


class PjlinkPeer:
    def __init__(
        self,
        power: int = 1,
        errors: str = "000000",
        lamp_hours: int | None = 0,
        lamp_on: bool = True,
        password: str | None = None,
        garbage: bytes | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.power, self.errors, self.password, self.garbage = power, errors, password, garbage
        self.lamp = "ERR1" if lamp_hours is None else f"{lamp_hours} {int(lamp_on)}"
        self.host, self.port = host, 0
        self.received: list[bytes] = []  # every line a client sent, as sent
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> PjlinkPeer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, self.host, 0), self._loop
        ).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stops serving; safe to call again (a test may stop the projector itself)."""
        if self._loop.is_closed():
            return

        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._session(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up
        finally:
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.garbage is not None:
            writer.write(self.garbage)
            await writer.drain()
            return
        challenge = secrets.token_hex(4) if self.password else None
        writer.write(f"PJLINK 1 {challenge}\r".encode() if challenge else b"PJLINK 0\r")
        first = True
        while True:
            line = await reader.readuntil(b"\r")
            self.received.append(line)
            command = line[:-1].decode("ascii", errors="replace")
            if first and challenge and not self._authentic(command, challenge):
                writer.write(b"PJLINK ERRA\r")
                await writer.drain()
                return
            if first and challenge:
                command = command[32:]
            first = False
            writer.write(self._answer(command).encode() + b"\r")
            await writer.drain()

    def _authentic(self, command: str, challenge: str) -> bool:
        digest = hashlib.md5((challenge + self.password).encode()).hexdigest()
        return command[:32] == digest

    def _answer(self, command: str) -> str:
        values = {"%1POWR ?": str(self.power), "%1ERST ?": self.errors, "%1LAMP ?": self.lamp}
        body = command[2:6] if command.startswith("%1") else "????"
        return f"%1{body}={values.get(command, 'ERR1')}"
