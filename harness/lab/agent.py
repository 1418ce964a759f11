"""`harness lab agent`: serve the phones attached to this host to the lab, one actor per phone.

The host has joined the cluster as a Ray node carrying the resource `harness-host:<name>`
(`ray start --address HEAD --resources '{"harness-host:<name>": 1000}'`); every phone actor asks for one
unit of it, so it runs on this host, beside the phone's adb server. The agent watches the adb servers
this host reaches (the local one, `HARNESS_ADB_SERVERS`, and `--connect` endpoints such as DeviceFarmer/STF
`adb connect HOST:PORT` ones): a phone that appears gets its actor, one that vanishes has its actor
removed. The actors belong to the agent, so an agent that dies takes its phones off the lab with it (their
running jobs fail as lost; a restarted agent serves them again and `bench --resume` finishes the run).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ray

from harness.devices.android import AndroidDevice
from harness.devices.android.transport import AdbServer, adb_servers, connect_endpoint, list_serials
from harness.errors import DeviceError, UserError
from harness.lab.actor import PhoneActor
from harness.lab.device import NAMESPACE, connect

__all__ = ["host_resource", "join_command", "serve"]


def host_resource(host: str) -> str:
    return f"harness-host:{host}"


def join_command(address: str, host: str) -> str:
    """The `ray start` line that joins this host to the lab at `address` as `host` (Linux only)."""
    return (f"ray start --address {address} --resources '{{\"{host_resource(host)}\": 1000}}' "
            "--disable-usage-stats")


def serve(address: str, host: str, endpoints: Sequence[str] = (), *, interval_s: float = 2.0,
          stop: threading.Event | None = None, say: Callable[[str], None] = print) -> None:
    """Keep one actor per phone this host reaches until `stop` is set (or the process ends)."""
    connect(address)
    resource = host_resource(host)
    if resource not in ray.cluster_resources():
        raise UserError(f"no node of the cluster at {address} carries {resource!r}: join this host first with "
                        f"`{join_command(address, host)}`")
    remote = ray.remote(concurrency_groups={"lease": 1}, max_restarts=0, max_task_retries=0)(PhoneActor)
    servers = adb_servers()
    actors: dict[str, Any] = {}
    stop = stop or threading.Event()
    try:
        while True:
            present = _phones(servers, endpoints)
            if present is not None:
                _reconcile(actors, present, lambda device_id, server: remote.options(
                    name=device_id, namespace=NAMESPACE, resources={resource: 1}, num_cpus=0).remote(
                    device_id, host, functools.partial(AndroidDevice, device_id.partition(":")[2], [server]),
                    AndroidDevice.capabilities), say)
            if stop.wait(interval_s):
                return
    finally:
        for actor in actors.values():
            ray.kill(actor)


def _phones(servers: Sequence[AdbServer], endpoints: Sequence[str]) -> dict[str, AdbServer] | None:
    """Device id -> adb server of every online phone now (`endpoints` connected through the local server);
    None while an adb server does not answer (nothing is removed on a glitch)."""
    try:
        online = list_serials(servers)
        listed = {serial for _, serial in online}
        for endpoint in endpoints:
            if endpoint not in listed and connect_endpoint(servers[0], endpoint):
                online.append((servers[0], endpoint))
    except DeviceError:
        return None
    return {f"android:{serial}": server for server, serial in online}


def _reconcile(actors: dict[str, Any], present: dict[str, AdbServer],
               create: Callable[[str, AdbServer], Any], say: Callable[[str], None]) -> None:
    for device_id in sorted(actors.keys() - present.keys()):
        ray.kill(actors.pop(device_id))
        say(f"gone {device_id}: its actor is removed")
    for device_id in sorted(present.keys() - actors.keys()):
        try:
            actors[device_id] = create(device_id, present[device_id])
        except ValueError:  # the name is taken: another host's agent serves this phone (a shared endpoint)
            continue
        say(f"serving {device_id} (adb server {present[device_id]})")
