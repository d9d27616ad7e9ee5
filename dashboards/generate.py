"""Writes the Grafana boards to dashboards/json/, the files Grafana's provisioning reads.

    python -m dashboards.generate           # rewrite the JSON after changing a board
    python -m dashboards.generate --check   # exit 1 if the committed JSON is stale

The JSON is committed so a county can deploy without Python; tests/dashboards checks it
is exactly what this generator writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards import classrooms, county, school, sync_classroom

JSON_DIR = Path(__file__).resolve().parent / "json"
BOARDS = {
    "county.json": county.build,
    "school.json": school.build,
    "classrooms.json": classrooms.build,
    "sync-classroom.json": sync_classroom.build,
}


def render(board: dict) -> str:
    """Stable text: Chinese kept readable, keys in the order the builders wrote them."""
    return json.dumps(board, ensure_ascii=False, indent=2) + "\n"


def rendered_boards() -> dict[str, str]:
    return {name: render(build()) for name, build in BOARDS.items()}


def stale_files(json_dir: Path = JSON_DIR) -> list[str]:
    """Names of the board files missing or different from what the generator writes."""
    stale = []
    for name, text in rendered_boards().items():
        path = json_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_all(json_dir: Path = JSON_DIR) -> list[Path]:
    json_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_boards().items():
        path = json_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="生成 Grafana 看板 JSON / write the Grafana boards' JSON")
    parser.add_argument("--check", action="store_true",
                        help="只检查，不写入 / only check that dashboards/json is up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"看板已过期 stale board: dashboards/json/{name} (运行 run: python -m dashboards.generate)")
        return 1 if stale else 0
    for path in write_all():
        print(f"已写入 wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
