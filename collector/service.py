"""The running collector: MQTT in, VictoriaMetrics out, nothing lost in between.

paho's network thread only stamps the messages of each read from the socket and puts
them in the inbox together (transport.py, inbox.py: one wake-up per read, not per message,
since every wake-up waits for the GIL). The worker thread checks each message against the
contract and adds its lines to a batch until the batch is full or due, then seals it. The
writer thread writes the sealed batch and only then acknowledges its messages, while the
worker goes on checking the next batch: the store's HTTP round trip (a fifth of a drain
when it blocked the worker) no longer stops validation. One batch is written at a time, so acks still go back in order.

Why nothing is lost:
- persistent session (clean_start=False and a session expiry): while the collector is
  down or restarting, the broker keeps the messages for it, and resends the unacked ones;
- an ack only after the store confirmed the write (SYNCHRONOUS writes, see store.py);
- while the store is down the same batch is retried with a capped backoff.

Why memory stays bounded, whatever the broker does: we hold at most the batch being
written (sealed), one filling batch (batch.max_messages entries, about batch.max_points points)
and the inbox (2 x batch.max_messages). We announce batch.max_messages as our Receive
Maximum, but mosquitto 2.0.11 does not keep to it for a resumed session (bench/README.md),
so the inbox has its own limit: when it is full, paho's network thread waits in
_on_message, stops reading the socket, and TCP holds the rest at the broker.

What that wait costs during a long store outage: the waiting thread sends no PINGREQ,
so after 1.5 x broker.keepalive_s the broker closes the connection. Nothing is lost:
everything we hold is unacked, the broker keeps it in our session and sends it again
when paho reconnects (once the store is back and the inbox moves). What we wrote but
could not ack is written a second time, as identical points; the rest is dropped on
reconnect (_forget_resent). QoS 0 messages promise only "at most once": they never make
the network thread wait; when the inbox is full they are dropped and counted.

Acks go back in the order the messages came, refused and ignored ones included, and a
packet id is only acked on the connection it came in on.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from collector import intake
from collector.batcher import Batch, BatchLimits, Delivery, Entry
from collector.config import CollectorConfig, read_secret
from collector.deadletter import DeadLetterFile, envelope, envelope_bytes
from collector.inbox import Inbox
from collector.metrics import Metrics
from collector.presence import LastSeen, presence_lines
from collector.store import Store, StoreError
from collector.transport import UNREADABLE_TOPIC, BufferedClient, Publish
from schoolnet_core import contract
from schoolnet_core.mqtt import connect_failure_text, paho_logger

log = logging.getLogger("schoolnet.collector")

SHUTDOWN_WRITE_S = 10.0
"""On SIGTERM, how long to keep trying to write what we hold before leaving it unacked
at the broker (which then delivers it again): well inside systemd's 90 s stop timeout."""
FIRST_RETRY_S = 0.5
INBOX_BATCHES = 2
"""The inbox holds this many batches' worth of messages: enough for paho to read the next
batch while the worker writes one, small enough to bound memory (see the docstring)."""
HAND_OVER_WAIT_S = 0.5
"""How often paho's network thread, waiting for room in the inbox, looks whether we stop."""
_WRITTEN = object()
"""Put in the inbox by the writer when a batch is done, to wake a worker waiting for
messages: the filling batch may be due and can be sealed now."""


def retry_delay(attempt: int, cap_s: float, first_s: float = FIRST_RETRY_S) -> float:
    """Seconds before store retry number `attempt` (1, 2, ...): doubling, capped."""
    return min(cap_s, first_s * 2 ** min(attempt - 1, 30))


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    received_ms: int
    delivery: Delivery | None  # None for QoS 0: nothing to ack
    retained: bool = False
    """Sent because we subscribed (a stored status), not because the school spoke now."""


@dataclass(frozen=True)
class Connected:
    session: int
    session_present: bool


