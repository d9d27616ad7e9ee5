"""The publisher against a real mosquitto 2.0: delivery, the in-flight window, presence
(birth, last will, clean stop), a refused publish, secrets in logs, and TLS."""

from __future__ import annotations

import json
import time

import pytest

from agent.publish import BrokerSettings, Publisher, Spool
from agent.publish.mqtt import window_size
from schoolnet_core import contract
from schoolnet_stack.county_broker import (
    AGENT_PASSWORD,
    COUNTY,
    Listener,
    agent_settings,
    start_county_broker,
)
from schoolnet_stack.servers import wait_until
from tests.agent.publish.driver import (
    FIRST_TS_MS,
    driven_agent,
    number_of,
    numbered_body,
    numbered_payload,
)

pytestmark = pytest.mark.servers
SCHOOL = "hx-s1"
MOSQUITTO_RECEIVE_MAXIMUM = 20  # what mosquitto 2.0 announces in CONNACK by default


@pytest.fixture
def make_publisher(tmp_path):
    """Publishers for one test, each with its own spool; all stopped at the end."""
    made: list[Publisher] = []

    def make(settings: BrokerSettings, school: str = SCHOOL, spool: Spool | None = None) -> Publisher:
        spool = spool or Spool(tmp_path / f"{school}-{len(made)}.db")
        publisher = Publisher(settings, COUNTY, school, spool, reconnect_max_s=1)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.stop(wait_s=0.5)


def broadband_of(school: str):
    topic = contract.topic(COUNTY, school, "broadband")
    return lambda messages: [m for m in messages if m.topic == topic]


def status_of(school: str):
    topic = contract.topic(COUNTY, school, contract.STATUS)
    return lambda messages: [json.loads(m.payload)["online"] for m in messages if m.topic == topic]


def test_submitted_results_arrive_in_order_with_their_original_bytes(broker, listener, make_publisher):
    publisher = make_publisher(agent_settings(broker))
    publisher.start()
    assert publisher.wait_until_connected(10), publisher.stats().last_error
    for n in range(30):
        publisher.submit("broadband", numbered_body(n), FIRST_TS_MS + n)

    arrived = listener.wait_for(lambda ms: len(broadband_of(SCHOOL)(ms)) >= 30)

    assert [m.payload for m in broadband_of(SCHOOL)(arrived)] == [numbered_payload(SCHOOL, n) for n in range(30)]
    wait_until(lambda: publisher.stats().spool.depth == 0, interval=0.02, what="spool emptied after PUBACKs")


def test_a_large_backlog_goes_out_with_a_bounded_number_in_flight(broker, listener, make_publisher, tmp_path):
    spool = Spool(tmp_path / "backlog.db")
    topic = contract.topic(COUNTY, SCHOOL, "broadband")
    backlog = 3000
    for n in range(backlog):
        spool.append(topic, numbered_payload(SCHOOL, n))
    publisher = make_publisher(agent_settings(broker), spool=spool)
    in_flight_seen = []

    started = time.monotonic()
    publisher.start()
    while len(broadband_of(SCHOOL)(listener.messages)) < backlog and time.monotonic() - started < 60:
        in_flight_seen.append(publisher.stats().in_flight)
        time.sleep(0.002)
    elapsed = time.monotonic() - started

    arrived = broadband_of(SCHOOL)(listener.messages)
    assert sorted(number_of(m.payload) for m in arrived) == list(range(backlog))
    assert max(in_flight_seen) <= window_size(MOSQUITTO_RECEIVE_MAXIMUM)
    assert max(in_flight_seen) > 1, "the window was used"
    print(f"backlog of {backlog} drained in {elapsed:.2f} s ({backlog / elapsed:.0f} msg/s)")


def test_birth_is_retained_online_and_a_clean_stop_leaves_offline(broker, listener, make_publisher):
    publisher = make_publisher(agent_settings(broker))
    publisher.start()
    listener.wait_for(lambda ms: status_of(SCHOOL)(ms) == [True])
    late = Listener(broker, contract.topic(COUNTY, SCHOOL, contract.STATUS), client_id="late-1")
    [birth] = late.wait_for(lambda ms: ms)
    late.close()
    assert birth.retain
    message = contract.validate(birth.topic, birth.payload, int(time.time() * 1000))
    assert isinstance(message, contract.Message) and message.body["online"] is True

    publisher.stop()

    listener.wait_for(lambda ms: status_of(SCHOOL)(ms) == [True, False])
    later = Listener(broker, contract.topic(COUNTY, SCHOOL, contract.STATUS), client_id="late-2")
    [left] = later.wait_for(lambda ms: ms)
    later.close()
    assert left.retain and json.loads(left.payload)["online"] is False
    assert "as agent-hx-hx-s1" in broker.log_text()


