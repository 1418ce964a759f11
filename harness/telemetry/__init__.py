"""Parsers of device telemetry output (sysfs, dumpsys) and the on-device sampler's output."""
