"""The YAML walker both config loaders share (the agent's, the collector's, the fleet's).

People edit these files by hand, often with nobody to ask, so a load reports every mistake
at once, each as ``FILE:LINE: KEY.PATH: what is wrong; how to fix it``. To keep those line
numbers it walks PyYAML's node tree itself instead of loading plain dicts. Text values are
taken as written, so ``12:10`` is a time and ``no`` is a word (YAML 1.1 would read a base-60
number and ``False``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from schoolnet_core.config import fullwidth, yaml_hints
from schoolnet_core.config.problems import ConfigError, ConfigProblem, file_error


def load_yaml(path: str | os.PathLike, read: Callable[[Walk, yaml.Node], Any], *,
              example: Path) -> Any:
    """Walk a YAML file with `read`, the one entry point for the agent's and the collector's
    loaders: every problem is collected, then raised together in file order."""
    file = os.fspath(path)
    walk = Walk(file, os.path.dirname(os.path.abspath(file)))
    config = read(walk, compose(file, example))
    if walk.problems:
        raise ConfigError(sorted(walk.problems, key=lambda problem: problem.line))
    return config


def compose(file: str, example: Path) -> yaml.Node:
    """The file's YAML node tree; a file that cannot be read or parsed is one problem."""
    try:
        data = Path(file).read_bytes()
    except FileNotFoundError:
        raise file_error(file, 0, f"file not found; start from {example}") from None
    except OSError as error:
        raise file_error(file, 0, f"cannot read the file: {error.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise file_error(file, line, "not UTF-8 text (saved as GBK/ANSI?); "
                                      "save the file as UTF-8") from None
    try:
        root = _parse(file, text)
    except yaml.YAMLError as error:
        raise _yaml_error(file, text, error) from None
    except RecursionError:
        raise file_error(file, 1, "nested too deeply to be a schoolnet config") from None
    if root is None:
        raise file_error(file, 1, f"the file is empty; start from {example}")
    return root


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _parse(file: str, text: str) -> yaml.Node | None:
    """libyaml when PyYAML has it (15x faster: a county's fleet checks thousands of
    configs); a file it cannot parse is parsed again in pure Python, so every message is
    the pure parser's, and the pure reader's character check always runs first."""
    yaml.reader.Reader(text)  # raises ReaderError on a character YAML does not allow
    if _FAST_LOADER is not None:
        try:
            _refuse_aliases(file, text, _FAST_LOADER)
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    _refuse_aliases(file, text, yaml.SafeLoader)
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _refuse_aliases(file: str, text: str, loader: type) -> None:
    """YAML aliases (*name) would let a small file expand into a huge walk; no schoolnet
    config needs them, so the first one is a problem at its line."""
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            raise file_error(file, event.start_mark.line + 1,
                              f"YAML aliases (*{event.anchor}) are not supported; write the value out")


def _yaml_error(file: str, text: str, error: yaml.YAMLError) -> ConfigError:
    if isinstance(error, yaml.reader.ReaderError):  # knows its offset, not its line
        line = text[:error.position].count("\n") + 1
        return file_error(file, line, f"character U+{error.character:04X} is not allowed "
                                       "in YAML; remove it")
    hint = yaml_hints.explain(text, error)
    if hint is not None:
        return ConfigError([ConfigProblem(file, hint.line, hint.path, hint.message)])
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = mark.line + 1 if mark else 1
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    if "\\t" in message:
        message += "; indent with spaces, not tabs"
    return file_error(file, line, message)


_RESOLVER = yaml.resolver.Resolver()
"""The plain-scalar tags of the SafeLoader: '30' typed half-width is an int."""


def _full_width_message(node: yaml.ScalarNode, parse: Parse, message: str) -> str:
    """A value refused because a Chinese keyboard typed full-width characters into it
    (08：00, ３０): name the character and, when the half-width value is valid, what it
    would be read as; otherwise the parser's own message follows the hint."""
    line = node.start_mark.line + 1
    if fullwidth.first_full_width(node.value) is None:
        return message
    typed = fullwidth.half_width(node.value)
    tag = node.tag if node.style else _RESOLVER.resolve(yaml.ScalarNode, typed, (True, False))
    try:
        parse(yaml.ScalarNode(tag, typed, node.start_mark, node.end_mark, node.style))
    except Invalid:
        return f"{fullwidth.explain(node.value, line)}; {message}"
    return fullwidth.explain(node.value, line, typed) or message


