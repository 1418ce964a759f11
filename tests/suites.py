"""Suite TOML for the tests: the toy CNN under a few workloads, written once.

`toy_suite("name", infer(iterations=5), train(steps=2), repetitions=2, devices=["loop:a"])` gives the
text `parse_suite` reads (`model=` / `variant=` pick another artifact); tests that need an odd key replace
a line of it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["toy_suite", "infer", "train"]


def _table(header: str, keys: dict[str, Any]) -> str:
    return header + "\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())


def infer(name: str = "infer", **keys: Any) -> str:
    """An infer workload; keys as in the suite (warmup, iterations, delegate, min_duration_s, ...)."""
    return _table("[[workloads]]", {"name": name, "signature": "infer", **keys})


def train(name: str = "personalize", **keys: Any) -> str:
    """A train workload (default batch_size 16, the toy's train signature)."""
    return _table("[[workloads]]", {"name": name, "signature": "train", "batch_size": 16, **keys})


def toy_suite(name: str, *workloads: str, model: str = "toy-cnn", variant: str = "last-layer", **top: Any) -> str:
    """A suite over `model/variant` with these workloads; `top` keys (repetitions, devices, ...) first."""
    return (_table("", {"name": name, "repetitions": 1, **top}).lstrip("\n")
            + _table("[[models]]", {"name": model, "variants": [variant]}) + "".join(workloads))
