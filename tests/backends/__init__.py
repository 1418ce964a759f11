"""Device backends that exist only in the tests (each one module, joined by one registry line)."""
