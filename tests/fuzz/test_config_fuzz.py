"""Fuzzing the config loaders (agent.config and collector.config): whatever file a school's
IT teacher saves, load_config returns a config or raises ConfigError whose every problem
names the file, a line (0: the file as a whole) and a key path, with a message; never any
other exception, and never a hang or a blow-up in memory.

Found by it and fixed, each kept as a regression test below: values PyYAML resolves or is
told to take as numbers or booleans but cannot convert (0b_, 0x_, !!int x, !!float x,
!!bool maybe), integers too long for Python's int(), nesting deeper than Python's recursion
limit, and YAML aliases (now refused: they made the loader's work quadratic in file size).
The generators draw the first two too (config_files.KNOWN_CRASHERS, TOO_LONG_INTEGERS).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import event, given, settings

from agent import config as agent_config
from collector import config as collector_config
from schoolnet_core.config import ConfigError, ConfigProblem
from tests.fuzz.config_files import (
    AGENT_EXAMPLE,
    AGENT_EXTRA_KEYS,
    COLLECTOR_EXAMPLE,
    COLLECTOR_EXTRA_KEYS,
    KNOWN_CRASHERS,
    TOO_LONG_INTEGERS,
    config_texts,
    load_example,
    yamlish_files,
)
from tests.fuzz.reproducible import FUZZ

AGENT_SHAPE = load_example(AGENT_EXAMPLE)
COLLECTOR_SHAPE = load_example(COLLECTOR_EXAMPLE)
LOADERS = {"agent": agent_config.load_config, "collector": collector_config.load_config}


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    """One file, rewritten for each example (hypothesis cannot use per-test tmp_path)."""
    return tmp_path_factory.mktemp("fuzz-config") / "config.yaml"


def check_load(load, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        config = load(path)
    except ConfigError as error:
        event("ConfigError, 1 problem" if len(error.problems) == 1 else "ConfigError, 2+ problems")
        check_problems(error, path, data)
        return
    event("loaded")
    assert config.source == str(path)


def check_problems(error: ConfigError, path: Path, data: bytes) -> None:
    assert error.problems, "a ConfigError without problems"
    # YAML also breaks lines at \r, U+0085, U+2028 and U+2029; splitlines() knows them all
    last_line = len(data.decode("utf-8-sig", "replace").splitlines()) + 1
    for problem in error.problems:
        assert problem.file == str(path), problem
        assert isinstance(problem.line, int) and 0 <= problem.line <= last_line, problem
        assert isinstance(problem.path, str) and problem.path.strip(), problem
        assert isinstance(problem.message, str) and problem.message.strip(), problem
    assert str(error)  # printable as the CLI prints it


@settings(FUZZ, max_examples=400)
@given(data=config_texts(AGENT_SHAPE, AGENT_EXTRA_KEYS))
def test_agent_config_shaped_like_the_example(config_path, data):
    check_load(agent_config.load_config, config_path, data)


@settings(FUZZ, max_examples=300)
@given(data=yamlish_files())
def test_agent_config_of_yamlish_bytes(config_path, data):
    check_load(agent_config.load_config, config_path, data)


@settings(FUZZ, max_examples=250)
@given(data=config_texts(COLLECTOR_SHAPE, COLLECTOR_EXTRA_KEYS))
def test_collector_config_shaped_like_the_example(config_path, data):
    check_load(collector_config.load_config, config_path, data)


@settings(FUZZ, max_examples=200)
@given(data=yamlish_files())
def test_collector_config_of_yamlish_bytes(config_path, data):
    check_load(collector_config.load_config, config_path, data)


def test_the_examples_themselves_load():
    """The generators start from the examples: if these did not load, the fuzz tests would
    explore nothing but errors."""
    assert agent_config.load_config(AGENT_EXAMPLE).school.id == "hx-dazhuang-zx"
    assert collector_config.load_config(COLLECTOR_EXAMPLE).broker.client_id == "schoolnet-collector-1"


# --- crashes found, written out --------------------------------------------------------------

AGENT_BASE = """\
school: {id: hx-test-xx, name: 测试中学, county: hx, rural: true}
broker:
  url: mqtts://mqtt.hx.example:8883
  password_file: /etc/schoolnet/mqtt.password
  keepalive_s: 60
  allow_plaintext: false
timetable:
  lessons: ["08:00-08:45"]
sweep:
  timeout_s: 2
"""
COLLECTOR_BASE = """\
broker:
  url: mqtts://mqtt.hx.example:8883
  keepalive_s: 60
  allow_plaintext: false
store:
  timeout_s: 2