REQUIRED: Any = object()  # default= marker: the key must be given
_NULL_TAG = "tag:yaml.org,2002:null"
SECRET_KEYS = {"password": "do not put secrets in the config; use password_file or password_env"}
KEY_KEYS = {"key": "do not put the key in the config; use key_file or key_env"}

Parse = Callable[[yaml.ScalarNode], Any]
Read = Callable[["Walk", Optional[yaml.Node], str], Any]


class Invalid(ValueError):
    """A value is wrong; the message says what is allowed."""


class Walk:
    """One load in progress: the problems found so far and the line each node belongs to."""

    def __init__(self, file: str, base_dir: str):
        self.file, self.base_dir = file, base_dir
        self.problems: list[ConfigProblem] = []
        self.key_lines: dict[int, int] = {}

    def problem(self, line: int, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, line, path or "(top level)", message))

    def line(self, node: yaml.Node) -> int:
        """The line of the key that owns `node`, where a reader looks; else the node's own."""
        return self.key_lines.get(id(node), node.start_mark.line + 1)

    def mapping(self, node: yaml.Node | None, path: str, allowed: Sequence[str],
                refused: dict[str, str] | None = None) -> Section:
        return Section(self, node, path, allowed, refused or {})

    def scalar(self, node: yaml.Node, path: str, parse: Parse) -> Any:
        if is_null(node):
            self.problem(self.line(node), path, "needs a value")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.problem(self.line(node), path, f"must be a single value, found {kind_of(node)}")
            return None
        try:
            return parse(node)
        except Invalid as error:
            self.problem(self.line(node), path, _full_width_message(node, parse, str(error)))
            return None


