"""Phone twins (`sim:<profile>`): one more device backend, behind the same device contract.

`physics` (battery, thermal RC network, status, throttling), `profiles` (the cited parameter files in
`profiles/`), `twin` (one phone's state on the host clock) and `device` (the backend).
"""

from harness.devices.sim.device import SimDevice

__all__ = ["SimDevice"]
