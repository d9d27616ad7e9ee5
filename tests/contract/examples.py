"""The example messages of CONTRACT.md, so the document is tested, not just read."""

from __future__ import annotations

import json
import re
from pathlib import Path

CONTRACT_MD = Path(__file__).resolve().parents[2] / "CONTRACT.md"
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)


def contract_examples() -> dict:
    """Kind -> example document, as written in CONTRACT.md."""
    documents = [json.loads(block) for block in _JSON_BLOCK.findall(CONTRACT_MD.read_text("utf-8"))]
    return {document["kind"]: document for document in documents}


def example_bytes(kind: str, **changes) -> bytes:
    """The example of `kind` as payload bytes, with top-level keys changed or removed (None)."""
    document = contract_examples()[kind]
    document.update(changes)
    document = {key: value for key, value in document.items() if value is not None}
    return json.dumps(document, ensure_ascii=False).encode()
