"""The fixtures the tests read belong to the project: each is listed with its source, none is missing."""

from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TESTS = Path(__file__).resolve().parent


def _listed() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", (FIXTURES / "README.md").read_text(), re.MULTILINE))


def test_every_fixture_is_listed_with_its_source() -> None:
    present = {p.name + ("/" if p.is_dir() else "") for p in FIXTURES.iterdir() if p.name != "README.md"}
    assert present == _listed()
    for path in FIXTURES.glob("*.txt"):
        head = path.read_text().splitlines()[:6]
        assert any(line.startswith("#") and ("source" in line or "https://" in line) for line in head), path.name


def test_no_test_reads_outside_the_repository() -> None:
    for path in TESTS.glob("*.py"):
        if path.name != Path(__file__).name:
            text = path.read_text()
            assert "shared/fixtures" not in text and '"shared"' not in text, f"{path.name} reads a sibling folder"
