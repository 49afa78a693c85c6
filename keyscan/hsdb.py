"""hyperscan databases, compiled once per machine: loaded from the user's cache when an
identical one was compiled before (compiling costs tens of milliseconds per process)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def hyperscan() -> Any | None:
    try:
        import hyperscan as hs
    except ImportError:
        return None
    return hs


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "keyscan"


def block_database(hs: Any, expressions: Sequence[bytes], flags: Sequence[int]) -> Any:
    """A block-mode database of `expressions` (ids: their positions), with scratch space.
    Raises hyperscan's error for an invalid expression."""
    key = [hs.__version__.encode(), *expressions, repr(list(flags)).encode()]
    digest = hashlib.sha256(b"\0".join(key)).hexdigest()
    cached = cache_dir() / f"hs-{digest[:32]}.db"
    try:
        db = hs.loadb(cached.read_bytes(), hs.HS_MODE_BLOCK)
        db.scratch = hs.Scratch(db)
        return db
    except Exception:  # missing, unreadable, or from another hyperscan build: recompile
        pass
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(
        expressions=list(expressions),
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=list(flags),
    )
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(hs.dumpb(db))
        tmp.replace(cached)
    except OSError:
        pass  # a read-only home only costs the compile next time
    return db
