"""Every bad input is one clear line and a non-zero exit (2 for bad input), never a traceback, and the
store is left as it was: one table, input → exit code and words."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main

V1 = Path(__file__).resolve().parent / "fixtures" / "store_v1"


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _drop_suite(store: Path) -> None:
    path = next(store.glob("runs/*/manifest.json"))
    manifest = json.loads(path.read_text())
    del manifest["suite"]
    path.write_text(json.dumps(manifest))


CASES = [  # (name, argv with {store} {tmp}, exit code, words on stderr, set-up)
    ("-o is a directory", ["dashboard", "latest", "-o", "{tmp}"], 2, "is a directory: give a file name", None),
    ("trace -o is a directory", ["export-trace", "latest", "-o", "{tmp}"], 2, "is a directory", None),
    ("-o under a file", ["dashboard", "latest", "-o", "{tmp}/plain/x.html"], 2, "cannot write", None),
    ("-o where nothing may be written", ["export-trace", "latest", "-o", "/sys/harness-test.json"], 2,
     "cannot write /sys/harness-test.json: Permission denied", None),
    ("dashboards -o a file", ["dashboards", "-o", "{tmp}/plain"], 2, "cannot write", None),
    ("non-UTF-8 suite", ["bench", "--suite", "{tmp}/latin1.toml"], 2, "is not UTF-8 text (byte 11", None),
    ("--results is a file", ["runs", "--results", "{tmp}/plain"], 2, "is not a directory", None),
    ("negative dashboards threshold", ["dashboards", "-o", "{tmp}/d", "--threshold", "-1"], 2,
     "--threshold must be a percentage", None),
    ("negative compare threshold", ["compare", "latest", "latest", "--threshold", "-1"], 2,
     "--threshold must be a percentage", None),
    ("a hand-edited manifest lacks keys", ["show", "20261201T222356Z-3aec46"], 1, "manifest lacks suite",
     _drop_suite),
    ("listing skips a hand-edited manifest", ["runs"], 0, "skipped damaged", _drop_suite),
]


@pytest.mark.parametrize(("argv", "code", "words", "setup"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(tmp_path, capsys, argv, code, words, setup):
    store = tmp_path / "store"
    shutil.copytree(V1, store)
    (tmp_path / "plain").write_text("a file, not a folder\n")
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    if setup is not None:
        setup(store)
    before = _digests(store)
    args = [a.format(store=store, tmp=tmp_path) for a in argv]
    if "--results" not in args:
        args += ["--results", str(store)]
    assert main(args) == code
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert _digests(store) == before
    assert not list(tmp_path.rglob(".*.tmp"))
