"""Looking for a secret in text the way an attacker reading our logs would: as written,
and in the encodings a library might put it in on the way (base64 as in HTTP Basic auth,
hex as in a packet dump, URL-encoded as in a query string).

Base64 of a secret inside a longer value (base64 of "user:password") shares no fixed
substring with base64 of the secret alone, so we look for the part of each of the three
alignments that depends on the secret's bytes only.
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import quote, quote_plus


def distinctive_secret(label: str, in_url: bool = False) -> str:
    """A random secret no log line could contain by chance, with characters a URL, a shell
    or a config file would have to escape (unless it is to be written into a URL)."""
    return f"{label}-{secrets.token_urlsafe(18)}" + ("" if in_url else "#%:@")


def encodings(secret: str) -> dict[str, str]:
    """Name -> a string whose presence in a text means the secret leaked."""
    raw = secret.encode("utf-8")
    found = {
        "as written": secret,
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "url-encoded": quote(secret, safe=""),
        "url-encoded (+)": quote_plus(secret),
    }
    for shift in range(3):
        found[f"base64 (+{shift})"] = _base64_core(raw, shift, base64.b64encode)
        found[f"urlsafe base64 (+{shift})"] = _base64_core(raw, shift, base64.urlsafe_b64encode)
    return found


def _base64_core(raw: bytes, shift: int, encode) -> str:
    """The base64 characters of `raw` preceded by `shift` other bytes that depend on
    `raw` alone: character i covers bits 6i..6i+5 of the stream."""
    encoded = encode(b"\0" * shift + raw).decode("ascii")
    first = -(-8 * shift // 6)  # ceil: the first character wholly inside the secret
    last = (8 * (shift + len(raw)) - 6) // 6
    return encoded[first : last + 1]


def leaks(text: str, secrets_by_name: dict[str, str]) -> list[str]:
    """Which secrets appear in `text`, and how; empty when none does."""
    return [
        f"{name} ({how}) at offset {text.find(needle)}: ...{text[max(0, text.find(needle) - 60):text.find(needle)]}"
        for name, secret in secrets_by_name.items()
        for how, needle in encodings(secret).items()
        if needle in text
    ]
