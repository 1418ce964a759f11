"""The versioned job protocol: schema validation of jobs and events, and conformance vectors.

The schemas and vectors live in `device_apps/protocol/` so the phone apps read the very same files.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema

from harness.events import TERMINAL_EVENTS, TIMED

__all__ = [
    "PROTOCOL_VERSION",
    "PROTOCOL_DIR",
    "validate_job",
    "validate_event",
    "StreamCheck",
    "check_stream",
    "load_vectors",
    "job_from_vector",
    "vector_files",
    "ProtocolError",
]

PROTOCOL_VERSION = 1
PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "device_apps" / "protocol"


class ProtocolError(ValueError):
    """A job or event does not match the protocol schema."""


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    return json.loads((PROTOCOL_DIR / name).read_text())


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema(name))


@functools.cache
def _event_validators() -> dict[str, jsonschema.Draft202012Validator]:
    """One validator per event type (the schema's `oneOf` branches), so a bad event names its own fault."""
    return {branch["properties"]["event"]["const"]: jsonschema.Draft202012Validator(branch)
            for branch in _schema("events.schema.json")["oneOf"]}


def _raise_first(validator: jsonschema.Draft202012Validator, document: Any) -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ProtocolError(f"{where}: {error.message}")


def validate_job(job: Any) -> None:
    """Raise ProtocolError naming the first offending field of an invalid job."""
    _raise_first(_validator("job.schema.json"), job)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) in (int, float),
    "boolean": lambda v: type(v) is bool,
    "string": lambda v: type(v) is str,
}


def _property_check(prop: dict[str, Any]) -> Callable[[Any], bool] | None:
    keys = set(prop) - {"description"}
    if keys == {"const"}:
        return lambda v, c=prop["const"]: v == c and type(v) is type(c)
    if keys <= {"type", "minimum"} and prop.get("type") in _TYPES:
        is_type, low = _TYPES[prop["type"]], prop.get("minimum")
        return is_type if low is None else (lambda v: is_type(v) and v >= low)
    return None


@functools.cache
def _fast_checks() -> dict[str, Callable[[dict[str, Any]], bool]]:
    """A plain-Python check per event type whose schema branch is flat (invoke, train_step: the hot ones).

    Derived from the schema itself; True means valid. A False sends the event to jsonschema, whose
    verdict (and message) is the one that counts.
    """
    out = {}
    for branch in _schema("events.schema.json")["oneOf"]:
        checks = {name: _property_check(prop) for name, prop in branch["properties"].items()}
        if branch.get("additionalProperties") is not False or None in checks.values():
            continue
        required, allowed = frozenset(branch["required"]), frozenset(branch["properties"])

        def check(event: dict[str, Any], required=required, allowed=allowed, checks=checks) -> bool:
            keys = event.keys()
            return required <= keys and keys <= allowed and all(checks[k](event[k]) for k in keys)

        out[branch["properties"]["event"]["const"]] = check
    return out


def validate_event(event: Any) -> None:
    """Raise ProtocolError for an event line that breaks events.schema.json."""
    kind = event.get("event") if isinstance(event, dict) else None
    fast = _fast_checks().get(kind) if isinstance(kind, str) else None
    if fast is not None and fast(event):
        return
    branch = _event_validators().get(kind) if isinstance(kind, str) else None
    _raise_first(branch or _validator("events.schema.json"), event)


class StreamCheck:
    """Checks one job's events as they arrive: schema, the job's own id, `started` first, nothing after the end.

    Call it on each event; it raises ProtocolError naming the event's position and fault.
    """

    def __init__(self, job_id: str):
        self.job_id, self.count, self.ended, self.timed = job_id, 0, False, False
        self.loaded = False

    def __call__(self, event: Any) -> None:
        where = f"event {self.count}"
        self.count += 1
        try:
            validate_event(event)
        except ProtocolError as exc:
            raise ProtocolError(f"{where} ({_kind(event)}): {exc}") from exc
        if event["job_id"] != self.job_id:
            raise ProtocolError(f"{where} ({event['event']}): job_id {event['job_id']!r}, expected {self.job_id!r}")
        if self.ended or (self.count == 1) != (event["event"] == "started"):
            raise ProtocolError(f"{where} ({event['event']}): out of order (a stream is started, ..., "
                                "then one finished or error)")
        if event["event"] == "loaded" and (self.loaded or self.timed):
            raise ProtocolError(f"{where} (loaded): a stream has one `loaded`, before its first invoke or step")
        self.loaded |= event["event"] == "loaded"
        self.timed |= event["event"] in TIMED
        self.ended = event["event"] in TERMINAL_EVENTS


def _kind(event: Any) -> str:
    return str(event.get("event", "no event field")) if isinstance(event, dict) else type(event).__name__


