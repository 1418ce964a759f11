"""Small text helpers shared by the device-output parsers."""

from __future__ import annotations

import re

__all__ = ["key_values", "parse_bool", "parse_number"]

_SPACES = re.compile(r"\s+")


def key_values(text: str, sep: str) -> dict[str, str]:
    """Map `key<sep>value` lines to a dict with normalised keys (lower case, single spaces).

    Indentation is ignored; lines without `sep` are skipped; the first occurrence of a key wins,
    so a vendor's later duplicate in another case ("Voltage" after "voltage") cannot override it.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if not found:
            continue
        norm = _SPACES.sub(" ", key.strip()).lower()
        if norm and norm not in out:
            out[norm] = value.strip()
    return out


def parse_bool(text: str | None) -> bool | None:
    """'true'/'false'/'1'/'0' (any case) to bool; anything else to None."""
    if text is None:
        return None
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    return None


def parse_number(text: str | None) -> float | None:
    """A decimal number or None when missing or not a number (vendors print 'N/A', '<unknown>')."""
    if text is None:
        return None
    try:
        return float(text.strip().split()[0])
    except (ValueError, IndexError):
        return None
