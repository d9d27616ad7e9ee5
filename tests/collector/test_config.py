"""The collector's config file: every mistake reported with file, line and key."""

from __future__ import annotations

import socket

import pytest

from collector import cli
from collector.config import (
    EXAMPLE_CONFIG,
    ConfigError,
    Secret,
    load_config,
    read_secret,
)

MISTAKES = """\
broker:
  url: mqtt://127.0.0.1:1883
  usrname: collector
  password: hunter2
  group: "schoolnet/collectors"
store:
  url: ftp://vm.example:8428
  timeout_s: fast
batch:
  max_messages: 70000
  max_wait_s: 0
presence:
  silent_after_s: 60
  report_every_s: 60
http:
  listen: localhost:9471
deadletter:
  backups: -1
extra: 1
"""


def write(tmp_path, text: str, name: str = "collector.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_mistake_is_reported_at_once_with_line_and_key(tmp_path):
    path = write(tmp_path, MISTAKES)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    found = [(p.file, p.line, p.path, p.message) for p in caught.value.problems]
    expected = [
        (2, "broker.url", "mqtt:// sends the password"),
        (3, "broker.usrname", "unknown key 'usrname'; did you mean 'username'?"),
        (4, "broker.password", "use password_file or password_env"),
        (5, "broker.group", "'schoolnet/collectors' is not a valid group"),
        (7, "store.url", "'ftp://vm.example:8428' is not a store URL"),
        (8, "store.timeout_s", "must be a number, got 'fast'"),
        (10, "batch.max_messages", "must be between 1 and 65535, got 70000"),
        (11, "batch.max_wait_s", "must be more than 0"),
        (14, "presence.report_every_s", "must be shorter than silent_after_s (60)"),
        (16, "http.listen", "'localhost:9471' is not ADDRESS:PORT"),
        (18, "deadletter.backups", "must be between 0 and 100, got -1"),
        (19, "extra", "unknown key 'extra'"),
    ]
    assert [(line, key) for _, line, key, _ in found] == [(line, key) for line, key, _ in expected]
    for (file, _, _, message), (_, _, words) in zip(found, expected):
        assert file == str(path)
        assert words in message, message
    assert str(caught.value).splitlines()[0].startswith(f"{path}:2: broker.url: ")


def test_secret_itself_never_appears_in_the_report(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MISTAKES))
    assert "hunter2" not in str(caught.value)


def test_example_config_loads(tmp_path):
    config = load_config(EXAMPLE_CONFIG)
    assert config.broker.url == "mqtts://mqtt.hx.edu.example:8883"
    assert (config.broker.host, config.broker.port, config.broker.tls) == ("mqtt.hx.edu.example", 8883, True)
    assert config.broker.password.file == "/etc/schoolnet/collector-mqtt.password"
    assert (config.broker.client_id, config.broker.group) == ("schoolnet-collector-1", "schoolnet-collectors")
    assert config.store.url == "http://127.0.0.1:8428"
    assert (config.batch.max_points, config.batch.max_messages, config.batch.max_wait_s) == (5000, 1000, 1.0)
    assert (config.presence.silent_after_s, config.presence.report_every_s) == (180, 30)
    assert (config.http.host, config.http.port) == ("127.0.0.1", 9471)


def test_only_the_broker_is_required_and_defaults_fill_the_rest(tmp_path, monkeypatch):
    path = write(tmp_path, "broker:\n  url: mqtts://mqtt.example\n")
    config = load_config(path)
    assert config.broker.port == 8883
    assert config.broker.username is None and config.broker.password is None
    assert config.broker.client_id.startswith("schoolnet-collector-")
    assert config.broker.session_expiry_s == 7 * 86400
    assert config.store.url == "http://127.0.0.1:8428"
    assert config.store.token is None
    assert config.store.retry_max_s == 30.0
    assert config.deadletter.path == "/var/lib/schoolnet/deadletter.jsonl"
    assert config.deadletter.backups == 5
    assert config.secret_refs() == ()


def test_default_client_id_is_fixed_per_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "county DC 01")
    config = load_config(write(tmp_path, "broker:\n  url: mqtts://mqtt.example\n"))
    assert config.broker.client_id == "schoolnet-collector-county-DC-01"


def test_missing_broker_section(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "store:\n  url: http://127.0.0.1:8428\n"))
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'collector.yaml'}:1: (top level): missing required key 'broker'"
    ]


