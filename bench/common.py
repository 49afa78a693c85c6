"""What bench/hook.py and bench/org.py share: git with a fixed identity, and made-up keys.
(They are run as scripts; their folder is on sys.path, so `import common` finds this.)"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path


def git(cwd: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run git in `cwd` as the benchmark's author, ignoring inherited GIT_* variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for role in ("AUTHOR", "COMMITTER"):
        full.update({f"GIT_{role}_NAME": "Bench", f"GIT_{role}_EMAIL": "bench@example.com"})
    full.update(env or {})
    return subprocess.run(
        ["git", *args], cwd=cwd, input=input, env=full, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip


def generated_pair(rng: random.Random) -> tuple[str, str]:
    """A key ID and secret shaped like AWS's, made up here (never a real credential)."""
    b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    key_id = "AKIA" + "".join(rng.choice(b32) for _ in range(16))
    return key_id, "".join(rng.choice(b64) for _ in range(40))
