"""The optional `commands` section of agent.yaml: the shared key by reference (never the
key itself) and the gap between on-demand tests, with every mistake at its line."""

from __future__ import annotations

import pytest

from agent.cli import main
from agent.config import DEFAULT_COMMAND_GAP_S, Commands, load_config
from schoolnet_core.config import ConfigError, SecretRef

BASE = """\
school: {id: hx-test-xx, name: 测试中学, county: hx, rural: true}
broker: {url: "mqtts://mqtt.hx.example", password_env: SN_TEST_MQTT}
timetable: {lessons: ["08:00-08:45"]}
"""


def write(tmp_path, commands: str):
    path = tmp_path / "agent.yaml"
    path.write_text(BASE + commands, encoding="utf-8")
    return path


def only_problem(path):
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    return problem


def test_without_the_section_commands_have_no_key_and_the_default_gap(tmp_path):
    config = load_config(write(tmp_path, ""))

    assert config.commands == Commands(None, DEFAULT_COMMAND_GAP_S)
    assert DEFAULT_COMMAND_GAP_S == 600
    assert all(not ref.key_path.startswith("commands") for ref in config.secret_refs())


def test_a_key_file_and_gap_are_read_and_the_key_is_among_the_secrets(tmp_path):
    path = write(tmp_path, "commands:\n  key_file: keys/command.key\n  min_gap_s: 900\n")

    config = load_config(path)

    expected = SecretRef("commands.key_file", file=str(tmp_path / "keys" / "command.key"),
                         config_file=str(path), line=5)
    assert config.commands == Commands(expected, 900)
    assert config.secret_refs()[-1] == expected


def test_a_key_env_is_read(tmp_path):
    config = load_config(write(tmp_path, "commands: {key_env: SN_COMMAND_KEY}\n"))

    assert config.commands.key.env == "SN_COMMAND_KEY"
    assert config.commands.key.key_path == "commands.key_env"


@pytest.mark.parametrize(("section", "line", "path", "message"), [
    ("commands: {key: abcdefabcdefabcdef}\n", 4, "commands.key",
     "do not put the key in the config; use key_file or key_env"),
    ("commands:\n  key_file: a.key\n  key_env: SN_KEY\n", 6, "commands.key_env",
     "give only one of key_file or key_env, not both"),
    ("commands: {min_gap_s: 5}\n", 4, "commands.min_gap_s", "must be between 60 and 86400, got 5"),
    ("commands: {min_gap_s: ten}\n", 4, "commands.min_gap_s", "must be a whole number, got 'ten'"),
    ("commands: {key_env: 1BAD}\n", 4, "commands.key_env", "'1BAD' is not an environment variable name"),
    ("commands: {min_gap: 600}\n", 4, "commands.min_gap", "did you mean 'min_gap_s'?"),
    ("commands: [key_file]\n", 4, "commands", "must be a mapping"),
])  # fmt: skip
def test_mistakes_are_reported_at_their_line_and_key(tmp_path, section, line, path, message):
    problem = only_problem(write(tmp_path, section))

    assert (problem.line, problem.path) == (line, path)
    assert message in problem.message


def test_validate_with_secrets_reads_the_command_key_and_names_it_when_missing(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "commands: {key_env: SN_TEST_COMMAND_KEY}\n")
    monkeypatch.setenv("SN_TEST_MQTT", "mqtt-password")
    monkeypatch.delenv("SN_TEST_COMMAND_KEY", raising=False)

    assert main(["validate", "-c", str(path), "--secrets"]) == 2
    assert f"{path}:4: commands.key_env: environment variable SN_TEST_COMMAND_KEY is not set" in capsys.readouterr().err

    monkeypatch.setenv("SN_TEST_COMMAND_KEY", "k" * 32)
    assert main(["validate", "-c", str(path), "--secrets"]) == 0
