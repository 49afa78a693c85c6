"""Credentials generated at run time, so that this repository never holds a real-looking key.

The values have the shape of real AWS credentials (new-format key IDs carry an account ID) and
pass keyscan's filters; they are random and belong to nobody.
"""

from __future__ import annotations

import base64
import random
import secrets as _secrets
import string

from keyscan import filters, keyid

_SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"
_B64 = string.ascii_letters + string.digits + "/+"


def account_id(rng: random.Random | None = None) -> str:
    rng = rng or random.Random(_secrets.randbits(64))
    while True:
        account = f"{rng.randrange(10**11, 10**12):012d}"
        if not keyid.is_canary_account(account):
            return account


def key_id(prefix: str = "AKIA", account: str | None = None) -> str:
    """A new-format key ID: 5th character Q-Z/2-7, the account ID in the next 40 bits."""
    while True:
        number = int(account if account is not None else account_id())
        z = (1 << 47) | (number << 7) | _secrets.randbelow(128)
        raw = z.to_bytes(6, "big") + _secrets.token_bytes(4)
        value = prefix + base64.b32encode(raw).decode()
        if (
            not filters.is_placeholder(value)
            and "EXAMPLE" not in value
            and filters.shannon_entropy(value) >= 3.0
        ):
            return value


def old_key_id(prefix: str = "AKIA") -> str:
    """An old-format key ID (AKIAI…/AKIAJ…), which carries no account ID."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    while True:
        value = (
            prefix + _secrets.choice("IJ") + "".join(_secrets.choice(alphabet) for _ in range(15))
        )
        if not filters.is_placeholder(value) and filters.shannon_entropy(value) >= 3.0:
            return value


def secret_key() -> str:
    while True:
        value = "".join(_secrets.choice(_SECRET_ALPHABET) for _ in range(40))
        if (
            not filters.is_placeholder(value)
            and not filters.is_example(value)
            and filters.shannon_entropy(value) >= 4.2
        ):
            return value


def _b64(n: int) -> str:
    while True:
        value = "".join(_secrets.choice(_B64) for _ in range(n))
        if not filters.is_placeholder(value) and "EXAMPLE" not in value:
            return value


def session_token(prefix: str = "IQoJb3JpZ2luX2Vj", length: int = 600) -> str:
    return prefix + _b64(length - len(prefix))


def bedrock_long_term_key() -> str:
    return "ABSKQmVkcm9ja0FQSUtleS" + _b64(110)


def bedrock_short_term_key() -> str:
    return "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t" + _b64(400) + "=="
