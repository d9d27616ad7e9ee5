"""Secrets in the values the programs hold and print, without servers: config objects,
broker settings and Secret print without them; refusals of a secret written into a config
file do not repeat it (a ConfigError is printed to stderr, which systemd keeps in journald).
And the leak finder the server tests rely on finds what it must."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from agent import config as agent_config
from agent.publish import BrokerSettings, broker_settings
from collector import config as collector_config
from schoolnet_core.config import ConfigError, read_secret
from tests.security.county import secret_file
from tests.security.leaks import distinctive_secret, leaks

AGENT_YAML = """\
school: {{id: hx-test-xx, name: 测试中学, county: hx, rural: true}}
broker:
  url: {url}
  username: hx-test-xx
  password_file: {password_file}
timetable: {{lessons: ["08:00-08:45"]}}
commands: {{key_file: {key_file}}}
"""
COLLECTOR_YAML = """\
broker:
  url: {url}
  username: schoolnet-collector
  password_file: {password_file}
store:
  url: {store_url}
  token_file: {token_file}
"""


def test_the_leak_finder_sees_a_secret_however_it_is_encoded():
    secret = distinctive_secret("pw")
    basic_auth = base64.b64encode(f"schoolnet-collector:{secret}".encode()).decode()
    for text in (f"password={secret}", f"Authorization: Basic {basic_auth}", secret.encode().hex(),
                 "/write?" + urlencode({"token": secret}), base64.b64encode(b"xy" + secret.encode()).decode()):
        assert leaks(text, {"pw": secret}), text
    assert leaks("nothing to see; pw-" + "x" * 30, {"pw": secret}) == []


def test_config_objects_and_broker_settings_never_show_a_secret(tmp_path):
    secrets = {name: distinctive_secret(name) for name in ("mqtt password", "command key", "store token")}
    agent_yaml = tmp_path / "agent.yaml"
    agent_yaml.write_text(AGENT_YAML.format(
        url="mqtts://mqtt.hx.example:8883",
        password_file=secret_file(tmp_path, "mqtt.password", secrets["mqtt password"]),
        key_file=secret_file(tmp_path, "command.key", secrets["command key"])), encoding="utf-8")  # fmt: skip
    collector_yaml = tmp_path / "collector.yaml"
    collector_yaml.write_text(COLLECTOR_YAML.format(
        url="mqtts://mqtt.hx.example:8883", store_url="http://127.0.0.1:8428",
        password_file=tmp_path / "mqtt.password",
        token_file=secret_file(tmp_path, "store.token", secrets["store token"])), encoding="utf-8")  # fmt: skip

    agent = agent_config.load_config(agent_yaml)
    collector = collector_config.load_config(collector_yaml)
    read = [read_secret(ref) for ref in (*agent.secret_refs(), *collector.secret_refs())]
    assert sorted(secret.reveal() for secret in read) == sorted(
        [secrets["mqtt password"], secrets["command key"], secrets["mqtt password"], secrets["store token"]])
    settings = broker_settings(agent.broker, read[0].reveal())
    assert settings.password == secrets["mqtt password"]

    shown = [repr(agent), str(agent), repr(collector), repr(agent.broker), repr(collector.store),
             repr(settings), str(settings), *(repr(secret) for secret in read),
             *(f"{secret} {secret!s} {secret!r} {[secret]}" for secret in read),
             repr(BrokerSettings("h", password=secrets["mqtt password"]))]  # fmt: skip
    for text in shown:
        assert leaks(text, secrets) == [], text


# A secret typed into the file where it does not belong: the loader refuses it, and must not
# print it back (the refusal goes to stderr, i.e. journald, under systemd).
@pytest.mark.parametrize("key", ["broker.password", "commands.key"])
def test_a_secret_written_into_the_agent_config_is_refused_without_repeating_it(key, tmp_path):
    secret = distinctive_secret("typed")
    text = AGENT_YAML.format(url="mqtts://mqtt.hx.example:8883", password_file="/etc/schoolnet/mqtt.password",
                             key_file="/etc/schoolnet/command.key")  # fmt: skip
    if key == "broker.password":
        text = text.replace("  username: hx-test-xx\n", f'  username: hx-test-xx\n  password: "{secret}"\n')
    else:
        text = text.replace("{key_file: /etc/schoolnet/command.key}", f'{{key: "{secret}"}}')
    error = _refusal(agent_config.load_config, tmp_path, text)
    assert key in [problem.path for problem in error.problems], str(error)
    assert leaks(str(error), {"typed": secret}) == []


def test_a_token_written_into_the_collector_config_is_refused_without_repeating_it(tmp_path):
    secret = distinctive_secret("token")
    text = f'broker: {{url: "mqtts://h:8883", password: "{secret}"}}\nstore: {{token: "{secret}"}}\n'
    error = _refusal(collector_config.load_config, tmp_path, text)
    assert [problem.path for problem in error.problems] == ["broker.password", "store.token"]
    assert leaks(str(error), {"token": secret}) == []


CREDENTIALS_IN_A_URL = {
    "agent broker, port out of range": ("agent", "mqtts://u:{secret}@mqtt.hx.example:99999"),
    "agent broker, wrong scheme": ("agent", "https://u:{secret}@mqtt.hx.example"),
    "agent broker, no host": ("agent", "mqtts://u:{secret}@:8883"),
    "collector broker, unclosed IPv6 bracket": ("collector", "mqtts://u:{secret}@[::1"),
    "collector store, port out of range": ("store", "http://u:{secret}@127.0.0.1:99999"),
}


@pytest.mark.parametrize("case", sorted(CREDENTIALS_IN_A_URL))
def test_a_url_with_a_password_in_it_is_refused_without_repeating_the_password(case, tmp_path):
    secret = distinctive_secret("inurl", in_url=True)
    which, url = CREDENTIALS_IN_A_URL[case]
    url = url.format(secret=secret)
    if which == "agent":
        load, text = agent_config.load_config, AGENT_YAML.format(url=url, password_file="/e/p", key_file="/e/k")
    else:
        load = collector_config.load_config
        broker_url, store_url = (url, "http://127.0.0.1:8428") if which == "collector" else ("mqtts://h:8883", url)
        text = COLLECTOR_YAML.format(url=broker_url, store_url=store_url, password_file="/e/p", token_file="/e/t")
    error = _refusal(load, tmp_path, text)
    assert leaks(str(error), {"in the url": secret}) == [], str(error)


def test_a_url_with_a_password_in_it_is_refused_and_the_password_not_repeated_when_all_else_is_right(tmp_path):
    """The case the loaders do handle today (kept apart from the xfail above)."""
    secret = distinctive_secret("inurl", in_url=True)
    text = AGENT_YAML.format(url=f"mqtts://u:{secret}@mqtt.hx.example:8883", password_file="/e/p", key_file="/e/k")
    error = _refusal(agent_config.load_config, tmp_path, text)
    assert "do not put user names or passwords in the URL" in str(error)
    assert leaks(str(error), {"in the url": secret}) == []


def _refusal(load, tmp_path, text: str) -> ConfigError:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load(path)
    return refused.value
