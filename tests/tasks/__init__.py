"""Test-only tasks: each a package exposing `TASK`, added to `models.tasks.TASKS` by the test that needs it."""
