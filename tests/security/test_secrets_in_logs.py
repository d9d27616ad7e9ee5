"""No secret in any log line, whatever happens: an agent's publisher and a collector, every
logger at DEBUG (paho's, urllib3's and influxdb_client's included), through connecting,
publishing, a wrong password on each side, a broker restart and a store outage. Everything
they wrote is searched for the MQTT passwords and the store token, as written and encoded
(base64, hex, URL-encoded), exception texts and tracebacks included.

The collector runs in this process, so its urllib3 and influxdb_client loggers can be put
back to DEBUG after influxdb-client sets them to WARNING (it does, unless its own debug
mode is on); a second collector, with a wrong password, runs as `collector.cli run -v`,
so its stderr is read too."""

from __future__ import annotations

import logging
from contextlib import ExitStack, contextmanager

import pytest

from agent.publish import BrokerSettings, Publisher, Spool
from schoolnet_core import contract
from schoolnet_stack.processes import (
    InProcessCollector,
    healthz,
    scrape,
    write_collector_config,
)
from schoolnet_stack.servers import wait_until
from tests.contract.examples import contract_examples
from tests.security.collectors import HEALTHY, VerboseCollector
from tests.security.county import (
    AGENT_USER,
    COLLECTOR_USER,
    password_config,
    secret_file,
)
from tests.security.leaks import distinctive_secret, leaks

pytestmark = pytest.mark.servers

COUNTY, SCHOOL, INTRUDER = "hx", "hx-sec-01", "hx-sec-02"
LOGGERS = ("", "paho", "urllib3", "influxdb_client", "agent", "collector", "schoolnet")
NOW_MS = 1_795_570_200_000


def health_body(cpu_pct: float) -> dict:
    body = {key: value for key, value in contract_examples()["health"].items() if key not in contract.ENVELOPE}
    return {**body, "cpu_pct": cpu_pct}


def stored_count(victoria_metrics) -> int:
    rows = victoria_metrics.export(f'schoolnet_health_cpu_pct{{school="{SCHOOL}"}}')
    return sum(len(set(row["timestamps"])) for row in rows)


def everything_logged(caplog, capfd, *collectors: VerboseCollector) -> dict[str, str]:
    """Where -> all the text written there: records formatted with their tracebacks and
    arguments, this process's stdout and stderr, each collector's log file."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    records = "\n".join(f"{formatter.format(record)} args={record.args!r}" for record in caplog.records)
    captured = capfd.readouterr()
    texts = {"in-process log records": records, "stdout": captured.out, "stderr": captured.err}
    texts.update({f"collector log {c.log_path.name}": c.log() for c in collectors})
    return texts


def test_no_secret_in_any_log_through_connect_restart_and_outages(
    mosquitto_factory, victoria_metrics, tmp_path, caplog, capfd
):
    secrets = {name: distinctive_secret(name.split()[0])
               for name in ("agent password", "collector password", "store token", "wrong password")}  # fmt: skip
    debug_everywhere(caplog, LOGGERS)
    broker = mosquitto_factory(allow_anonymous=False, extra_config=password_config(
        tmp_path / "county", {AGENT_USER: secrets["agent password"], COLLECTOR_USER: secrets["collector password"]}))  # fmt: skip

    def collector_config(client_id: str, password: str):
        return write_collector_config(
            tmp_path, broker.port, victoria_metrics.url, client_id,
            broker={"username": COLLECTOR_USER,
                    "password_file": str(secret_file(tmp_path, f"{client_id}.password", password))},
            store={"token_file": str(secret_file(tmp_path, "store.token", secrets["store token"]))},
        )  # fmt: skip

    intruder = VerboseCollector(collector_config("sec-intruder", secrets["wrong password"]), tmp_path / "intruder.log")
    with ExitStack() as running:
        collector = running.enter_context(InProcessCollector(collector_config("sec-collector", secrets["collector password"])))
        debug_everywhere(caplog, ("urllib3", "influxdb_client"))  # influxdb-client has just set them to WARNING
        agent = running.enter_context(started(Publisher(
            _settings(broker.port, secrets["agent password"]), COUNTY, SCHOOL, Spool(tmp_path / "agent.db"), reconnect_max_s=1)))  # fmt: skip

        # connect and publish
        assert agent.wait_until_connected(15), agent.stats().last_error
        submit_and_wait_stored(agent, victoria_metrics, range(3))

        # a wrong password, on each side
        wrong = running.enter_context(started(Publisher(
            _settings(broker.port, secrets["wrong password"]), COUNTY, INTRUDER, Spool(tmp_path / "intruder.db"), reconnect_max_s=1)))  # fmt: skip
        refusal = wait_until(lambda: wrong.stats().last_error, 15, what="the agent's wrong password refused")
        assert "Not authorized" in refusal or "Bad user name or password" in refusal, refusal
        wrong.submit("health", health_body(50), NOW_MS + 50)
        running.callback(intruder.stop)
        intruder.start().wait_for_log("refused the connection")

        # a broker restart
        broker.restart()
        assert wait_until(lambda: agent.stats().connected, 30, what="the agent back")
        wait_until(lambda: healthz(collector.port) == HEALTHY, 30, what="the collector back")
        submit_and_wait_stored(agent, victoria_metrics, range(3, 5))

        # a store outage
        victoria_metrics.stop()
        for n in range(5, 7):
            agent.submit("health", health_body(n), NOW_MS + n)
        outage = wait_until(lambda: (h := healthz(collector.port)) and h[0] == 503 and h, 30,
                            what="the collector to report failing writes")  # fmt: skip
        seen_by_county = [outage[1], repr(scrape(collector.port))]
        victoria_metrics.start()
        wait_until(lambda: stored_count(victoria_metrics) == 7, 30, what="7 results stored")

    texts = everything_logged(caplog, capfd, intruder)
    texts["what county IT sees (/healthz, /metrics)"] = "\n".join(seen_by_county)
    texts["publisher stats"] = repr([agent.stats(), wrong.stats()])
    # The scenario really happened, loudly: otherwise finding nothing would prove nothing.
    logged = texts["in-process log records"]
    assert "store writes failing" in outage[1] and "store write of 2 points failed" in logged
    for logger in ("urllib3.connectionpool", "agent.publish.paho", "schoolnet.collector.mqtt"):
        assert any(record.name == logger for record in caplog.records), f"{logger}'s DEBUG lines are in"
    assert "Sending CONNECT" in logged and "refused the connection" in intruder.log()
    for where, text in texts.items():
        assert leaks(text, secrets) == [], f"a secret in {where}"


def debug_everywhere(caplog, loggers) -> None:
    for name in loggers:
        caplog.set_level(logging.DEBUG, logger=name or None)


@contextmanager
def started(publisher: Publisher):
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop(wait_s=1)


def submit_and_wait_stored(agent: Publisher, victoria_metrics, numbers: range) -> None:
    for n in numbers:
        agent.submit("health", health_body(n), NOW_MS + n)
    wait_until(lambda: stored_count(victoria_metrics) == numbers.stop, 30, what=f"{numbers.stop} results stored")


def _settings(port: int, password: str) -> BrokerSettings:
    return BrokerSettings(host="127.0.0.1", port=port, tls=False, allow_plaintext=True,
                          username=AGENT_USER, password=password)  # fmt: skip
