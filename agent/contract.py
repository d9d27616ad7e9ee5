"""The wire contract between agent and collector (work in progress; ids first)."""

import re

ID_MAX_LEN = 64
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ID_RULE = "1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"


def id_problem(value):
    """Why `value` is not a valid county/school/classroom/device id, or None when it is."""
    if not isinstance(value, str):
        return f"must be a string ({ID_RULE})"
    if not _ID_RE.fullmatch(value):
        return f"{value!r} is not a valid id: {ID_RULE}"
    return None
