"""Messages from schools reach VictoriaMetrics through real collectors and a real broker."""

from __future__ import annotations

import logging
import time

from schoolnet_core import contract
from schoolnet_stack.processes import (
    InProcessCollector,
    healthz,
    scrape,
    write_collector_config,
)
from schoolnet_stack.servers import wait_until
from tests.collector.running import (
    COUNTY,
    Publisher,
    distinct_timestamps,
    samples_by_series,
    school_id,
    traffic,
)

SCHOOLS, PER_SCHOOL = 20, 50
CPU = 'schoolnet_health_cpu_pct{county="hx"}'


def test_thousand_messages_from_twenty_schools_arrive_with_labels_and_values(tmp_path, mosquitto, victoria_metrics):
    start_ms = int(time.time() * 1000) - 60_000
    config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "c-flow")
    with InProcessCollector(config) as running:
        publisher = Publisher(mosquitto.port)
        publisher.publish(traffic(SCHOOLS, PER_SCHOOL, start_ms))
        publisher.close()
        victoria_metrics.wait_for(lambda: distinct_timestamps(victoria_metrics, CPU) == SCHOOLS * PER_SCHOOL)
        metrics = victoria_metrics.wait_for(lambda: _settled(running.port))
        status = healthz(running.port)

    series = samples_by_series(victoria_metrics, CPU)
    assert sorted(series) == [
        (("__name__", "schoolnet_health_cpu_pct"), ("agent_version", "0.1.0"), ("county", COUNTY),
         ("school", school_id(n)))
        for n in range(SCHOOLS)
    ]  # fmt: skip
    for by_ts in series.values():
        assert by_ts == {start_ms + i: {float(i % 100)} for i in range(PER_SCHOOL)}
    (uptime,) = samples_by_series(victoria_metrics, 'schoolnet_health_uptime_s{school="hx-school-07"}').values()
    assert uptime[start_ms + 3] == {864000.0}

    assert metrics["schoolnet_collector_received_total"] == SCHOOLS * PER_SCHOOL
    health_points = SCHOOLS * PER_SCHOOL  # one point per health message
    assert metrics["schoolnet_collector_written_points_total"] >= health_points
    assert metrics["schoolnet_collector_store_errors_total"] == 0
    assert metrics["schoolnet_collector_broker_connected"] == 1
    assert metrics['schoolnet_collector_batch_seconds_bucket{le="+Inf"}'] == metrics[
        "schoolnet_collector_batch_seconds_count"
    ]
    assert metrics["schoolnet_collector_batch_seconds_count"] >= 1
    assert not [name for name in metrics if "deadlettered_total{" in name]
    assert status == (200, "ok\n")


def _settled(port: int) -> dict | None:
    """The collector's metrics once everything received is written and acked."""
    metrics = scrape(port)
    return metrics if metrics.get("schoolnet_collector_pending_messages") == 0 else None


def test_two_collectors_in_one_group_split_the_stream(tmp_path, mosquitto, victoria_metrics):
    start_ms = int(time.time() * 1000) - 60_000
    configs = [write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, f"c-share-{n}") for n in (1, 2)]
    with InProcessCollector(configs[0]) as first, InProcessCollector(configs[1]) as second:
        publisher = Publisher(mosquitto.port)
        publisher.publish(traffic(SCHOOLS, PER_SCHOOL, start_ms))
        publisher.close()
        victoria_metrics.wait_for(lambda: distinct_timestamps(victoria_metrics, CPU) == SCHOOLS * PER_SCHOOL)
        counts = [victoria_metrics.wait_for(lambda c=c: _settled(c.port)) for c in (first, second)]

    received = [m["schoolnet_collector_received_total"] for m in counts]
    written = [m["schoolnet_collector_written_points_total"] for m in counts]
    assert sum(received) == SCHOOLS * PER_SCHOOL
    assert all(r > 0 for r in received), received
    assert all(w > 0 for w in written), written


def test_healthz_follows_the_broker(tmp_path, mosquitto, victoria_metrics, caplog):
    """And the broker's absence is told once per reason, not as paho's ERROR per retry."""
    caplog.set_level(logging.DEBUG)
    config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "c-health")
    with InProcessCollector(config) as running:
        victoria_metrics.wait_for(lambda: healthz(running.port) == (200, "ok\n"))
        mosquitto.stop()
        status, reason = victoria_metrics.wait_for(lambda: _unhealthy(running.port))
        assert (status, reason) == (503, "broker not connected / 未连接消息服务器\n")
        assert scrape(running.port)["schoolnet_collector_broker_connected"] == 0
        noise = wait_until(lambda: _reconnect_noise(caplog, at_least=2), timeout=30,
                           what="a few reconnect attempts against a closed port")
        assert set(noise) == {"DEBUG"}, noise
        mosquitto.start()
        victoria_metrics.wait_for(lambda: healthz(running.port) == (200, "ok\n"), timeout=40)
        assert scrape(running.port)["schoolnet_collector_broker_connected"] == 1


def _reconnect_noise(caplog, at_least: int) -> list[str] | None:
    """The levels paho's "Client is not connected" was logged at, once it was `at_least` times."""
    levels = [r.levelname for r in caplog.records if r.getMessage().startswith("Client is not connected")]
    return levels if len(levels) >= at_least else None


def _unhealthy(port: int):
    status = healthz(port)
    return status if status[0] != 200 else None


def test_a_school_that_says_online_but_never_speaks_is_reported_silent(tmp_path, mosquitto, victoria_metrics):
    """Its retained birth is all a (re)started collector hears of it: silence counts from
    the subscription, so a gateway that hung before the restart is still found."""
    publisher = Publisher(mosquitto.port)
    now_ms = int(time.time() * 1000)
    for school, online in (("hx-hung", True), ("hx-gone", False)):
        body = {"online": online, "agent_version": "0.1.0"}
        info = publisher.client.publish(contract.topic(COUNTY, school, contract.STATUS),
                                        contract.encode(contract.STATUS, COUNTY, school, now_ms, body),
                                        qos=1, retain=True)
        info.wait_for_publish(10)
    publisher.close()
    config = write_collector_config(tmp_path, mosquitto.port, victoria_metrics.url, "c-presence",
                          presence={"silent_after_s": 10, "report_every_s": 1})
    with InProcessCollector(config):
        silent = victoria_metrics.wait_for(
            lambda: victoria_metrics.query('schoolnet_presence_silent{school=~"hx-.*"} == 1'), timeout=40)
    assert [series["metric"]["school"] for series in silent] == ["hx-hung"], silent
