"""PyYAML's syntax errors retold in the school IT teacher's terms (zh-CN first, English beside).

PyYAML says ``expected <block end>, but found '<block mapping start>'``: right line, but
nothing a part-time IT teacher can act on. The mistakes behind it are few (a line indented
differently from its siblings, a quote never closed, a colon without the space after it or
missing altogether, a full-width character from a Chinese keyboard), and each can be
recognised from the text around the line PyYAML points at. `explain` returns the line, the
key and the message with the fix, or None to keep PyYAML's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from schoolnet_core.config import fullwidth

_KEY = re.compile(r"^(\s*)(-\s+)?([^\s:#'\"-][^:#]*?)\s*:(\s|$)")
_NO_SPACE = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w.-]*):(\S.*)$")
_NO_COLON = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w-]*)\s+(\S.*)$")


@dataclass(frozen=True)
class Hint:
    line: int
    path: str
    message: str


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    key_column: int
    key: str | None


def explain(text: str, error: yaml.YAMLError) -> Hint | None:
    """What the syntax error means and how to fix it, or None when not recognised (then
    PyYAML's own words are better than a wrong guess)."""
    try:
        return _explain(text, error)
    except (IndexError, ValueError):
        return None


def _explain(text: str, error: yaml.YAMLError) -> Hint | None:
    problem = getattr(error, "problem", None) or ""
    context = getattr(error, "context", None) or ""
    mark = getattr(error, "problem_mark", None)
    start = getattr(error, "context_mark", None) or mark
    if mark is None or start is None:
        return None
    lines = re.split("\r\n|[\r\n\x85\u2028\u2029]", text)  # PyYAML's line breaks
    first, last = start.line + 1, mark.line + 1
    for number in range(first, min(last, len(lines)) + 1):
        message = fullwidth.explain(lines[number - 1], number)
        if message:
            return Hint(number, _path(lines, number), message)
    if "quoted scalar" in context:
        return _unclosed_quote(lines, start.line + 1, start.column)
    opened = _first_unclosed_quote(lines, last)
    if opened is not None:
        return _unclosed_quote(lines, *opened)
    if problem == "mapping values are not allowed here":
        return _colon_or_deeper(lines, last)
    if "could not find expected ':'" in problem:
        return _missing_colon(lines, first)
    if problem.startswith("expected <block end>"):
        return _not_aligned(lines, last)
    return None


_QUOTED_VALUE = re.compile(r"""^\s*(?:-\s+)?(?:[^\s:#'"][^:#]*:\s+)?(["'])""")


def _first_unclosed_quote(lines: list[str], last: int) -> tuple[int, int] | None:
    """(line, column) of the first value up to line `last` that opens a quote and does not
    close it on its line: PyYAML then reads on into the next lines and fails further down."""
    for number, text in enumerate(lines[:last], 1):
        match = _QUOTED_VALUE.match(text)
        if match:
            quote, rest = match[1], text[match.end():].replace("\\\\", "").replace("\\" + match[1], "")
            if quote not in rest:
                return number, match.start(1)
    return None


def _unclosed_quote(lines: list[str], line: int, column: int) -> Hint:
    quote = lines[line - 1][column] if column < len(lines[line - 1]) else '"'
    return Hint(line, _path(lines, line),
                f"第 {line} 行的引号 {quote} 没有配对的结束引号；请在值的末尾补上 {quote}（或去掉开头的 {quote}）"
                f" / the quote {quote} opened on line {line} is never closed: add a closing {quote} at "
                f"the end of the value (or remove the opening one)")


def _colon_or_deeper(lines: list[str], line: int) -> Hint | None:
    """`line` holds a colon PyYAML did not expect: the line above lacks the space after
    its colon or the colon itself, or this line is indented deeper than its sibling."""
    above = _previous(lines, line)
    if above is None:
        return None
    hint = _missing_colon(lines, above)
    if hint is not None:
        return hint
    this, sibling = _parse(lines, line), _parse(lines, above)
    if this.indent > sibling.key_column:
        return Hint(line, _path(lines, line, indent=sibling.key_column), _deeper(this, sibling))
    return None


def _missing_colon(lines: list[str], line: int) -> Hint | None:
    """`line` is a key without the space after its colon, or without the colon."""
    text = lines[line - 1]
    if (match := _NO_SPACE.match(text)) and ": " not in text:
        return Hint(line, _path(lines, line, match[1]),
                    f"第 {line} 行 '{text.strip()}' 的冒号后缺少空格；请写成 '{match[1]}: {match[2]}'"
                    f" / line {line}: a space must follow the colon: write '{match[1]}: {match[2]}'")
    if (match := _NO_COLON.match(text)) and ":" not in text:
        return Hint(line, _path(lines, line, match[1]),
                    f"第 {line} 行 '{text.strip()}' 缺少冒号；请写成 '{match[1]}: {match[2]}'"
                    f" / line {line} has no colon after its key: write '{match[1]}: {match[2]}'")
    return None


def _spaces(count: int) -> str:
    return "1 space" if count == 1 else f"{count} spaces"


def _deeper(this: _Line, sibling: _Line) -> str:
    return (f"第 {this.number} 行缩进了 {this.indent} 个空格，比上一行（第 {sibling.number} 行，"
            f"{sibling.key_column} 个空格）多；同一层的键要对齐，请改为 {sibling.key_column} 个空格"
            f" / line {this.number} is indented {_spaces(this.indent)}, more than line {sibling.number} "
            f"above it ({sibling.key_column}); keys of one level line up: indent it {_spaces(sibling.key_column)}")


def _not_aligned(lines: list[str], line: int) -> Hint:
    """`line` is indented to no level open above it: name the levels it could mean."""
    this = _parse(lines, line)
    levels = _levels(lines, line)
    options_zh = "，".join(f"与第 {lv.number} 行对齐请改为 {col} 个空格" for lv, col in levels)
    options_en = ", or ".join(f"{_spaces(col)} to line up with line {lv.number}" for lv, col in levels)
    return Hint(line, _path(lines, line),
                f"第 {line} 行缩进了 {this.indent} 个空格，与上面任何一层都不对齐：{options_zh}"
                f" / line {line} is indented {_spaces(this.indent)}, which lines up with no level "
                f"above it: indent it {options_en}")


def _levels(lines: list[str], line: int) -> list[tuple[_Line, int]]:
    """(line, column) of the levels open above `line`, innermost first, at most two."""
    found: list[tuple[_Line, int]] = []
    limit = 10**6
    number = _previous(lines, line)
    while number is not None and len(found) < 2:
        parsed = _parse(lines, number)
        for column in sorted({parsed.key_column, parsed.indent}, reverse=True):
            if column < limit:
                found.append((parsed, column))
                limit = column
        number = _previous(lines, number)
    return found[:2]


def _previous(lines: list[str], line: int) -> int | None:
    """The nearest line above `line` holding something other than a comment."""
    for number in range(line - 1, 0, -1):
        stripped = lines[number - 1].strip()
        if stripped and not stripped.startswith("#"):
            return number
    return None


def _parse(lines: list[str], number: int) -> _Line:
    text = fullwidth.half_width(lines[number - 1])
    indent = len(text) - len(text.lstrip(" "))
    match = _KEY.match(text)
    dash = re.match(r"^\s*-\s+", text)
    key_column = dash.end() if dash else indent
    loose = None if match else _NO_SPACE.match(text)
    return _Line(number, indent, key_column, match[3] if match else (loose[1] if loose else None))


def _path(lines: list[str], line: int, own: str | None = None, indent: int | None = None) -> str:
    """The dotted key path of `line`, from the keys of the lines less indented above it
    (than `indent`, where the line belongs, when that is not where it stands)."""
    this = _parse(lines, line)
    keys = [own or this.key or "(file)"]
    limit = this.indent if indent is None else indent
    number = _previous(lines, line)
    while number is not None and limit > 0:
        parsed = _parse(lines, number)
        if parsed.indent < limit:
            if parsed.key and parsed.key_column < limit:
                keys.append(parsed.key)
            limit = parsed.indent
        number = _previous(lines, number)
    if keys[0] == "(file)":
        return "(file)"
    return ".".join(reversed(keys))
