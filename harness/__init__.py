"""Host-side benchmark harness for battery-aware on-device ML personalization."""

__version__ = "0.1.0"
