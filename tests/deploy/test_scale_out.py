"""deploy/scale-out: two collectors in one group, a VictoriaMetrics cluster, EMQX notes.

No cluster runs here. The files are parsed and their key settings checked, and the one
thing easy to get wrong, the URL the collectors write to, is checked with the collector's
own store code against a loopback HTTP server that records the request.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from collector.config import load_config
from collector.store import Store
from schoolnet_core import contract
from schoolnet_stack.servers import LOOPBACK

REPO = Path(__file__).resolve().parents[2]
SCALE_OUT = REPO / "deploy" / "scale-out"
CLUSTER = SCALE_OUT / "vm-cluster.compose.yaml"
COLLECTORS = [SCALE_OUT / "collector-1.yaml", SCALE_OUT / "collector-2.yaml"]
VMINSERT_V2_WRITE = "/insert/0/influx/api/v2/write"


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def flags(service: dict) -> dict[str, str]:
    return dict(flag.split("=", 1) for flag in service["command"])


def test_the_two_collectors_differ_only_in_their_account_which_is_their_client_id():
    first, second = (load_config(path) for path in COLLECTORS)  # both valid
    assert (first.broker.client_id, second.broker.client_id) == ("schoolnet-collector-1", "schoolnet-collector-2")
    assert (first.broker.username, second.broker.username) == ("schoolnet-collector-1", "schoolnet-collector-2")
    texts = [yaml.safe_load(path.read_text()) for path in COLLECTORS]
    for text in texts:
        text["broker"].pop("client_id")
        text["broker"].pop("username")
    assert texts[0] == texts[1]
    assert first.broker.group == "schoolnet-collectors"
    assert first.broker.session_expiry_s > 0  # each keeps its own session while restarting


def test_the_collectors_write_to_vminserts_influxdb_v2_endpoint():
    assert load_config(COLLECTORS[0]).store.url == "http://vminsert:8480/insert/0/influx"


class _Recorder(BaseHTTPRequestHandler):
    """Answers 204 like VictoriaMetrics and keeps (path, body) in server.requests."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_influxdb_client_appends_the_v2_write_path_to_the_cluster_url():
    """store.url keeps its path: the write goes to vminsert's /insert/0/influx/api/v2/write."""
    server = ThreadingHTTPServer((LOOPBACK, 0), _Recorder)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = load_config(COLLECTORS[0]).store.url.split("vminsert:8480", 1)[1]
        store = Store(f"http://{LOOPBACK}:{server.server_address[1]}{path}", "schoolnet", "schoolnet", None, 5)
        store.write(["schoolnet_health,county=hx,school=hx-a cpu_pct=7.5 1795570200000"])
        store.close()
    finally:
        server.shutdown()
        server.server_close()
    [(request_path, body)] = server.requests
    assert request_path.split("?")[0] == VMINSERT_V2_WRITE
    assert "precision=ms" in request_path and body.startswith(b"schoolnet_health,county=hx")


def test_vminsert_and_vmselect_reach_both_storage_nodes_with_replication_and_dedup(cluster):
    services = cluster["services"]
    storages = sorted(name for name in services if name.startswith("vmstorage"))
    assert storages == ["vmstorage-1", "vmstorage-2"]
    insert, select = flags(services["vminsert"]), flags(services["vmselect"])
    assert insert["-storageNode"].split(",") == [f"{name}:8400" for name in storages]
    assert select["-storageNode"].split(",") == [f"{name}:8401" for name in storages]
    assert insert["-replicationFactor"] == "2"
    assert select["-dedup.minScrapeInterval"] == "1ms"
    for name in storages:
        assert flags(services[name])["-dedup.minScrapeInterval"] == "1ms"
        assert flags(services[name])["-retentionPeriod"] == "13"


def test_vmselect_shows_fresh_samples_as_soon_as_the_single_node(cluster):
    """The alert latency budget (deploy/README-alerts.md) counts on -search.latencyOffset."""
    debian = (REPO / "deploy" / "central" / "debian" / "victoria-metrics").read_text()
    single_node = re.search(r'^ARGS=".*-search\.latencyOffset=(\w+)', debian, re.MULTILINE).group(1)
    assert flags(cluster["services"]["vmselect"])["-search.latencyOffset"] == single_node == "5s"


def test_vmalert_reads_from_vmselect_and_keeps_its_state_through_vminsert(cluster):
    vmalert = flags(cluster["services"]["vmalert"])
    assert vmalert["-datasource.url"] == vmalert["-remoteRead.url"] == "http://vmselect:8481/select/0/prometheus"
    assert vmalert["-remoteWrite.url"] == "http://vminsert:8480/insert/0/prometheus"
    assert vmalert["-rule"] == "/etc/schoolnet/rules/*.yml"


def test_both_collectors_run_with_their_own_config_and_state(cluster):
    services = cluster["services"]
    for number in (1, 2):
        volumes = services[f"collector-{number}"]["volumes"]
        assert f"./collector-{number}.yaml:/etc/schoolnet/collector.yaml:ro" in volumes
        assert f"collector-{number}:/var/lib/schoolnet" in volumes
        build = services[f"collector-{number}"]["build"]
        assert (SCALE_OUT / build["context"] / build["dockerfile"]).is_file()
    images = {service["image"] for service in services.values() if "image" in service}
    assert {image.rsplit(":", 1)[1] for image in images} <= {"v1.79.5", "v1.79.5-cluster"}


def test_emqx_keeps_the_collectors_subscription_and_refuses_what_is_not_allowed():
    settings = (SCALE_OUT / "emqx/base.hocon").read_text()
    for line in ("no_match = deny", "deny_action = ignore", "shared_subscription = true",
                 "max_mqueue_len = 1000000", "max_inflight = 100", 'bind = "0.0.0.0:8883"',
                 'bind = "127.0.0.1:1883"', "type = built_in_database", "use_username_as_clientid = true"):
        assert line in settings, line
    # The school rules (built-in database) are checked before the file's generic ones.
    assert settings.index("type = built_in_database") < settings.index("type = file")
    acl = (SCALE_OUT / "emqx/acl.conf").read_text()
    group = load_config(COLLECTORS[0]).broker.group
    assert f'"$share/{group}/{contract.SUBSCRIPTION}"' in acl
    rules = [line for line in acl.splitlines() if line.startswith("{")]
    assert rules[-1] == "{deny, all}."
    assert '{deny, all, subscribe, ["$share/#", {eq, "#"}, {eq, "+/#"}, "$SYS/#"]}.' in rules
    for collector in COLLECTORS:  # each its own account, both allowed by the collectors' rule
        assert re.fullmatch("^schoolnet-collector-[0-9]+$", load_config(collector).broker.username)
    assert all(re.fullmatch(r"\{(allow|deny), .*\}\.", rule) for rule in rules), rules