class Section:
    """One YAML mapping being read. Unknown, refused and repeated keys are reported up
    front; then readers ask for keys by name, type and default. A mapping that is absent
    (node None) reads as empty, so every key takes its default."""

    def __init__(self, walk: Walk, node: yaml.Node | None, path: str,
                 allowed: Sequence[str], refused: dict[str, str]):
        self.walk, self.path = walk, path
        self.line = walk.line(node) if node is not None else 1
        self.broken = node is not None and not isinstance(node, yaml.MappingNode)
        self._pairs: dict[str, tuple[int, yaml.Node]] = {}
        if self.broken:
            walk.problem(self.line, path, f"must be a mapping (key: value lines), found "
                                          f"{kind_of(node)}; allowed keys: {', '.join(allowed)}")
        elif node is not None:
            for key_node, value_node in node.value:
                self._index(key_node, value_node, allowed, refused)

    def _index(self, key_node: yaml.Node, value_node: yaml.Node, allowed: Sequence[str],
               refused: dict[str, str]) -> None:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "(complex key)"
        line, path = key_node.start_mark.line + 1, self.child(key)
        if key in refused:
            self.walk.problem(line, path, refused[key])
        elif key not in allowed:
            typed = fullwidth.half_width(key).strip()
            hint = fullwidth.explain(key, line, repr(typed) if typed in allowed else None)
            self.walk.problem(line, path, hint or not_allowed(f"unknown key {key!r}", key, allowed))
        elif key in self._pairs:
            first = self._pairs[key][0]
            self.walk.problem(line, path, f"{key!r} is given twice (first on line {first}); "
                                          "keep one")
        else:
            self._pairs[key] = (line, value_node)
            self.walk.key_lines[id(value_node)] = line

    def child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self._pairs and not is_null(self._pairs[key][1])

    def line_of(self, key: str | None) -> int:
        return self._pairs[key][0] if key in self._pairs else self.line

    def problem(self, key: str | None, message: str) -> None:
        """Report a rule that spans keys: at `key` when given, else at the mapping."""
        path = self.child(key) if key in self._pairs else self.path
        self.walk.problem(self.line_of(key), path, message)

    def _node(self, key: str, required: bool) -> yaml.Node | None:
        if self.has(key):
            return self._pairs[key][1]
        if required and not self.broken:
            given = key in self._pairs
            self.problem(key, "needs a value" if given else f"missing required key {key!r}")
        return None

    def value(self, key: str, parse: Parse, default: Any = REQUIRED) -> Any:
        node = self._node(key, required=default is REQUIRED)
        if node is None:
            return None if default is REQUIRED else default
        return self.walk.scalar(node, self.child(key), parse)

    def section(self, key: str, read: Read, required: bool = False) -> Any:
        node = self._node(key, required)
        if node is None and required:
            return None
        return read(self.walk, node, self.child(key))

    def items(self, key: str, required: bool = False, min_items: int = 0,
              unique: str | None = None) -> list[tuple[yaml.Node, str]]:
        """The entries of a list as (node, path) pairs, with duplicates of `unique` reported."""
        node, path = self._node(key, required), self.child(key)
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.walk.problem(self.walk.line(node), path,
                              f"must be a list (one '- ' line per entry), found {kind_of(node)}")
            return []
        if len(node.value) < min_items:
            self.walk.problem(self.walk.line(node), path, "must not be empty; add an entry")
        pairs = [(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
        if unique:
            self._check_unique(pairs, unique)
        return pairs

    def _check_unique(self, pairs: list[tuple[yaml.Node, str]], field: str) -> None:
        seen: dict[str, int] = {}
        for node, path in pairs:
            value = _field_node(node, field)
            if value is None:
                continue
            line = value.start_mark.line + 1
            if value.value in seen:
                self.walk.problem(line, f"{path}.{field}",
                                  f"duplicate {field} {value.value!r} (already used on line "
                                  f"{seen[value.value]}); give each entry its own {field}")
            seen.setdefault(value.value, line)

    def entries(self, key: str, read: Read, default: Any = (), min_items: int = 0,
                unique: str | None = None) -> Any:
        if not self.has(key) and default is not REQUIRED:
            return default
        pairs = self.items(key, default is REQUIRED, min_items, unique)
        return tuple(read(self.walk, node, path) for node, path in pairs)

    def values(self, key: str, parse: Parse, default: Any = (), min_items: int = 0) -> Any:
        if not self.has(key) and default is not REQUIRED:
            return default
        pairs = self.items(key, default is REQUIRED, min_items)
        return tuple(self.walk.scalar(node, path, parse) for node, path in pairs)

    def only_with(self, key: str, allowed: bool, reason: str) -> None:
        if self.has(key) and not allowed:
            self.problem(key, f"{key!r} is only used {reason}; remove it")

    def require_with(self, key: str, needed: bool, reason: str) -> None:
        if needed and not self.has(key) and not self.broken:
            self.problem(None, f"missing required key {key!r}: {reason}")

    def one_of(self, keys: Sequence[str], required: bool, reason: str) -> None:
        given = [key for key in keys if self.has(key)]
        if len(given) > 1:
            self.problem(given[-1], f"give only one of {' or '.join(keys)}, not both")
        elif required and not given and not self.broken:
            self.problem(None, f"missing {' or '.join(keys)}: {reason}")

    def together(self, keys: Sequence[str], reason: str) -> None:
        given = [key for key in keys if self.has(key)]
        missing = [key for key in keys if key not in given]
        if given and missing:
            self.problem(given[0], f"{given[0]!r} also needs {missing[0]!r} ({reason})")


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def kind_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "an empty value" if is_null(node) else repr(node.value)


def _field_node(node: yaml.Node, field: str) -> yaml.ScalarNode | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == field and isinstance(value, yaml.ScalarNode):
                return value
    return None


def not_allowed(what: str, word: str, options: Sequence[str], label: str = "allowed") -> str:
    close = difflib.get_close_matches(word, options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return f"{what}{hint} {label}: {', '.join(options)}"
