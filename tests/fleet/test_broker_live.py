"""The broker accounts schoolnet-fleet generates, in a real mosquitto running the deploy
configuration (deploy/central/mosquitto/mosquitto.conf: TLS, the dynamic security plugin)
with the generated broker/dynamic-security.json as its state file (issues 12 and 13):
sampled schools publish under their own topics only and only with their own client id,
each collector has its own account, and rotating or retiring a school reaches the running
broker through the plugin as the admin: sessions end (parked ones too), a retired school
can no longer connect and its retained status is cleared."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from fleet.broker import COLLECTOR_GROUP, DYNSEC_FILE, BrokerAccount, client_id
from fleet.state import State
from roster import sample
from schoolnet_core import contract
from schoolnet_stack.requirements import require_binary
from schoolnet_stack.servers import LOOPBACK
from tests.deploy.county import MAKE_CERTS, County, DeployedMosquitto, Peer
from tests.fleet.helpers import county_tables, edited, fleet

ACCEPTED = (0x00, 0x10)  # 0x10: accepted, nobody subscribed
GRANTED_QOS_1 = 0x01
NOT_AUTHORIZED = 0x87
SESSION_TAKEN_OVER, ADMINISTRATIVE_ACTION = 0x8E, 0x98
SAMPLED = ["3000000000", "3001000001", "3000000006", "3001000009", "3000000012"]
RETIRED = "3001000003"
SESSION_S = 3600


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """A 14-school, 2-county roster applied once, and the county's TLS files."""
    require_binary("openssl")
    folder = tmp_path_factory.mktemp("broker-fleet")
    tables = county_tables(14, 2)
    assert fleet("apply", sample.write_xlsx(folder / "roster.xlsx", tables), "--state", folder / "state") == 0
    subprocess.run(["sh", str(MAKE_CERTS), str(folder / "tls"), "localhost", LOOPBACK], check=True,
                   capture_output=True, timeout=60, env={**os.environ, "BROKER_GROUP": str(os.getgid())})
    return {"folder": folder, "tables": tables}


@pytest.fixture
def state(applied, tmp_path):
    """This test's own copy of the state folder (rotating and retiring change it)."""
    shutil.copytree(applied["folder"] / "state", tmp_path / "state")
    return tmp_path / "state"


@pytest.fixture
def broker(server_starter, applied, state, tmp_path) -> DeployedMosquitto:
    """The deploy broker started on the generated state file, installed as the deploy
    README says (the broker rewrites it itself from then on)."""
    county = County(tmp_path / "county")
    shutil.copytree(applied["folder"] / "tls", county.tls)
    shutil.copyfile(state / "broker" / DYNSEC_FILE, county.dynsec)
    return server_starter.start(DeployedMosquitto, county, workdir=tmp_path / "broker")


def county_of(school: str) -> str:
    return f"c{int(school[1:4]):02d}"


def bound_id(school: str) -> str:
    return client_id(BrokerAccount(school, "", "school", county_of(school), school))


@pytest.fixture
def peers(broker, state):
    """school(id, client_id=None, password_file=None, **options) and service(user) ->
    a Peer on the TLS port with the state folder's password; all closed at the end."""
    made: list[Peer] = []

    def peer(user: str, password_file, client: str, **options) -> Peer:
        made.append(Peer(broker.tls_port, user, password_file.read_text().strip(), ca=broker.county.ca,
                         client_id=client, **options))
        return made[-1]

    def school(school_id: str, client: str | None = None, password_file=None, **options) -> Peer:
        password_file = password_file or State(state).password_path(county_of(school_id), school_id)
        return peer(school_id, password_file, client or bound_id(school_id), **options)

    def service(user: str, client: str | None = None) -> Peer:
        return peer(user, State(state).account_password_path(user), client or user)

    yield school, service
    for each in made:
        each.close()


def test_each_school_publishes_under_its_own_topics_only_and_with_its_own_client_id(peers):
    school, _service = peers
    for n, sampled in enumerate(SAMPLED):
        other = SAMPLED[(n + 1) % len(SAMPLED)]
        client = school(sampled)
        assert client.connect() == 0
        assert client.publish(contract.topic(county_of(sampled), sampled, "broadband"), b"{}") in ACCEPTED
        assert client.publish(contract.topic(county_of(other), other, "broadband"), b"{}") == NOT_AUTHORIZED
        assert client.subscribe(contract.topic(county_of(other), other, contract.COMMAND)) == [NOT_AUTHORIZED]
        assert client.subscribe(contract.topic(county_of(sampled), sampled, contract.COMMAND)) == [GRANTED_QOS_1]
        assert school(sampled, client=bound_id(other)).connect() == NOT_AUTHORIZED
        assert school(sampled, client=f"agent-test-{sampled}").connect() == NOT_AUTHORIZED
        assert client.disconnects == []  # the refused attempts did not touch its session


