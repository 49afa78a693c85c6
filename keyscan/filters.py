"""Decide whether a matched value is a credential: entropy, placeholders, documentation examples.

These run on every confirmed match, so they stay cheap and allocation-light.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

_HEX = frozenset("0123456789abcdef")
_HEX_UPPER = frozenset("0123456789ABCDEF")
_PLACEHOLDER_WORDS = ("YOUR", "XXXX", "PLACEHOLDER", "REPLACE", "CHANGEME", "REDACTED", "DUMMY")
_RUN = 6  # identical or sequential characters in a row: odds in a random key are ~1e-7


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s own character distribution."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def is_example(value: str) -> bool:
    """AWS documentation values: AKIAIOSFODNN7EXAMPLE, wJalr…EXAMPLEKEY and the like."""
    return "EXAMPLE" in value


def is_hex_hash(value: str) -> bool:
    """40 hex digits in one case is a SHA-1 (a git commit, a checksum), not a secret key."""
    chars = set(value)
    return chars <= _HEX or chars <= _HEX_UPPER


def _has_run(value: str) -> bool:
    same = up = 1
    for prev, cur in itertools.pairwise(value):
        same = same + 1 if cur == prev else 1
        up = up + 1 if ord(cur) == ord(prev) + 1 else 1
        if same >= _RUN or up >= _RUN:
            return True
    return False


def is_placeholder(value: str) -> bool:
    """XXXX…, YOUR_KEY_HERE, AAAAAA, ABCDEF…, 123456… are filled-in templates, not keys."""
    if len(value) <= 64:  # in a long random token such words occur by chance
        upper = value.upper()
        if any(word in upper for word in _PLACEHOLDER_WORDS):
            return True
    return _has_run(value)
