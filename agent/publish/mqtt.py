"""Sends the agent's messages to the county broker: MQTT v5, TLS, QoS 1, out of the spool.

Every message goes into the spool first and leaves it only when the broker's PUBACK says
it was accepted, so an outage, a refused message or a killed agent never loses one.
Delivery is at least once: a message whose PUBACK never came is sent again, byte for
byte (its measuring time is inside the payload). A PUBACK that says "no matching
subscribers" (0x10) is not a delivery: the broker accepted the message and gave it to no
one, which happens when no collector is subscribed, e.g. right after a broker restart
(mosquitto 2.0 does not keep shared subscriptions across one). Such messages stay in the
spool and sending pauses, then resumes from the oldest, until a collector listens again.

Commands: given `on_command`, the publisher subscribes (QoS 1, again after every connect)
to the school's own cmd topic and hands each payload to it, in paho's network thread;
reading and trusting a command is agent.commands' business, not this module's.

Presence: the broker holds our retained last will {"online": false} on the school's status
topic and publishes it when the agent vanishes; after each connect we publish a retained
{"online": true}, and before a clean disconnect (which does not fire the will) an explicit
{"online": false}.

Threads: paho's network thread only posts events (connected, lost, acknowledged) to a
queue. One sender thread owns everything about messages in flight: it publishes from the
spool, matches PUBACKs to spool rows and removes them in batches. With a single owner no
lock is shared with paho, which calls on_publish while holding its own lock; taking ours
there while the sender held ours inside publish() would deadlock.
"""

from __future__ import annotations

import logging
import queue
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent import __version__
from agent.publish.spool import Spool, SpooledMessage, SpoolStats
from schoolnet_core import contract
from schoolnet_core.mqtt import connect_failure_text, paho_logger, refusal_hint

log = logging.getLogger(__name__)


PAHO_LOG = paho_logger("agent.publish.paho")

MAX_IN_FLIGHT = 100
"""Messages handed to paho and not yet acknowledged: a 100k backlog stays on disk, not in
paho's RAM queue. Lowered to the broker's Receive Maximum (mosquitto 2.0 says 20)."""
SESSION_EXPIRY_S = 24 * 3600
"""The broker keeps our session (and commands sent to the school) this long while we are away."""
STOP_WAIT_S = 5.0
HELD_RETRY_S = 600.0
"""How often messages the broker refused are offered again. Not at every reconnect: some
brokers drop the connection after refusing, and we would loop reconnecting."""
UNHEARD_RETRY_S = (2.0, 60.0)
"""After a "no matching subscribers" PUBACK, wait this long before offering the spool
again: first the lower figure (a collector resubscribes within seconds of a broker
restart), doubling while no one listens, up to the upper one."""
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 120
_REFUSED = 0x80  # PUBACK/CONNACK reason codes from 0x80 up are failures (MQTT v5, 2.4)
_NO_MATCHING_SUBSCRIBERS = 0x10  # accepted, but given to no one (MQTT v5, 3.4.2.1)
_RECEIVE_MAXIMUM_DEFAULT = 65535  # when the broker's CONNACK does not say (MQTT v5, 3.2.2.3.3)


@dataclass(frozen=True)
class BrokerSettings:
    """Where and how to reach the broker: plain values, mapped from agent.yaml's broker
    section by agent.publish.broker_settings(), so the publisher runs without a config."""

    host: str
    port: int = 8883
    tls: bool = True
    ca_file: str | None = None  # None: the system's CAs
    cert_file: str | None = None
    key_file: str | None = None
    allow_plaintext: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    keepalive_s: int = 60


@dataclass(frozen=True)
class PublisherStats:
    connected: bool
    in_flight: int
    held: int  # refused by the broker, waiting in the spool for a retry
    unheard: int  # accepted by the broker but no collector was subscribed: sent again
    spool: SpoolStats
    last_error: str | None


def client_id(county: str, school: str) -> str:
    """Fixed per school, so the broker finds the school's session again after a restart."""
    return f"agent-{county}-{school}"


def tls_context(broker: BrokerSettings) -> ssl.SSLContext | None:
    """Certificate and host name verification on: a gateway must not hand its password and
    results to whoever answers on the broker's address. Plaintext only when allowed."""
    if not broker.tls:
        if not broker.allow_plaintext:
            raise ValueError("broker.url is mqtt:// (unencrypted) but broker.allow_plaintext is "
                             "not true; use mqtts:// or allow plaintext explicitly")
        return None
    try:
        context = ssl.create_default_context(cafile=broker.ca_file)
        if broker.cert_file:
            context.load_cert_chain(broker.cert_file, broker.key_file)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"broker.ca_file, cert_file or key_file cannot be used: {error}; "
                         "check the paths and that each is a PEM file") from None
    return context


