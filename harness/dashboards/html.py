"""Several plotly figures in one self-contained HTML page (plotly.js inlined once, works offline)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go

from harness.files import write_atomic

__all__ = ["Section", "short_commit", "write_page"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px}
.meta{color:#555;font-size:13px} .note{color:#555;font-size:13px;margin:4px 0 8px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.badge{display:inline-block;padding:1px 6px;border-radius:4px;font-size:12px;background:#eef}
"""


def short_commit(commit: str | None) -> str:
    """A manifest's git commit as people quote it: `737b027abcd1`, `737b027abcd1+dirty`; `?` without one."""
    if not commit:
        return "?"
    sha, plus, rest = commit.partition("+")
    return sha[:12] + plus + rest


class Section:
    """A heading, an optional note (HTML-escaped) and either a figure or a ready HTML fragment."""

    def __init__(self, title: str, figure: go.Figure | None = None, note: str = "", fragment: str = ""):
        self.title, self.figure, self.note, self.fragment = title, figure, note, fragment


def write_page(path: Path, title: str, meta: str, sections: Sequence[Section]) -> Path:
    """Write the page atomically; figures get stable ids `fig-<n>` (tests look for them)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<div class='meta'>{html.escape(meta)}</div>"]
    first_plot = True
    for n, section in enumerate(sections):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<div class='note'>{html.escape(section.note)}</div>")
        if section.fragment:
            parts.append(section.fragment)
        if section.figure is not None:
            parts.append(section.figure.to_html(full_html=False, include_plotlyjs=first_plot, div_id=f"fig-{n}",
                                                config={"displaylogo": False}))
            first_plot = False
    parts.append("</body></html>")
    return write_atomic(path, "\n".join(parts))
