"""The device lab on Ray (optional extra `lab`; Linux hosts only): many phones on many hosts in one bench.

- `harness.lab.agent`: `harness lab agent` on each host with phones: one actor per phone, pinned to the
  host by its `harness-host:<name>` resource, created and removed as phones come and go.
- `harness.lab.actor`: that actor: the exclusive lease on its phone, and the phone's device operations
  one at a time in the order they were asked.
- `harness.lab.device`: the orchestrator's `LabDevice` and `lab_opener(address)`, the device opener
  `harness.bench.run_bench` takes for `harness bench --lab ADDRESS`.

Importing this package imports Ray: only the commands that use the lab do.
"""
