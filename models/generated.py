"""Generated sections of hand-written documents: the text between a begin and an end marker is replaced whole."""

from __future__ import annotations

__all__ = ["replace_block"]


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    """`text` with `body` between its `begin` and `end` markers; ValueError naming the missing marker."""
    for marker in (begin, end):
        if marker not in text:
            raise ValueError(f"the document has no marker {marker!r}")
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n\n{body}\n\n{end}{rest.split(end, 1)[1]}"