def test_killed_agent_is_announced_offline_by_its_last_will(broker, listener, tmp_path):
    agent = driven_agent(broker.port, tmp_path / "spool.db", "hx-killed", "--connect-wait-s", "10")
    try:
        agent.wait_for_log("connected", exact=True)
        listener.wait_for(lambda ms: status_of("hx-killed")(ms) == [True])
        agent.kill()  # the socket closes without a DISCONNECT, so the broker sends the will
        [*_, will] = listener.wait_for(lambda ms: status_of("hx-killed")(ms) == [True, False])
    finally:
        agent.kill()
    message = contract.validate(will.topic, will.payload, int(time.time() * 1000))
    assert isinstance(message, contract.Message) and message.body["online"] is False
    late = Listener(broker, will.topic, client_id="late")
    [kept] = late.wait_for(lambda ms: ms)
    late.close()
    assert kept.retain and kept.payload == will.payload, "the will is retained for later subscribers"


def test_silent_agent_is_announced_offline_after_its_keepalive_runs_out(broker, listener, tmp_path):
    keepalive_s = 2
    agent = driven_agent(broker.port, tmp_path / "spool.db", "hx-frozen", "--connect-wait-s", "10",
                         "--keepalive-s", str(keepalive_s))
    try:
        agent.wait_for_log("connected", exact=True)
        listener.wait_for(lambda ms: status_of("hx-frozen")(ms) == [True])
        agent.freeze()
        frozen = time.monotonic()
        listener.wait_for(lambda ms: status_of("hx-frozen")(ms) == [True, False], timeout_s=keepalive_s * 1.5 + 5)
        silent_for = time.monotonic() - frozen
    finally:
        agent.kill()
    assert silent_for >= keepalive_s, "the broker waits for the keepalive before declaring us gone"
    print(f"last will after {silent_for:.1f} s of silence (keepalive {keepalive_s} s)")


SPEED_TEST = {"backend": "iperf3", "server": "iperf.hx.example:5201", "trigger": "scheduled",
              "ok": True, "download_mbps": 94.2, "upload_mbps": 48.7, "target_mbps": 100}


def test_refused_publish_stays_in_the_spool_and_is_logged_once(broker, listener, make_publisher, caplog, tmp_path):
    spool = Spool(tmp_path / "refused.db")
    publisher = make_publisher(agent_settings(broker), spool=spool)
    publisher.start()
    publisher.submit("speedtest", SPEED_TEST, FIRST_TS_MS)  # the ACL does not allow speedtest
    publisher.submit("speedtest", SPEED_TEST, FIRST_TS_MS + 1)
    publisher.submit("broadband", numbered_body(7), FIRST_TS_MS + 7)

    listener.wait_for(broadband_of(SCHOOL))
    wait_until(lambda: (s := publisher.stats()).held == 2 and s.spool.depth == 2, interval=0.02,
               what="the refused results held in the spool, the other one delivered")

    assert [m.topic for m in spool.oldest(5)] == [contract.topic(COUNTY, SCHOOL, "speedtest")] * 2
    refusals = [r.getMessage() for r in caplog.records if "refused a message" in r.getMessage()]
    assert len(refusals) == 1, refusals
    assert "Not authorized (0x87)" in refusals[0] and "ACL" in refusals[0]
    assert broker.log_text().count("Denied PUBLISH from agent-hx-hx-s1") == 2
    assert broker.connections_of("agent-hx-hx-s1") == 1


@pytest.fixture
def dropping_broker(mosquitto_factory, tmp_path):
    """The harness's mosquitto as is (max_queued_messages 0): it drops a client after
    refusing its publish, as brokers speaking MQTT 3.1.1 must."""
    return start_county_broker(mosquitto_factory, tmp_path / "county", queues="")