"""
BASES = {"agent": AGENT_BASE, "collector": COLLECTOR_BASE}
KEYS = {"int": "keepalive_s", "bool": "allow_plaintext", "float": "timeout_s"}


def load_with(loader: str, key: str, value: str, tmp_path: Path) -> ConfigProblem:
    """The first problem of the base config with `key`'s value replaced by `value`."""
    lines = BASES[loader].splitlines()
    [line] = [n for n, text in enumerate(lines) if text.startswith(f"  {key}:")]
    lines[line] = f"  {key}: {value}"
    path = tmp_path / f"{loader}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        LOADERS[loader](path)
    assert refused.value.problems[0].line == line + 1
    return refused.value.problems[0]


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("value", KNOWN_CRASHERS)
def test_values_pyyaml_cannot_convert_are_a_problem_of_their_key(loader, value, tmp_path):
    key = KEYS[value.split()[0][2:]] if value.startswith("!!") else KEYS["int"]
    problem = load_with(loader, key, value, tmp_path)
    assert problem.path.endswith(f".{key}") and "must be" in problem.message, problem


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("value", TOO_LONG_INTEGERS, ids=["5000-digits", "sexagesimal-3000-places"])
def test_integers_too_long_for_python_are_a_problem_of_their_key(loader, value, tmp_path):
    problem = load_with(loader, KEYS["int"], value, tmp_path)
    assert problem.path == "broker.keepalive_s"


DEEP_FILES = {
    "flow-lists": "[" * 5000 + "]" * 5000 + "\n",
    "flow-mappings": "school: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "block-lists": "".join(" " * depth + "-\n" for depth in range(3000)),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("text", DEEP_FILES.values(), ids=DEEP_FILES.keys())
def test_nesting_deeper_than_python_allows_is_one_problem(loader, text, tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        LOADERS[loader](path)
    assert len(refused.value.problems) == 1


# --- anchors and aliases -------------------------------------------------------------------

BILLION_LAUGHS = "".join(
    [f'l0: &l0 ["{"lol" * 3}"]\n']
    + [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 10)]
)
"""9 levels of 9 aliases: 9**9 (387 million) leaves if expanded, 1 KB of text."""


def count_nodes(node: yaml.Node, seen: set[int]) -> int:
    """Distinct node objects under `node` (an alias is the same object again)."""
    if id(node) in seen:
        return 0
    seen.add(id(node))
    children = node.value if isinstance(node, yaml.SequenceNode) else []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    return 1 + sum(count_nodes(child, seen) for child in children)


def test_pyyaml_compose_keeps_one_node_per_anchor():
    """Why the loaders (which compose, never construct) are not exposed to the classic
    bomb: PyYAML hands back the anchored node itself for every alias, so the tree stays
    the size of the text, 9 levels x 9 aliases included."""
    root = yaml.compose(BILLION_LAUGHS, Loader=yaml.SafeLoader)
    assert count_nodes(root, set()) < 100


@pytest.mark.timeout(60)  # a hang guard: the loaders take milliseconds here
@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("where", ["top", "lessons", "classrooms", "broker"])
def test_a_billion_laughs_file_is_refused_with_few_problems(loader, where, tmp_path):
    """The classic bomb under known keys: the loaders read each alias once, as one value of
    the wrong shape, and never expand it."""
    text = BILLION_LAUGHS + {
        "top": "",
        "lessons": "timetable:\n  lessons: *l9\n",
        "classrooms": "classrooms: *l9\n",
        "broker": "broker: *l9\n",
    }[where]
    path = tmp_path / "laughs.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        LOADERS[loader](path)
    assert len(refused.value.problems) <= 30, len(refused.value.problems)
    check_problems(refused.value, path, text.encode())


def alias_multiplied_config(aliases: int) -> str:
    """One device and one classroom, each written once and aliased: a classroom list of
    `aliases` rooms, each holding the same device list of `aliases` devices."""
    devices = ", ".join(["&device {id: p, kind: projector, check: icmp, host: 192.0.2.1}"] + ["*device"] * (aliases - 1))
    rooms = ", ".join([f"&room {{id: c1, name: 教室, devices: [{devices}]}}"] + ["*room"] * (aliases - 1))
    return textwrap.dedent("""\
        school: {id: hx-test-xx, name: 测试中学, county: hx, rural: true}
        broker: {url: "mqtts://mqtt.hx.example:8883", password_file: /etc/schoolnet/mqtt.password}
        timetable: {lessons: ["08:00-08:45"]}
        """) + f"classrooms: [{rooms}]\n"  # fmt: skip


def test_aliases_do_not_multiply_the_agent_loaders_work(tmp_path):
    text = alias_multiplied_config(200)
    path = tmp_path / "aliases.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        agent_config.load_config(path)
    # linear in the file's size: at most one problem per 10 bytes (3.5 KB here)
    assert len(refused.value.problems) <= len(text) // 10, f"{len(refused.value.problems)} problems from {len(text)} bytes"