@pytest.mark.parametrize(
    ("broker_lines", "line", "key", "words"),
    [
        ("  username: c1\n", 3, "broker.username", "'username' also needs password_file or password_env"),
        ("  password_env: PW\n", 3, "broker.password_env", "a password needs a username"),
        ("  username: c1\n  password_file: b\n  password_env: A\n", 5, "broker.password_env",
         "give only one of password_file or password_env"),
        ("  ca_file: ca.pem\n", 3, "broker.ca_file", "only used with an mqtts:// (TLS) url"),
    ],
)  # fmt: skip
def test_broker_credentials_rules(tmp_path, broker_lines, line, key, words):
    text = "broker:\n  url: mqtt://127.0.0.1:1883\n" + broker_lines + "  allow_plaintext: true\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert [(p.line, p.path) for p in caught.value.problems] == [(line, key)]
    assert words in caught.value.problems[0].message


def test_secrets_are_read_only_when_asked_and_print_as_stars(tmp_path, monkeypatch):
    (tmp_path / "store.token").write_text("s3cret-token\n")
    text = (
        "broker:\n  url: mqtts://mqtt.example\n  username: c1\n  password_env: SN_PW\n"
        "store:\n  token_file: store.token\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.store.token.file == str(tmp_path / "store.token")  # next to the config file
    monkeypatch.setenv("SN_PW", "mqtt-pw")
    secrets = [read_secret(ref) for ref in config.secret_refs()]
    assert [secret.reveal() for secret in secrets] == ["mqtt-pw", "s3cret-token"]
    assert all(isinstance(s, Secret) and repr(s) == "***" and str(s) == "***" for s in secrets)


def test_missing_file_points_at_the_collectors_example(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert str(EXAMPLE_CONFIG) in str(caught.value)
    assert "agent" not in str(caught.value).replace(str(tmp_path), "")


def test_relative_deadletter_path_is_next_to_the_config(tmp_path):
    text = "broker:\n  url: mqtts://mqtt.example\ndeadletter:\n  path: dl/refused.jsonl\n"
    config = load_config(write(tmp_path, text))
    assert config.deadletter.path == str(tmp_path / "dl" / "refused.jsonl")


def test_ipv6_listen_address(tmp_path):
    text = "broker:\n  url: mqtts://mqtt.example\nhttp:\n  listen: '[::1]:9500'\n"
    assert load_config(write(tmp_path, text)).http == type(load_config(EXAMPLE_CONFIG).http)("::1", 9500)


def test_cli_check_prints_problems_in_chinese_and_english(tmp_path, capsys):
    path = write(tmp_path, MISTAKES)
    assert cli.main(["check", "-c", str(path)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith("配置文件有误 / problems in the config file (12):\n")
    assert f"{path}:3: broker.usrname: unknown key 'usrname'" in err
    assert "hunter2" not in err


def test_cli_check_reads_the_secrets(tmp_path, capsys, monkeypatch):
    text = "broker:\n  url: mqtts://mqtt.example\n  username: c1\n  password_env: SN_PW_UNSET\n"
    path = write(tmp_path, text)
    monkeypatch.delenv("SN_PW_UNSET", raising=False)
    assert cli.main(["check", "-c", str(path)]) == cli.EXIT_CONFIG
    assert f"{path}:4: broker.password_env: environment variable SN_PW_UNSET is not set" in capsys.readouterr().err
    monkeypatch.setenv("SN_PW_UNSET", "x")
    assert cli.main(["check", "-c", str(path)]) == cli.EXIT_OK
    assert capsys.readouterr().out == f"配置正确 / config OK: {path}\n"


REPO = EXAMPLE_CONFIG.parents[1]
TEMPLATES = [REPO / "deploy/central/collector@.yaml", REPO / "deploy/central/collector-n.yaml"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_a_shared_config_gives_each_instance_its_own_identity_and_nothing_else(template):
    """schoolnet-collector@.service and compose.scale.yaml run one file per server: each
    instance its own account = client id (bound by the broker), dead-letter file and port."""
    first, second = load_config(template, 1), load_config(template, 2)
    assert (first.broker.username, first.broker.client_id) == ("schoolnet-collector-1",) * 2
    assert (second.broker.username, second.broker.client_id) == ("schoolnet-collector-2",) * 2
    assert (first.http.port, second.http.port) == (9471, 9472)
    assert first.broker.group == second.broker.group == "schoolnet-collectors"
    if template.name == "collector@.yaml":  # systemd: one /var/lib/schoolnet for all
        assert first.deadletter.path != second.deadletter.path
    # (compose: each container has its own volume for the same path)
    same = ("store", "batch", "presence")
    assert [getattr(first, name) for name in same] == [getattr(second, name) for name in same]


def test_a_shared_config_without_an_instance_says_how_to_run_it(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(TEMPLATES[0])
    assert any(problem.path == "instance" and "--instance N (1-9)" in problem.message
               for problem in error.value.problems)  # fmt: skip


def test_cli_instance_is_a_number_from_1_to_9(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["check", "-c", str(TEMPLATES[0]), "--instance", "0"])
    assert "'0': a number 1-9" in capsys.readouterr().err