def test_each_collector_has_its_own_account_bound_to_its_client_id(peers):
    _school, service = peers
    group = f"$share/{COLLECTOR_GROUP}/{contract.SUBSCRIPTION}"
    for user in ("schoolnet-collector-1", "schoolnet-collector-2"):
        collector = service(user)
        assert collector.connect() == 0
        assert collector.subscribe(group) == [GRANTED_QOS_1]
    assert service("schoolnet-collector-1", client="schoolnet-collector-2").connect() == NOT_AUTHORIZED


def _park(school, school_id: str) -> None:
    """A persistent session subscribed to its commands, left offline."""
    parked = school(school_id, session_expiry_s=SESSION_S)
    assert parked.connect() == 0
    assert parked.subscribe(contract.topic(county_of(school_id), school_id, contract.COMMAND)) == [GRANTED_QOS_1]
    parked.close()


def test_retiring_through_the_broker_ends_its_sessions_its_account_and_its_retained_status(
        broker, peers, state, applied, tmp_path, capsys):
    school, service = peers
    county_id = county_of(RETIRED)
    status = contract.topic(county_id, RETIRED, contract.STATUS)
    live = school(RETIRED, session_expiry_s=SESSION_S)
    live.client.will_set(status, b'{"online": false}', qos=1, retain=True)  # as the agent does
    assert live.connect() == 0
    assert live.publish(status, b'{"online": true}', retain=True) in ACCEPTED

    roster = sample.write_xlsx(tmp_path / "roster.xlsx", edited(applied["tables"], retire=RETIRED))
    assert fleet("apply", roster, "--state", state, "--broker", f"mqtts://localhost:{broker.tls_port}",
                 "--ca", broker.county.ca) == 0
    out = capsys.readouterr().out
    assert f"retired, sessions ended: {RETIRED} (client id {bound_id(RETIRED)})" in out
    assert "retained status cleared" in out
    assert live.wait_for_disconnect() in (ADMINISTRATIVE_ACTION, SESSION_TAKEN_OVER)
    retired_password = state / "retired" / county_id / RETIRED / "mqtt.password"
    assert school(RETIRED, password_file=retired_password).connect() == NOT_AUTHORIZED
    manifest = State(state).manifest()
    assert manifest["retired"][f"{county_id}/{RETIRED}"]["status_cleared"] is True
    assert "broker_pending" not in manifest

    # Nothing retained on its status topic (not even its last will): a marker published
    # after the subscription arrives first and alone.
    collector = service("schoolnet-collector-1")
    assert collector.connect() == 0
    assert collector.subscribe(status) == [GRANTED_QOS_1]
    marker_topic = contract.topic(county_of(SAMPLED[0]), SAMPLED[0], "broadband")
    assert collector.subscribe(marker_topic) == [GRANTED_QOS_1]
    sender = school(SAMPLED[0])
    assert sender.connect() == 0 and sender.publish(marker_topic, b"marker") in ACCEPTED
    assert [m.payload for m in collector.wait_for_messages(1)] == [b"marker"], "retained status still there"
    assert school(SAMPLED[1]).connect() == 0  # the others are untouched


def test_rotating_without_the_broker_says_what_to_run_and_that_ends_its_sessions(
        broker, peers, state, applied, capsys):
    school, _service = peers
    rotated, bystander = SAMPLED[0], SAMPLED[1]
    old_password = (State(state).password_path(county_of(rotated), rotated)).read_text()
    _park(school, rotated)
    watching = school(bystander)
    assert watching.connect() == 0

    roster = sample.write_xlsx(state.parent / "roster.xlsx", applied["tables"])
    assert fleet("apply", roster, "--state", state, "--rotate", rotated) == 0
    out = capsys.readouterr().out
    command = f"schoolnet-fleet broker --state {state} --broker mqtt://127.0.0.1:1883"
    assert "运行中的消息服务器尚未收到 1 项账号变更" in out and command in out
    new_password = (State(state).password_path(county_of(rotated), rotated)).read_text()
    assert new_password != old_password and new_password not in out

    assert fleet("broker", "--state", state, "--broker", f"mqtt://{LOOPBACK}:{broker.port}") == 0
    assert f"new password, sessions ended: {rotated} (client id {bound_id(rotated)}" in capsys.readouterr().out
    stale = state.parent / "old.password"
    stale.write_text(old_password)
    assert school(rotated, password_file=stale).connect() == NOT_AUTHORIZED
    again = school(rotated, session_expiry_s=SESSION_S)
    assert again.connect() == 0
    assert again.session_present is False  # the parked session was ended

    # Nothing pending: a second run and a second apply with --broker change nothing.
    assert fleet("broker", "--state", state, "--broker", f"mqtt://{LOOPBACK}:{broker.port}") == 0
    assert fleet("apply", roster, "--state", state, "--broker", f"mqtt://{LOOPBACK}:{broker.port}") == 0
    out = capsys.readouterr().out
    assert "no pending account changes" in out and "nothing changed" in out
    assert watching.publish(contract.topic(county_of(bystander), bystander, "broadband"), b"{}") in ACCEPTED
    assert watching.disconnects == []
    assert json.loads((state / "broker" / DYNSEC_FILE).read_text())["defaultACLAccess"]["subscribe"] is False