class Collector:
    def __init__(self, config: CollectorConfig, metrics: Metrics | None = None):
        self.config = config
        self.metrics = metrics or Metrics()
        self._inbox = Inbox(INBOX_BATCHES * config.batch.max_messages)
        self._stopping = threading.Event()
        self._session = 0
        self._session_lock = threading.Lock()
        self._limits = BatchLimits(config.batch.max_points, config.batch.max_messages, config.batch.max_wait_s)
        self._filling = Batch(self._limits)
        self._sealed: Batch | None = None
        """Written by the writer thread. Only the worker sets it (from None, in _seal); only
        the writer clears it (after the write and the acks, in _write_sealed)."""
        self._sealed_ready = threading.Condition()
        self._written = threading.Event()
        self._failed_attempts = 0
        self._retry_at = 0.0
        self._last_seen = LastSeen(config.presence.silent_after_s)
        self._next_presence = time.monotonic() + config.presence.report_every_s
        self._deadletters = DeadLetterFile(
            config.deadletter.path, config.deadletter.max_bytes, config.deadletter.backups
        )
        self._store = self._make_store()
        self._client = self._make_client()
        self._worker = threading.Thread(target=self._work, name="collector-worker", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer", daemon=True)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        broker = self.config.broker
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = broker.session_expiry_s
        properties.ReceiveMaximum = self.config.batch.max_messages
        self._client.connect_async(
            broker.host, broker.port, broker.keepalive_s, clean_start=False, properties=properties
        )
        log.info(
            "collector %s: connecting to %s, shared group %r, writing to %s",
            broker.client_id, broker.url, broker.group, self.config.store.url,
        )
        self._client.loop_start()
        self._writer.start()
        self._worker.start()

    def stop(self) -> None:
        """Asks the collector to finish: safe from a signal handler."""
        self._stopping.set()
        self._written.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the collector has finished (after stop())."""
        self._worker.join(timeout)
        return not self._worker.is_alive()

    # -- connections ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        broker = self.config.broker
        client = BufferedClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=broker.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if broker.tls:
            client.tls_set(ca_certs=broker.ca_file, certfile=broker.cert_file, keyfile=broker.key_file)
        if broker.username:
            client.username_pw_set(broker.username, read_secret(broker.password).reveal())
        client.reconnect_delay_set(1, 30)
        client.enable_logger(paho_logger("schoolnet.collector.mqtt"))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publishes = self._on_publishes
        return client

    def _make_store(self) -> Store:
        store = self.config.store
        token = read_secret(store.token) if store.token else None
        return Store(store.url, store.org, store.bucket, token, store.timeout_s)

    @property
    def subscription(self) -> str:
        return f"$share/{self.config.broker.group}/{contract.SUBSCRIPTION}"

    # paho's network thread runs the callbacks below; they must never raise.

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker %s refused the connection: %s", self.config.broker.url, reason_code)
            return
        with self._session_lock:
            self._session += 1
            session = self._session
        self._hand_over([Connected(session, flags.session_present)])
        self.metrics.set_connected(True)
        # Retained statuses only for a new subscription, not again on every reconnect.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe(self.subscription, options=options)
        log.info("connected to %s (session %s)", self.config.broker.url,
                 "resumed" if flags.session_present else "new")

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this from inside its except block: the exception says why.
        broker = self.config.broker
        why = connect_failure_text(broker.host, broker.port, sys.exc_info()[1])
        log.warning("broker %s: %s; retrying", broker.url, why)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._session_lock:
            self._session += 1  # packet ids of the lost connection mean nothing now
        self.metrics.set_connected(False)
        if not self._stopping.is_set():
            log.warning("disconnected from %s: %s; reconnecting", self.config.broker.url, reason_code)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        for code in refused:
            log.error("broker refused subscription %r: %s (check the broker ACL)", self.subscription, code)
        self.metrics.set_subscribed(not refused)

    def _on_message(self, client, userdata, message) -> None:
        """A message transport.py leaves to paho (a packet split across reads): the same
        hand-over as a read's worth."""
        self._on_publishes([Publish(_topic_of(message), message.payload, message.mid, message.qos,
                                    bool(message.retain))])

    def _on_publishes(self, publishes: list[Publish]) -> None:
        """The PUBLISH packets of one read, handed over together (see inbox.py)."""
        try:
            self.metrics.received(len(publishes))
            session, now_ms = self._session, _now_ms()
            self._hand_over([
                Received(p.topic, p.payload, now_ms, Delivery(p.mid, session) if p.qos else None, p.retain)
                for p in publishes
            ])
        except Exception:  # never let a message stop paho's network thread
            log.exception("could not queue %d received messages", len(publishes))

    def _hand_over(self, items: list[Received | Connected]) -> None:
        """Waits for room in the inbox: meanwhile paho reads nothing more and TCP keeps the
        rest at the broker. Once we stop, the items are left unacked for the next start.
        QoS 0 messages promise at most once: not worth holding up the QoS 1 messages
        behind them, so those that find the inbox full are dropped (and counted)."""
        left = self._inbox.put(items)
        kept = [item for item in left if not isinstance(item, Received) or item.delivery is not None]
        if len(kept) < len(left):
            self.metrics.dropped(len(left) - len(kept))
        while kept and not self._stopping.is_set():
            kept = self._inbox.put(kept, timeout=HAND_OVER_WAIT_S)

    # -- the worker -------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:
                log.exception("collector worker: unexpected error; carrying on")
                self._stopping.wait(1.0)
        self._finish()

    def _step(self) -> None:
        self._take_in(self._seconds_to_next_job(time.monotonic()))
        now = time.monotonic()
        if self._sealed is None:
            self._report_presence_if_due(now)
            if self._filling.is_due(now):
                self._seal()
        self.metrics.set_pending(self._pending_count())

    def _seconds_to_next_job(self, now: float) -> float:
        """How long the worker may wait for a message. While a batch is being written the
        writer wakes it when done (_WRITTEN), so only presence and the 1 s tick count."""
        waits = [1.0, self._next_presence - now]
        if self._sealed is None:
            due = self._filling.seconds_until_due(now)
            if due is not None:
                waits.append(due)
        return max(0.0, min(waits))

    # -- the writer -------------------------------------------------------------------

    def _write_loop(self) -> None:
        """Writes each sealed batch (retrying with backoff while the store fails), then
        acks it and wakes the worker. Leaves at stop: _finish writes what is left."""
        while not self._stopping.is_set():
            try:
                with self._sealed_ready:
                    if self._sealed is None:
                        self._sealed_ready.wait(HAND_OVER_WAIT_S)
                        continue
                delay = self._retry_at - time.monotonic()
                if delay > 0:
                    self._stopping.wait(delay)
                    continue
                if self._write_sealed():
                    self._wake_worker()
            except Exception:
                log.exception("collector writer: unexpected error; carrying on")
                self._stopping.wait(1.0)

    def _wake_worker(self) -> None:
        self._written.set()
        self._inbox.put([_WRITTEN])  # refused when full: then the worker is not waiting

    def _take_in(self, timeout: float, at_most: int | None = None) -> int:
        """Waits up to `timeout` for the first item, then takes what else is there until the
        filling batch is ready to go (or `at_most` items): however fast the broker streams,
        a batch is written at its limits. Returns how many items it took."""
        if self._batch_ready():
            self._written.wait(timeout)  # nothing may be taken before the writer is done
            self._written.clear()
            return 0
        taken = 0
        while at_most is None or taken < at_most:
            try:
                item = self._inbox.get(timeout if not taken else 0.0)
            except IndexError:
                break
            self._take(item)
            taken += 1
            if self._batch_ready():
                break
        return taken

    def _batch_ready(self) -> bool:
        """True when the filling batch takes nothing more: it is due and can be written
        now, or it is full while the batch before it waits for the store."""
        if self._sealed is None:
            return self._filling.is_due(time.monotonic())
        return self._filling.is_full()

    def _take(self, item: Received | Connected | object) -> None:
        if item is _WRITTEN:
            return
        if isinstance(item, Connected):
            self._forget_resent(item)
            return
        try:
            lines = self._examine(item)
        except Exception as error:  # a bug must cost one message, not the collector
            log.exception("internal error on a message from %r", item.topic[:200])
            self._refuse(item, intake.INTERNAL_ERROR, f"{type(error).__name__}: {error}"[:300])
            lines = ()
        self._filling.add(Entry(lines, item.delivery), time.monotonic())

    def _examine(self, item: Received) -> tuple[str, ...]:
        outcome = intake.examine(item.topic, item.payload, item.received_ms)
        if isinstance(outcome, intake.Accepted):
            if not item.retained:
                self._last_seen.heard(outcome.county, outcome.school, time.monotonic())
            elif outcome.says_online:
                self._last_seen.expect(outcome.county, outcome.school, time.monotonic())
            return outcome.lines
        if isinstance(outcome, intake.Refused):
            self._refuse(item, outcome.reason, outcome.detail)
        else:
            self.metrics.ignored()
        return ()

    def _refuse(self, item: Received, reason: str, detail: str) -> None:
        record = envelope(reason, detail, item.topic, item.received_ms, item.payload)
        log.warning("refused %r: %s: %r", item.topic[:200], reason, detail)
        try:
            self._deadletters.append(record)
        except OSError as error:
            log.error("cannot write dead-letter file %s: %s", self.config.deadletter.path, error)
        self._client.publish(contract.deadletter_topic(reason), envelope_bytes(record), qos=1)
        self.metrics.deadlettered(reason)

    def _forget_resent(self, connected: Connected) -> None:
        """A resumed session brings back every message we had not acked: drop our old
        copies not yet written. A new session brings nothing back: keep and write them."""
        if not connected.session_present:
            return
        dropped = self._filling.forget_sessions_before(connected.session)
        sealed = self._sealed
        if sealed is not None:  # the writer clears it, even when it is left empty
            dropped += sealed.forget_sessions_before(connected.session)
        if dropped:
            log.info("reconnected: %d unacked messages will come again from the broker", dropped)

    def _report_presence_if_due(self, now: float) -> None:
        if now < self._next_presence:
            return
        self._next_presence = now + self.config.presence.report_every_s
        reports = self._last_seen.report(now)
        if reports:
            lines = presence_lines(reports, _now_ms(), self.config.broker.client_id)
            self._filling.add(Entry(tuple(lines)), now)

    def _seal(self) -> None:
        with self._sealed_ready:
            self._sealed, self._filling = self._filling, Batch(self._limits)
            self._sealed_ready.notify()

    def _write_sealed(self) -> bool:
        """Writes the sealed batch, then acks its messages; on failure schedules a retry."""
        batch = self._sealed
        lines = batch.lines
        if lines:
            started = time.monotonic()
            try:
                self._store.write(lines)
            except StoreError as error:
                self._schedule_retry(error, len(lines))
                return False
            self.metrics.wrote(len(lines), time.monotonic() - started)
        else:
            self.metrics.nothing_to_write()
        if self._failed_attempts:
            log.info("store writes work again after %d failed attempts", self._failed_attempts)
        self._failed_attempts = 0
        self._deadletters.sync()
        self._ack(batch)
        with self._sealed_ready:
            self._sealed = None
        return True

    def _schedule_retry(self, error: StoreError, point_count: int) -> None:
        self._failed_attempts += 1
        delay = retry_delay(self._failed_attempts, self.config.store.retry_max_s)
        self._retry_at = time.monotonic() + delay
        self.metrics.store_failed(str(error))
        log.warning(
            "store write of %d points failed (attempt %d), retrying in %.1f s; messages stay "
            "unacked at the broker: %s", point_count, self._failed_attempts, delay, error,
        )

    def _ack(self, batch: Batch) -> None:
        with self._session_lock:
            self._client.ack_all(delivery.mid for delivery in batch.deliveries(self._session))

    def _pending_count(self) -> int:
        held = self._filling.message_count + (self._sealed.message_count if self._sealed else 0)
        return held + len(self._inbox)

    def _finish(self) -> None:
        """SIGTERM: write and ack what we hold and what waited in the inbox, then leave;
        the broker keeps the rest (paho may still add to the inbox: that waits for us)."""
        deadline = time.monotonic() + SHUTDOWN_WRITE_S
        if self._writer.is_alive():
            self._writer.join(SHUTDOWN_WRITE_S)  # its write in flight ends (store.timeout_s)
        waiting = len(self._inbox)
        while time.monotonic() < deadline and not self._writer.is_alive():
            if self._sealed is None:
                waiting -= self._take_in(0, at_most=waiting)
                if not len(self._filling):
                    break
                self._seal()
            if not self._write_sealed():
                time.sleep(max(0.0, min(self._retry_at, deadline) - time.monotonic()))
        left = self._pending_count()
        if left:
            log.warning("stopping with %d messages unacked; the broker will deliver them again", left)
        self._deadletters.close()
        self._client.disconnect()
        self._client.loop_stop()
        self._store.close()
        log.info("collector stopped")


def _topic_of(message: mqtt.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:  # brokers refuse these, but a bad one would crash us here
        return UNREADABLE_TOPIC


def _now_ms() -> int:
    return int(time.time() * 1000)
