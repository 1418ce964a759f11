"""The `ios:<udid>` backend over pymobiledevice3 (optional extra `ios`), with the Core ML companion app."""

from __future__ import annotations

from harness.devices.ios.device import IosDevice, survey_ios

__all__ = ["IosDevice", "survey_ios"]