def window_size(receive_maximum: int, max_in_flight: int = MAX_IN_FLIGHT) -> int:
    """Spool messages we may have in flight: within the broker's Receive Maximum (paho does
    not enforce it), keeping one slot for the status message."""
    return max(1, min(max_in_flight, receive_maximum - 1))


def status_payload(county: str, school: str, online: bool, agent_version: str, ts_ms: int,
                   school_name: str | None = None) -> bytes:
    """Birth and will: presence, and the school's display name so that alerts and boards
    can name the school (CONTRACT.md, status) even while it is offline."""
    body = {"online": online, "agent_version": agent_version}
    if school_name:
        body["school_name"] = school_name
    return contract.encode(contract.STATUS, county, school, ts_ms, body)


@dataclass(frozen=True)
class _Connected:
    receive_maximum: int


@dataclass(frozen=True)
class _Lost:
    pass


@dataclass(frozen=True)
class _Acked:
    mid: int
    code: int
    reason: str


@dataclass(frozen=True)
class _Spooled:
    pass


@dataclass(frozen=True)
class _Stop:
    deadline: float


@dataclass(frozen=True)
class _InFlight:
    seq: int
    topic: str


class Publisher:
    """The school's one connection to the broker; the daemon calls submit() for each result."""

    def __init__(
        self,
        broker: BrokerSettings,
        county: str,
        school: str,
        spool: Spool,
        *,
        agent_version: str = __version__,
        max_in_flight: int = MAX_IN_FLIGHT,
        session_expiry_s: int = SESSION_EXPIRY_S,
        reconnect_max_s: int = RECONNECT_MAX_S,
        on_command: Callable[[bytes], None] | None = None,
        school_name: str | None = None,
    ):
        for label, value in (("county", county), ("school", school)):
            problem = contract.id_problem(value)
            if problem:
                raise ValueError(f"school.{label}: {problem}")
        self.county, self.school = county, school
        self._broker = broker
        self._spool = spool
        self._agent_version = agent_version
        self._school_name = school_name
        self._session_expiry_s = session_expiry_s
        self._status_topic = contract.topic(county, school, contract.STATUS)
        self._command_topic = contract.topic(county, school, contract.COMMAND)
        self._on_command = on_command
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._online = threading.Event()
        self._stopping = False
        self._last_error: str | None = None
        self._client = self._make_client(tls_context(broker), reconnect_max_s)
        self._sender = _Sender(self._client, spool, self._events, self._publish_birth, max_in_flight)
        self._sender_thread = threading.Thread(target=self._sender.run, name="spool-sender", daemon=True)

    # --- for the daemon ---------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start sending the spool."""
        if not self._broker.tls and self._broker.password:
            log.warning("broker.allow_plaintext: the MQTT password crosses the network unencrypted")
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self._session_expiry_s
        # clean_start=False: paho's default (first connect only) throws the session away.
        self._client.connect_async(self._broker.host, self._broker.port, self._broker.keepalive_s,
                                   clean_start=False, properties=properties)
        self._sender_thread.start()
        self._client.loop_start()

    def submit(self, kind: str, body: dict[str, Any], ts_ms: int) -> int | None:
        """Spool one result for sending and return its spool seq (None: lost, disk full).

        Raises ValueError for a message the collector would refuse: a bug in the probe."""
        if kind not in contract.KINDS or kind == contract.STATUS:
            kinds = ", ".join(k for k in contract.KINDS if k != contract.STATUS)
            raise ValueError(f"cannot submit kind {kind!r}; the publisher sends {kinds}")
        payload = contract.encode(kind, self.county, self.school, ts_ms, body)
        seq = self._spool.append(contract.topic(self.county, self.school, kind), payload)
        if not self._stopping:
            self._events.put(_Spooled())
        return seq

    def stats(self) -> PublisherStats:
        return PublisherStats(
            connected=self._online.is_set(),
            in_flight=self._sender.in_flight,
            held=self._sender.held,
            unheard=self._sender.unheard,
            spool=self._spool.stats(),
            last_error=self._last_error,
        )

    def wait_until_connected(self, timeout_s: float) -> bool:
        return self._online.wait(timeout_s)

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Send nothing more, give outstanding PUBACKs up to wait_s, say offline, disconnect.

        What is still spooled is sent by the next start; submit() keeps spooling meanwhile."""
        if self._stopping:
            return
        self._stopping = True
        deadline = time.monotonic() + wait_s
        if self._sender_thread.is_alive():
            self._events.put(_Stop(deadline))
            self._sender_thread.join()
        if self._client.is_connected():  # a clean disconnect does not fire the will
            info = self._client.publish(self._status_topic, self._status(online=False), qos=1, retain=True)
            try:
                info.wait_for_publish(max(1.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as error:
                log.warning("could not publish the offline status before stopping: %s", error)
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho's network thread --------------------------------------------------------

    def _make_client(self, context: ssl.SSLContext | None, reconnect_max_s: int) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id(self.county, self.school),
                             protocol=mqtt.MQTTv5)
        client.enable_logger(PAHO_LOG)
        if context is not None:
            client.tls_set_context(context)
        if self._broker.username is not None:
            client.username_pw_set(self._broker.username, self._broker.password)
        client.will_set(self._status_topic, self._status(online=False), qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, reconnect_max_s)
        client.max_inflight_messages_set(0)  # unlimited in paho: the sender keeps the window
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _status(self, online: bool) -> bytes:
        now_ms = int(time.time() * 1000)
        return status_payload(self.county, self.school, online, self._agent_version, now_ms, self._school_name)

    def _publish_birth(self) -> int:
        """Retained {"online": true} after each connect (replacing the will's false); the mid."""
        return self._client.publish(self._status_topic, self._status(online=True), qos=1, retain=True).mid

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.value >= _REFUSED:
            self._note_error(f"broker refused the connection: {reason_code} "
                             f"(0x{reason_code.value:02X}); {refusal_hint(reason_code.value)}")
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", _RECEIVE_MAXIMUM_DEFAULT)
        log.info("connected to %s:%d as %s (session present: %s)", self._broker.host,
                 self._broker.port, client_id(self.county, self.school), flags.session_present)
        self._last_error = None
        if self._on_command is not None:  # the session may be new: subscribe every time
            client.subscribe(self._command_topic, qos=1)
        self._online.set()
        self._events.put(_Connected(receive_maximum))

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its `except OSError:`, so the error is still at hand.
        error = sys.exc_info()[1]
        self._note_error(connect_failure_text(self._broker.host, self._broker.port, error))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._online.clear()
        self._events.put(_Lost())
        if not self._stopping:
            log.warning("与消息服务器断开 / lost the broker connection (%s); reconnecting with "
                        "backoff, results wait in the spool", reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._events.put(_Acked(mid, reason_code.value, str(reason_code)))

    def _on_message(self, client, userdata, message) -> None:
        if self._on_command is None or message.topic != self._command_topic:
            return
        try:
            self._on_command(bytes(message.payload))
        except Exception:  # paho's thread must go on sending, whatever the handler hit
            log.exception("the command handler failed on a message from %s", message.topic)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [code for code in reason_codes if code.value >= _REFUSED]
        if refused:
            log.error("消息服务器拒绝订阅命令 / broker refused our subscription to %s: %s; county IT "
                      "cannot start tests here; %s", self._command_topic, refused[0],
                      refusal_hint(refused[0].value))
        else:
            log.info("等待县里的命令 / listening for county IT's commands on %s", self._command_topic)

    def _note_error(self, text: str) -> None:
        """Log each new reason once at WARNING; the same reason again (every backoff) at DEBUG."""
        level = logging.DEBUG if text == self._last_error else logging.WARNING
        log.log(level, "无法连接消息服务器 / broker connection failed: %s", text)
        self._last_error = text


class _Sender:
    """Moves messages from the spool into paho, and out of the spool when their PUBACK
    comes. It runs in its own thread and alone touches its state, so it needs no lock."""

    def __init__(self, client: mqtt.Client, spool: Spool, events: queue.SimpleQueue,
                 publish_birth: Callable[[], int], max_in_flight: int):
        self._client = client
        self._spool = spool
        self._events = events
        self._publish_birth = publish_birth
        self._max_in_flight = max_in_flight
        self._connected = False
        self._window = 1
        self._in_flight: dict[int, _InFlight] = {}  # paho mid -> spool row
        self._held: set[int] = set()  # refused seqs, offered again at _next_retry
        self._next_retry = 0.0
        self._cursor = 0  # the last spool seq looked at; 0 when held ones are offered again
        self._refused_topics: set[str] = set()
        self._unheard: set[int] = set()  # seqs nobody was subscribed to, offered at _unheard_retry
        self._unheard_retry = 0.0
        self._unheard_wait_s = UNHEARD_RETRY_S[0]
        self._birth_mid: int | None = None
        self._stop_deadline: float | None = None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def unheard(self) -> int:
        return len(self._unheard)

    def run(self) -> None:
        while True:
            try:
                if self._round():
                    return
            except Exception:  # the agent must keep sending, whatever one round hit
                log.exception("spool sender: unexpected error; carrying on")
                time.sleep(1)

    def _round(self) -> bool:
        """Handle what happened, then top up the window; True when it is time to stop."""
        delivered: list[int] = []
        for event in self._next_events():
            self._handle(event, delivered)
        if delivered:
            self._spool.remove_many(delivered)
            self._spool.awaiting_ack(self._in_flight_seqs())
        if self._stop_deadline is not None:
            return not self._in_flight or time.monotonic() >= self._stop_deadline
        if self._held and time.monotonic() >= self._next_retry:
            self._offer_held_again()
        if self._unheard and time.monotonic() >= self._unheard_retry:
            self._offer_unheard_again()
        self._fill_window()
        return False

    def _next_events(self) -> list:
        """Block until something happens (or a deadline passes), then take all that did."""
        try:
            events = [self._events.get(timeout=self._seconds_to_wait())]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def _seconds_to_wait(self) -> float | None:
        if self._stop_deadline is not None:
            return max(0.0, self._stop_deadline - time.monotonic())
        deadlines = [self._next_retry] if self._held else []
        if self._unheard:
            deadlines.append(self._unheard_retry)
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _handle(self, event: object, delivered: list[int]) -> None:
        if isinstance(event, _Acked):
            self._acked(event, delivered)
        elif isinstance(event, _Connected):
            self._connected = True
            self._window = window_size(event.receive_maximum, self._max_in_flight)
            self._birth_mid = self._publish_birth()
        elif isinstance(event, _Lost):
            self._connected = False  # paho keeps what is in flight and resends it on reconnect
        elif isinstance(event, _Stop):
            self._stop_deadline = event.deadline

    def _acked(self, event: _Acked, delivered: list[int]) -> None:
        sent = self._in_flight.pop(event.mid, None)
        if sent is None:
            if event.mid == self._birth_mid and event.code >= _REFUSED:
                log.error("broker refused our online status: %s; %s", event.reason, refusal_hint(event.code))
            return
        if event.code == _NO_MATCHING_SUBSCRIBERS:
            self._keep_unheard(sent)
            return
        if event.code < _REFUSED:
            delivered.append(sent.seq)
            self._refused_topics.discard(sent.topic)
            self._unheard_wait_s = UNHEARD_RETRY_S[0]
            return
        self._hold(sent.seq)
        if sent.topic not in self._refused_topics:  # once per topic until one gets through
            self._refused_topics.add(sent.topic)
            log.error("消息服务器拒收 / broker refused a message on %s: %s (0x%02X). It stays in "
                      "the spool and is offered again every %d s; %s.", sent.topic,
                      event.reason, event.code, HELD_RETRY_S, refusal_hint(event.code))

    def _hold(self, seq: int) -> None:
        if not self._held:
            self._next_retry = time.monotonic() + HELD_RETRY_S
        self._held.add(seq)

    def _keep_unheard(self, sent: _InFlight) -> None:
        """No collector subscribed: keep the message, pause sending, try again later."""
        if not self._unheard:
            self._unheard_retry = time.monotonic() + self._unheard_wait_s
            log.warning("没有采集端订阅 / no collector is subscribed at the broker (PUBACK 0x10 on %s); "
                        "results stay in the spool, sending again in %.0f s", sent.topic,
                        self._unheard_wait_s)
            self._unheard_wait_s = min(UNHEARD_RETRY_S[1], self._unheard_wait_s * 2)
        self._unheard.add(sent.seq)

    def _offer_unheard_again(self) -> None:
        self._unheard.clear()
        self._cursor = 0

    def _offer_held_again(self) -> None:
        """Look at the whole spool again, held messages included (the broker's ACL may have
        been fixed meanwhile); what paho still holds in flight is skipped."""
        self._held.clear()
        self._cursor = 0

    def _fill_window(self) -> None:
        """Hand paho the oldest spooled messages not yet in flight, up to the window;
        nothing while we wait for a collector to subscribe."""
        if not self._connected or self._unheard:
            return
        room = self._window - len(self._in_flight)
        while room > 0:
            batch = self._spool.oldest(room, after_seq=self._cursor)
            if not batch:
                return
            in_flight = self._in_flight_seqs()  # one snapshot a batch: a batch holds each seq once
            self._spool.awaiting_ack(in_flight | {message.seq for message in batch})
            for message in batch:
                self._cursor = message.seq
                if message.seq not in self._held and message.seq not in in_flight:
                    room -= self._send(message)

    def _in_flight_seqs(self) -> set[int]:
        return {sent.seq for sent in self._in_flight.values()}

    def _send(self, message: SpooledMessage) -> int:
        """Publish one spooled message; 1 if it is now in flight, else 0."""
        info = self._client.publish(message.topic, message.payload, qos=message.qos,
                                    retain=message.retain)
        # NO_CONN: the connection just dropped; paho keeps the message and sends it on reconnect.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("paho could not queue spool message %d for %s: %s; retrying in %d s",
                        message.seq, message.topic, mqtt.error_string(info.rc), HELD_RETRY_S)
            self._hold(message.seq)
            return 0
        self._in_flight[info.mid] = _InFlight(message.seq, message.topic)
        return 1
