"""Shared fixtures: an isolated artifact cache and the toy artifacts built once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Build artifacts into a per-session cache so tests never touch (or depend on) the user's cache.

    HARNESS_TEST_CACHE_DIR reuses a cache across sessions (CI sets nothing: a clean build).
    """
    cache = os.environ.get("HARNESS_TEST_CACHE_DIR") or str(tmp_path_factory.mktemp("cache"))
    previous = os.environ.get("HARNESS_CACHE_DIR")
    os.environ["HARNESS_CACHE_DIR"] = cache
    yield Path(cache)
    if previous is None:
        os.environ.pop("HARNESS_CACHE_DIR", None)
    else:
        os.environ["HARNESS_CACHE_DIR"] = previous


@pytest.fixture(scope="session", autouse=True)
def _private_device_locks(tmp_path_factory):
    """Device locks of this test session only: a developer's own bench on `host` must not refuse the tests'
    (nor the tests theirs). Tests of the lock itself set their own HARNESS_LOCK_DIR."""
    previous = os.environ.get("HARNESS_LOCK_DIR")
    os.environ["HARNESS_LOCK_DIR"] = str(tmp_path_factory.mktemp("locks"))
    yield
    if previous is None:
        os.environ.pop("HARNESS_LOCK_DIR", None)
    else:
        os.environ["HARNESS_LOCK_DIR"] = previous


@pytest.fixture(scope="session")
def toy_artifact():
    """The small toy CNN (infer + last-layer training signatures), built once."""
    from models.zoo import build

    return build("toy-cnn/last-layer")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    return path
