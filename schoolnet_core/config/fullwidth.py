"""Full-width characters a Chinese keyboard types where YAML wants half-width ones.

With a Chinese input method on, ``08:00`` easily becomes ``08：00``, ``30`` becomes ``３０``
and an indentation gets a full-width space (U+3000). They look alike on screen, so an
error that only says "not a time of day" leaves the school's IT teacher staring at a value
that looks right. These helpers name the character, say what to type instead and, where
the corrected value is unambiguous, what it would then be read as.
"""

from __future__ import annotations

_DIGITS = {chr(0xFF10 + n): (str(n), "全角数字", "full-width digit") for n in range(10)}
FULL_WIDTH: dict[str, tuple[str, str, str]] = {
    "：": (":", "中文全角冒号", "full-width colon"),
    "，": (",", "中文全角逗号", "full-width comma"),
    "．": (".", "全角句点", "full-width full stop"),
    "。": (".", "中文句号", "Chinese full stop"),
    "－": ("-", "全角减号", "full-width hyphen"),
    "\u3000": (" ", "全角空格", "full-width space"),
    "“": ('"', "中文引号", "Chinese quotation mark"),
    "”": ('"', "中文引号", "Chinese quotation mark"),
    "‘": ("'", "中文引号", "Chinese quotation mark"),
    "’": ("'", "中文引号", "Chinese quotation mark"),
    **_DIGITS,
}
"""character -> (what to type instead, its name in zh-CN, in English)."""


def first_full_width(text: str) -> str | None:
    """The first character of `text` a Chinese keyboard typed in place of ASCII, or None."""
    return next((char for char in text if char in FULL_WIDTH), None)


def half_width(text: str) -> str:
    """`text` with every full-width character replaced by what was meant."""
    return "".join(FULL_WIDTH[char][0] if char in FULL_WIDTH else char for char in text)


def describe(char: str, line: int) -> str:
    """'第 22 行的 '：' 是中文全角冒号，请改为半角 ':'', with the English beside it."""
    meant, zh_name, en_name = FULL_WIDTH[char]
    shown = "U+3000" if char == "\u3000" else char
    meant_shown = "' '（空格 space）" if meant == " " else f"'{meant}'"
    return (f"第 {line} 行的 '{shown}' 是{zh_name}，请改为半角 {meant_shown}"
            f" / the '{shown}' on line {line} is a {en_name}: type a half-width {meant_shown}")


def explain(text: str, line: int, reads_as: str | None = None) -> str | None:
    """The problem with full-width characters in `text` on `line`, or None when it has
    none. `reads_as`: what the corrected value means, when that is unambiguous."""
    char = first_full_width(text)
    if char is None:
        return None
    message = describe(char, line)
    if reads_as is not None:
        message += f"；改正后读作 {reads_as} / corrected, it reads {reads_as}"
    return message
