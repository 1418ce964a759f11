"""One user's text as files a bench job stages: `keyboard:<play>:<role>`.

The role is written in lower case with `_` for spaces (`keyboard:macbeth:lady_macbeth`). The train file
holds the user's personalization examples (in-vocabulary targets, shuffled once with a fixed seed); the
eval file every test example, so the runner's accuracy (argmax of `infer` = the label) is the top-1
next-word accuracy of the README, out-of-vocabulary words counting as misses. Only users of evaluation
plays are accepted: the base never saw those plays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.cache import cache_root, write_examples
from models.task import TaskError

__all__ = ["SPEC", "parse_spec", "personalization_files"]

SPEC = "keyboard:<play>:<role>"


def _role_key(role: str) -> str:
    return role.lower().replace(" ", "_")


def parse_spec(spec: str) -> tuple[str, str]:
    """`keyboard:<play>:<role>` -> (play, role key); `TaskError` (a ValueError) says what is wrong."""
    from models.keyboard.data import FULL, split, user_speeches

    parts = spec.split(":")
    if len(parts) != 3 or parts[0] != "keyboard" or not parts[1] or not parts[2]:
        raise TaskError(f"data must look like {SPEC!r}, not {spec!r}")
    evaluation = split(FULL).evaluation
    if parts[1] not in evaluation:
        raise TaskError(f"play {parts[1]!r} is not an evaluation play (the base trained on the others); "
                        f"evaluation plays: {', '.join(evaluation)}")
    roles = sorted(_role_key(r) for r in user_speeches(parts[1]))
    if parts[2].lower() not in roles:
        raise TaskError(f"no user {parts[2]!r} in {parts[1]} (roles with enough speeches: {', '.join(roles)})")
    return parts[1], parts[2].lower()


def personalization_files(spec: str) -> tuple[Path, Path]:
    """(train .npz, eval .npz) for `spec`, written once into the user cache."""
    from models.keyboard.data import FULL, users

    play, role = parse_spec(spec)
    folder = cache_root() / "data" / "bench" / FULL.split_id
    train, test = folder / f"{play}-{role}-personal.npz", folder / f"{play}-{role}-test.npz"
    if not (train.exists() and test.exists()):
        user = next(u for u in users([play], FULL) if _role_key(u.role) == role)
        known = user.personal.known()
        order = np.random.default_rng(0).permutation(len(known))
        write_examples(train, known.x[order], known.y[order])
        write_examples(test, user.test.x, user.test.y)
    return train, test