def test_refused_message_is_not_resent_at_each_reconnect(dropping_broker, make_publisher):
    listener = Listener(dropping_broker, "schoolnet/v1/#")
    publisher = make_publisher(agent_settings(dropping_broker))
    publisher.start()
    try:
        publisher.submit("speedtest", SPEED_TEST, FIRST_TS_MS)
        wait_until(lambda: dropping_broker.connections_of("agent-hx-hx-s1") == 2, interval=0.02,
                   what="dropped after the refusal, then reconnected")
        for n in range(5):
            publisher.submit("broadband", numbered_body(n), FIRST_TS_MS + n)
        listener.wait_for(lambda ms: len(broadband_of(SCHOOL)(ms)) == 5)
    finally:
        listener.close()
    wait_until(lambda: (s := publisher.stats()).held == 1 and s.spool.depth == 1, interval=0.02,
               what="only the refused result left in the spool")
    assert dropping_broker.log_text().count("Denied PUBLISH from agent-hx-hx-s1") == 1


def test_passwords_never_reach_a_log_line(broker, listener, make_publisher, all_logs):
    good = make_publisher(agent_settings(broker))
    good.start()
    assert good.wait_until_connected(10)
    good.submit("broadband", numbered_body(1), FIRST_TS_MS)
    wait_until(lambda: good.stats().spool.depth == 0, interval=0.02, what="delivered")
    good.stop()
    wrong_password = "wrong-Pw-77aa#not-this-one"
    bad = make_publisher(agent_settings(broker, password=wrong_password), school="hx-s2")
    bad.start()
    error = wait_until(lambda: bad.stats().last_error, interval=0.02, what="connection refused")
    assert "Bad user name or password" in error or "Not authorized" in error

    assert any(r.name == "agent.publish.paho" for r in all_logs.records), "paho's own log is captured too"
    for record in all_logs.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert AGENT_PASSWORD not in text and wrong_password not in text, record.getMessage()


def test_tls_with_the_county_ca_connects_and_delivers(tls_broker, tls_files, make_publisher):
    listener = Listener(tls_broker, "schoolnet/v1/#")
    settings = agent_settings(tls_broker, tls=True, allow_plaintext=False, ca_file=str(tls_files["county"].ca))
    publisher = make_publisher(settings)
    publisher.start()
    try:
        assert publisher.wait_until_connected(10), publisher.stats().last_error
        publisher.submit("broadband", numbered_body(3), FIRST_TS_MS + 3)
        [message] = broadband_of(SCHOOL)(listener.wait_for(broadband_of(SCHOOL)))
    finally:
        listener.close()
    assert message.payload == numbered_payload(SCHOOL, 3)


def test_tls_with_another_ca_is_refused_and_says_which_setting_to_check(tls_broker, tls_files, make_publisher):
    settings = agent_settings(tls_broker, tls=True, allow_plaintext=False, ca_file=str(tls_files["other"].ca))
    publisher = make_publisher(settings)
    publisher.start()
    publisher.submit("broadband", numbered_body(4), FIRST_TS_MS + 4)

    error = wait_until(lambda: publisher.stats().last_error, interval=0.02, what="a connection failure")

    assert "certificate" in error and "broker.ca_file" in error, error
    assert not publisher.stats().connected
    assert publisher.stats().spool.depth == 1, "the result waits in the spool"
    assert "as agent-hx-hx-s1" not in tls_broker.log_text(), "the broker never saw our credentials"


def test_results_nobody_subscribed_to_wait_in_the_spool_until_a_collector_listens(
        broker, make_publisher, tmp_path, caplog):
    """After a broker restart mosquitto 2.0 has forgotten the collector's $share subscription
    and answers PUBACK 0x10 "no matching subscribers": accepted, given to no one. The
    publisher keeps such results and sends them again once a collector listens."""
    spool = Spool(tmp_path / "unheard.db")
    publisher = make_publisher(agent_settings(broker), spool=spool)
    publisher.start()
    for n in range(5):
        publisher.submit("broadband", numbered_body(n), FIRST_TS_MS + n)
    wait_until(lambda: publisher.stats().unheard >= 1, interval=0.02, what="a 0x10 PUBACK")
    assert publisher.stats().spool.depth == 5, "a result nobody received left the spool"
    warnings = [r.getMessage() for r in caplog.records if "no collector is subscribed" in r.getMessage()]
    assert len(warnings) == 1, warnings

    collector = Listener(broker, f"$share/collectors/{contract.SUBSCRIPTION}", client_id="c-1")
    try:
        received = collector.wait_for(lambda ms: len(broadband_of(SCHOOL)(ms)) >= 5, timeout_s=15)
    finally:
        collector.close()
    assert sorted({number_of(m.payload) for m in broadband_of(SCHOOL)(received)}) == [0, 1, 2, 3, 4]
    wait_until(lambda: (s := publisher.stats()).spool.depth == 0 and s.unheard == 0, interval=0.02,
               what="the spool emptied once a collector listened")
