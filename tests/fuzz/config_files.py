"""Hypothesis strategies for config files a school's IT teacher (or a bad editor) might save.

    config_texts(example, extra)  YAML in the shape of an example config: its known keys
                           (and `extra` ones) nested as there, kept, dropped, doubled or given
                           the wrong shape, with values from a pool of plausible and hostile
                           tokens
    yamlish_files()        bytes that are only YAML-ish: tokens, anchors and aliases, tabs,
                           BOMs, binary junk, very long lines

Scalars are written as raw YAML source (`Raw`), so a token such as `0o17`, `.nan`, `12:10`
or `"\\ud800"` reaches the loader exactly as typed. Hypothesis draws one seed per file; the
file is made from it with `random` (hypothesis' own draw per key costs ten times more).
"""

from __future__ import annotations

import datetime
import json
import random
from dataclasses import dataclass
from pathlib import Path

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
AGENT_EXAMPLE = ROOT / "agent" / "example-config.yaml"
COLLECTOR_EXAMPLE = ROOT / "collector" / "example-config.yaml"

# Keys the examples leave out (commented out, or optional sections), and keys the loaders
# refuse on purpose (secrets written into the file).
AGENT_EXTRA_KEYS = {
    "broker": {"cert_file": "client.pem", "key_file": "client.key", "password_env": "MQTT_PW",
               "allow_plaintext": False, "password": "hunter2"},
    "commands": {"key_file": "cmd.key", "key_env": "CMD_KEY", "min_gap_s": 600, "key": "k"},
    "classrooms": [{"devices": [{"port": 4352, "password_env": "PJ_PW", "password": "x"}]}],
}  # fmt: skip
COLLECTOR_EXTRA_KEYS = {
    "broker": {"cert_file": "c.pem", "key_file": "c.key", "password_env": "PW", "password": "x"},
    "store": {"token_file": "token", "token_env": "TOKEN", "token": "t"},
}


@dataclass(frozen=True)
class Raw:
    """A scalar as YAML source text."""

    text: str


SCALAR_TOKENS = (
    # numbers as YAML 1.1 reads them, and not quite
    "0", "-1", "1", "30", "65535", "65536", "1e3", "1.0e+400", "-1.0e+400", ".nan", ".inf", "-.inf",
    "0o17", "017", "0x1F", "0b101", "1_000", "12:10", "1:2:3", "190:20:30", "+1", "0.0", "-0.0",
    "3.14", "1.", ".5", "9" * 50, "9" * 4000, "'30'", '"100"',
    # booleans and nulls
    "true", "false", "yes", "no", "on", "Off", "True", "~", "null", "", "''", '""',
    # ids, names, times, dates, zones
    "hx", "hx-dazhuang-zx", "HX", "花溪区大庄中学", "'08:00-08:45'", "08:00-08:45", "23:59-00:00",
    "25:00", "08:00", "2026-02-30", "2026-10-01..2026-10-07", "2026-10-07..2026-10-01", "2026-10-01",
    "Asia/Shanghai", "Mars/Base", "../../../etc/passwd", "UTC", "mon", "Monday",
    # addresses and checks
    "mqtts://mqtt.hx.example:8883", "mqtt://127.0.0.1", "mqtts://u:p@h", "mqtts://h:0",
    "mqtts://h:99999", "mqtts://[::1", "mqtts://h/path", "http://", "https://x.example/",
    "http://127.0.0.1:8428", "ftp://x", "tcp:0", "tcp:65536", "tcp:443", "tcp:", "icmp", "dns",
    "pjlink", "udp_echo", "iperf3", "speedtest", "http", "projector", "other", "eth0",
    "198.51.100.11", "::1", "0.0.0.0:9471", "[::1]:9471", "host name", "a" * 300,
    # file paths
    "/etc/schoolnet/mqtt.password", "relative.password", "/", ".", "/dev/null",
    # text with escapes: control, invisible, lone surrogates, astral
    '"\\ud800"', '"\\udc80x"', '"\\u202e"', '"\\u200b"', '"\\x01"', '"\\t"', '"a\\nb"', '"\\0"',
    '"\\U0001F600"', "'it''s'", '"\\ufeff"',
    # YAML features in a value
    "!!binary aGVsbG8=", "!!python/object:os.system x", "!!str 30", "!!int '30'", "!!float '2.5'",
    "!custom x", "!!set {a, b}", "!!timestamp 2026-10-01", "!!omap [a: 1]", "[1, 2]", "{a: 1}", "[]", "{}",
    "x #comment", "&anchor x",
)  # fmt: skip
BREAKING_TOKENS = ("'unclosed", '"unclosed', "a: b", "- x", "*undefined", "%x", "@x", "`x", "[1, 2", "{a: 1")
"""Values that break the YAML syntax: used rarely, or every file would be a syntax error."""
KNOWN_CRASHERS = ("0b_", "0x_", "-0x_", "+0b__", "!!int x", "!!float x", "!!bool maybe")
TOO_LONG_INTEGERS = ("9" * 5000, "1" + ":0" * 3000)
"""Tokens the loaders once crashed on (each a regression test in test_config_fuzz.py);
the generators draw them too (SCALAR_TOKENS)."""
SCALAR_TOKENS += KNOWN_CRASHERS + TOO_LONG_INTEGERS