def check_stream(events: Iterable[dict[str, Any]], expect: dict[str, Any]) -> list[str]:
    """Problems of one job's event stream against a conformance vector's `expect` (empty = conforms).

    `expect` keys: `final` ("finished" or "error"), `error_code`, `measured`, `warmup`,
    `kind` ("invoke" or "train_step"), `min_span_s` (measured events must span at least this long),
    `delta` (true if `finished` must carry delta_bytes > 0), `accuracy` (true if it must carry
    accuracy_before / accuracy_after / eval_examples).
    """
    events = list(events)
    problems: list[str] = []
    for i, event in enumerate(events):
        try:
            validate_event(event)
        except ProtocolError as exc:
            problems.append(f"event {i}: {exc}")
    if not events or events[0].get("event") != "started":
        problems.append("first event is not 'started'")
    terminal = [e for e in events if e.get("event") in TERMINAL_EVENTS]
    if len(terminal) != 1 or terminal[0] is not events[-1]:
        problems.append("stream must end with exactly one 'finished' or 'error'")
        return problems
    loaded = [i for i, e in enumerate(events) if e.get("event") == "loaded"]
    first_timed = next((i for i, e in enumerate(events) if e.get("event") in TIMED), len(events))
    if len(loaded) > 1 or (loaded and loaded[0] > first_timed):
        problems.append("a stream has at most one 'loaded', before its first invoke or step")
    last = terminal[0]
    if last["event"] != expect["final"]:
        problems.append(f"ended with {last['event']!r}, expected {expect['final']!r} ({last.get('message', '')})")
        return problems
    if last["event"] == "error":
        if "error_code" in expect and last["code"] != expect["error_code"]:
            problems.append(f"error code {last['code']!r}, expected {expect['error_code']!r}")
        return problems
    kind = expect.get("kind", "invoke")
    timed = [e for e in events if e["event"] == kind]
    measured = [e for e in timed if not e["warmup"]]
    if "measured" in expect and len(measured) != expect["measured"]:
        problems.append(f"{len(measured)} measured {kind} events, expected {expect['measured']}")
    if "warmup" in expect and len(timed) - len(measured) != expect["warmup"]:
        problems.append(f"{len(timed) - len(measured)} warm-up {kind} events, expected {expect['warmup']}")
    if last["measured"] != len(measured):
        problems.append(f"finished.measured={last['measured']} but {len(measured)} measured events were sent")
    for e in timed:
        if e["end_ns"] < e["start_ns"]:
            problems.append(f"{kind} {e.get('index', e.get('step'))}: end before start")
    if "min_span_s" in expect and measured and \
            (measured[-1]["end_ns"] - measured[0]["start_ns"]) / 1e9 < expect["min_span_s"]:
        problems.append(f"measured span is shorter than min_duration_s {expect['min_span_s']}")
    if expect.get("delta") and not last.get("delta_bytes"):
        problems.append("finished carries no delta_bytes")
    if expect.get("accuracy") and not {"accuracy_before", "accuracy_after", "eval_examples"} <= set(last):
        problems.append("finished carries no accuracy_before / accuracy_after / eval_examples")
    return problems


def load_vectors() -> list[dict[str, Any]]:
    """Every conformance vector, sorted by name."""
    vectors = [json.loads(p.read_text()) for p in sorted((PROTOCOL_DIR / "vectors").glob("*.json"))]
    return sorted(vectors, key=lambda v: v["name"])


def vector_files(vector: dict[str, Any]) -> dict[str, Path]:
    """The data files a vector's job refers to (`{key}` placeholders), by key, on the host."""
    return {key: PROTOCOL_DIR / "vectors" / rel for key, rel in vector.get("files", {}).items()}


def job_from_vector(vector: dict[str, Any], artifact_path: str, sha256: str,
                    file_paths: dict[str, str] | None = None) -> dict[str, Any]:
    """The job a conformance vector describes, for an artifact at `artifact_path` on the runner's device.

    `artifact.tamper` = "missing" points the job at a file that does not exist; "checksum" gives a
    sha256 the file cannot match. `{key}` placeholders become `file_paths[key]` (default: the
    vector's files on the host, see `vector_files`).
    """
    tamper = vector["artifact"].get("tamper")
    path = artifact_path + ".missing" if tamper == "missing" else artifact_path
    digest = "0" * 64 if tamper == "checksum" else sha256
    paths = file_paths if file_paths is not None else {k: str(v) for k, v in vector_files(vector).items()}
    body = json.loads(json.dumps(vector["job"]), object_hook=lambda d: {
        k: paths[v[1:-1]] if isinstance(v, str) and v.startswith("{") and v.endswith("}") else v
        for k, v in d.items()})
    return {"protocol": PROTOCOL_VERSION, "job_id": vector["name"], "artifact": {"path": path, "sha256": digest},
            **body}
