"""One exception tree for the harness; only `cli.main()` turns these into exit codes."""

__all__ = [
    "HarnessError",
    "UserError",
    "DeviceError",
    "DeviceTimeout",
    "DeviceLost",
    "CompanionAppError",
    "ResultFormatError",
]


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 1


class UserError(HarnessError):
    """Bad input from the user (suite, path, device id, option): exit code 2."""

    exit_code = 2


class DeviceError(HarnessError):
    """A device or its transport misbehaved."""


class DeviceTimeout(DeviceError):
    """A device did not answer in time."""


class DeviceLost(DeviceError):
    """A device stopped answering mid-run (unplugged, offline, its host gone); its remaining jobs wait for
    `harness bench --resume`."""


class CompanionAppError(DeviceError):
    """The runner on the device reported an error or broke the job protocol."""


class ResultFormatError(HarnessError):
    """A stored result is unreadable, too old or too new."""
