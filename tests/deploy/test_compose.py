"""deploy/central/compose.yaml and the files it mounts, without a Docker engine.

`docker compose config` runs where the compose plugin is installed; this machine's docker
client has none, so the file is read as YAML and checked here: the six services, every
path mounted from the repository exists, secrets come only from SCHOOLNET_CENTRAL_DIR,
only the broker and Grafana listen beyond the host, and the settings agree with the
files for hosts without Docker (Debian's /etc/default files).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from collector.config import load_config

REPO = Path(__file__).resolve().parents[2]
CENTRAL = REPO / "deploy" / "central"
COMPOSE = CENTRAL / "compose.yaml"
SECRETS_DIR = "${SCHOOLNET_CENTRAL_DIR:-/etc/schoolnet-central}"
SERVICES = {"mosquitto", "collector", "victoriametrics", "vmalert", "alertmanager", "grafana"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def split_volume(volume: str) -> tuple[str, str]:
    """(host, container) of HOST:CONTAINER[:MODE]; HOST may hold ${VAR:-default}."""
    variable_end = volume.index("}") + 1 if volume.startswith("${") else 0
    host_rest, container, *_mode = volume[variable_end:].split(":")
    return volume[:variable_end] + host_rest, container


def host_paths(service: dict) -> list[str]:
    return [split_volume(volume)[0] for volume in service.get("volumes", [])]


def mounts(service: dict) -> dict[str, str]:
    """container path -> host path (named volumes included)."""
    return {container: host for host, container in map(split_volume, service.get("volumes", []))}


def debian_args(name: str) -> list[str]:
    text = (CENTRAL / "debian" / name).read_text()
    [args] = re.findall(r'^ARGS="(.*)"$', text, re.MULTILINE)
    return shlex.split(args)


def test_the_stack_has_the_six_services_and_pinned_images(compose):
    assert set(compose["services"]) == SERVICES
    for name, service in compose["services"].items():
        if "image" in service:
            assert re.search(r":v?\d+\.\d+\.\d+(-\w+)?$", service["image"]), f"{name}: pin a version"
        else:
            build = service["build"]
            assert (CENTRAL / build["context"] / build["dockerfile"]).is_file(), name
        assert service["restart"] == "unless-stopped", name


def test_every_mounted_repository_path_exists_and_secrets_come_from_one_folder(compose):
    for name, service in compose["services"].items():
        for host in host_paths(service):
            if host.startswith(("./", "../")):
                assert (CENTRAL / host).exists(), f"{name}: {host} is not in the repository"
            elif host.startswith("$"):
                assert host.startswith(SECRETS_DIR + "/"), f"{name}: {host}"
            else:
                assert host in compose["volumes"], f"{name}: {host} is neither a repo path nor a volume"


def test_only_the_broker_and_grafana_listen_beyond_the_host(compose):
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    everywhere = {name: ports for name, ports in published.items() if any(
        not port.startswith("127.0.0.1:") for port in ports)}
    assert everywhere == {"mosquitto": ["8883:8883"], "grafana": ["3000:3000"]}


def test_the_broker_runs_the_deploy_mosquitto_conf_at_the_path_its_image_reads(compose):
    broker = compose["services"]["mosquitto"]
    assert mounts(broker)["/etc/mosquitto/mosquitto.conf"] == "./mosquitto/mosquitto.conf"
    dockerfile = (CENTRAL / broker["build"]["dockerfile"]).read_text()
    assert 'CMD ["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"]' in dockerfile
    conf = (CENTRAL / "mosquitto/mosquitto.conf").read_text()
    for path in re.findall(r"^(?:plugin_opt_config_file|cafile|certfile|keyfile) (\S+)$", conf, re.MULTILINE):
        assert any(path == target or path.startswith(target + "/") for target in mounts(broker)), path
    assert "mosquitto-data" == mounts(broker)["/var/lib/mosquitto"]
    # The plugin replaces its state file by rename: the folder is mounted, read-write.
    assert mounts(broker)["/etc/mosquitto/schoolnet"] == f"{SECRETS_DIR}/mosquitto"
    [volume] = [v for v in broker["volumes"] if ":/etc/mosquitto/schoolnet" in v]
    assert not volume.split("#")[0].strip().endswith(":ro")


def test_victoriametrics_has_the_same_flags_as_on_debian(compose):
    flags = compose["services"]["victoriametrics"]["command"]
    assert "-dedup.minScrapeInterval=1ms" in flags and "-retentionPeriod=13" in flags

    def settings(args):
        return {flag for flag in args if not flag.startswith(("-storageDataPath=", "-httpListenAddr="))}

    assert settings(flags) == settings(debian_args("victoria-metrics"))


def test_vmalert_reads_the_repository_rules_and_keeps_its_state_in_victoriametrics(compose):
    vmalert = compose["services"]["vmalert"]
    assert mounts(vmalert)["/etc/schoolnet/rules"] == "../rules"
    flags = dict(flag.split("=", 1) for flag in vmalert["command"])
    assert flags["-rule"] == "/etc/schoolnet/rules/*.yml"
    assert flags["-datasource.url"] == flags["-remoteWrite.url"] == flags["-remoteRead.url"] == (
        "http://victoriametrics:8428")
    assert flags["-notifier.url"] == "http://alertmanager:9093"
    assert flags["-evaluationInterval"] == "1m"  # what deploy/README-alerts.md says the rules need


def test_alertmanager_gets_the_repository_templates_beside_its_filled_in_config(compose):
    alertmanager = compose["services"]["alertmanager"]
    paths = mounts(alertmanager)
    assert paths["/etc/alertmanager/templates"] == "../alertmanager/templates"
    assert paths["/etc/alertmanager/alertmanager.yml"] == f"{SECRETS_DIR}/alertmanager/alertmanager.yml"
    assert "--cluster.listen-address=" in alertmanager["command"]
    assert "--cluster.listen-address=" in debian_args("prometheus-alertmanager")


def test_grafana_gets_the_generated_boards_and_a_data_source_that_differs_only_in_url(compose):
    grafana = mounts(compose["services"]["grafana"])
    assert grafana["/etc/grafana/provisioning/dashboards"] == "../../dashboards/provisioning/dashboards"
    provider = yaml.safe_load((REPO / "dashboards/provisioning/dashboards/schoolnet.yml").read_text())
    assert grafana[provider["providers"][0]["options"]["path"]] == "../../dashboards/json"

    ours = yaml.safe_load((CENTRAL / "grafana/datasources/victoriametrics.yml").read_text())
    theirs = yaml.safe_load((REPO / "dashboards/provisioning/datasources/victoriametrics.yml").read_text())
    assert ours["datasources"][0].pop("url") == "http://victoriametrics:8428"
    theirs["datasources"][0].pop("url")
    assert ours == theirs


def test_the_collector_config_is_valid_and_points_at_the_compose_services(compose):
    config = load_config(CENTRAL / "collector.yaml")
    assert (config.broker.host, config.broker.port, config.broker.tls) == ("mosquitto", 8883, True)
    assert config.store.url == "http://victoriametrics:8428"
    assert config.broker.username == config.broker.client_id == "schoolnet-collector-1"  # bound by the broker
    collector = mounts(compose["services"]["collector"])
    for needed in (config.broker.ca_file, config.broker.password.file, "/etc/schoolnet/collector.yaml"):
        assert needed in collector, needed
    assert collector[str(Path(config.deadletter.path).parent)] == "collector-data"


def test_docker_compose_accepts_the_file_where_the_plugin_is_installed():
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False,
                                       timeout=30).returncode == 0
    if not plugin:
        pytest.skip("no `docker compose` plugin here; the YAML checks above stand in for it")
    checked = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stderr