def token_of(value: object) -> str:
    """The example's own value as YAML source."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if value is None:
        return "~"
    return json.dumps(str(value), ensure_ascii=False)


def load_example(path: Path) -> dict:
    return yaml.safe_load(path.read_text("utf-8"))


UNKNOWN_KEYS = ("schol", "Broker", "url ", "id\t", "ids", "timezone", "devices", "x-extra", "县")


@dataclass(frozen=True)
class Shaper:
    """Makes documents in the shape of an example, changing each part with probability
    `rate` (0: the example itself; 0.3: hardly a key left as it was) and adding the keys of
    `extra` (same nesting) with that probability too."""

    rnd: random.Random
    rate: float
    extra: dict

    def like(self, example: object, extra: object = None, depth: int = 0) -> object:
        changed = self.rnd.random() < self.rate
        if isinstance(example, dict):
            return self._mapping_like(example, extra or {}, depth) if not changed else self._other(depth)
        if isinstance(example, list):
            if changed:
                return self._other(depth) if self.rnd.randrange(2) else Raw("[]")
            items = example if not self.rate else [self.rnd.choice(example) for _ in range(self.rnd.randrange(4))]
            item_extra = extra[0] if extra else None
            return [self.like(item, item_extra, depth + 1) for item in items]
        return self._other(depth) if changed else Raw(token_of(example))

    def _mapping_like(self, example: dict, extra: dict, depth: int) -> dict:
        document = {key: self.like(value, extra.get(key), depth + 1) for key, value in example.items()
                    if self.rnd.random() >= self.rate / 3}  # fmt: skip
        for key, value in extra.items():
            if key not in example and self.rnd.random() < self.rate:
                document[key] = self.like(value, None, depth + 1)
        if self.rnd.random() < self.rate:
            document[self.rnd.choice(UNKNOWN_KEYS)] = self.scalar()
        return document

    def _other(self, depth: int) -> object:
        """A scalar, or (rarely, not too deep) a mapping or list where something else was."""
        if depth < 3 and self.rnd.randrange(6) == 0:
            return self.rnd.choice([{"a": Raw("1")}, [Raw("1")]])
        return self.scalar()

    def scalar(self) -> Raw:
        if self.rnd.randrange(200) == 0:
            return Raw(self.rnd.choice(BREAKING_TOKENS))
        return Raw(self.rnd.choice(SCALAR_TOKENS))


def emit(node: object, indent: int = 0) -> list[str]:
    """Block-style YAML lines for a tree of dicts, lists and Raw scalars."""
    pad = " " * indent
    if isinstance(node, Raw):
        return [pad + node.text]
    if isinstance(node, dict):
        if not node:
            return [pad + "{}"]
        lines = []
        for key, value in node.items():
            if isinstance(value, Raw):
                lines.append(f"{pad}{key}: {value.text}".rstrip())
            else:
                lines += [f"{pad}{key}:"] + emit(value, indent + 2)
        return lines
    if not node:
        return [pad + "[]"]
    lines = []
    for item in node:
        inner = emit(item, indent + 2)
        lines.append(f"{pad}- {inner[0].lstrip()}")
        lines += inner[1:]
    return lines


@st.composite
def config_texts(draw, example: dict, extra: dict) -> bytes:
    """One seed drawn, the document made from it with plain `random`: hypothesis' own
    draws for every key cost ten times more, and a seed replays as well."""
    rnd = random.Random(draw(st.integers(0, 2**32)))
    shaper = Shaper(rnd, rnd.choice([0.0, 0.01, 0.03, 0.1, 0.3]), extra)
    text = "\n".join(emit(shaper.like(example, extra))) + "\n"
    if rnd.randrange(10) == 0:  # a second copy of one section: a repeated key
        text += "\n".join(emit({rnd.choice(sorted(example)): shaper.scalar()})) + "\n"
    return text.encode("utf-8")


YAMLISH_TOKENS = (
    "school:", "broker:", "classrooms:", "timetable:", "lessons:", "devices:", "id:", "url:", " ", "  ",
    "\n", "\n  ", "\n    ", "\t", "- ", "-", ":", "? ", "[", "]", "{", "}", ",", "&a ", "*a", "&b ", "*b",
    "!!str ", "!!binary ", "!tag ", "|", ">-", "#", "'", '"', "\\", "---\n", "...\n", "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n", "<<: ", "\ufeff", "\u2028", "\x85", "\x00", "\x1b", "\ud7ff", "\ue000", "县",
    "08:00-08:45", "0o17", "1e400", ".nan", "~", "true",
)  # fmt: skip


@st.composite
def yamlish_files(draw) -> bytes:
    """Bytes that are YAML-ish at best."""
    rnd = random.Random(draw(st.integers(0, 2**32)))
    kind = rnd.choice(["tokens", "tokens", "tokens", "binary", "bom", "utf16", "long_line", "tabs"])
    if kind == "binary":
        return rnd.randbytes(rnd.randrange(300))
    tokens = "".join(rnd.choice(YAMLISH_TOKENS) for _ in range(rnd.randrange(40)))
    if kind == "bom":
        return b"\xef\xbb\xbf" + tokens.encode("utf-8", "surrogatepass")
    if kind == "utf16":
        return ("\ufeff" + tokens).encode("utf-16-le", "surrogatepass")
    if kind == "long_line":
        return ("school:\n  name: " + "名" * rnd.randrange(10_000, 100_000) + "\n" + tokens).encode()
    if kind == "tabs":
        return tokens.replace(" ", "\t").encode("utf-8", "surrogatepass")
    return tokens.encode("utf-8", "surrogatepass")
