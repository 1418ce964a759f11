"""Pure reductions of raw events and samples: no I/O, no devices."""
