"""Offline facts about an AWS key ID: its type, the account it belongs to, canary accounts."""

from __future__ import annotations

import base64
import binascii

KEY_TYPES = {
    "AKIA": "long_term",
    "ASIA": "temporary",
    "ABIA": "sts_service_bearer_token",
    "ACCA": "context_specific",
    "A3T": "a3t",  # in git-secrets' pattern since its start; AWS does not document it
    "AIDA": "iam_user_id",
    "AROA": "iam_role_id",
    "AGPA": "iam_group_id",
    "ANPA": "managed_policy_id",
    "ANVA": "managed_policy_version_id",
    "AIPA": "instance_profile_id",
    "APKA": "public_key_id",
    "ASCA": "certificate_id",
}

# Accounts that canary-token services issue keys from: touching such a key alerts its owner.
# The union of the lists published by trufflehog (pkg/detectors/aws/access_keys/canary.go:
# Thinkst canarytokens.org and look-alike services) and Kingfisher (validation/aws.rs,
# BUILTIN_SKIP_ACCOUNT_IDS).
CANARY_ACCOUNTS = frozenset(
    {
        "044858866125", "052310077262", "171436882533", "251535659677", "266735846894",
        "344043088457", "351906852752", "390477818340", "426127672474", "427150556519",
        "439872796651", "445142720921", "465867158099", "528757803018", "534261010715",
        "538784191382", "595918472158", "637958123769", "693412236332", "717712589309",
        "729780141977", "730335385048", "732624840810", "735421457923", "819147034852",
        "893192397702", "959235150393", "982842642351", "992382622183",
    }
)  # fmt: skip

_NEW_FORMAT_FIFTH = frozenset("QRSTUVWXYZ234567")  # base32 values >= 16: the "new format" bit


def key_type(key_id: str) -> str | None:
    return KEY_TYPES.get(key_id[:4]) or KEY_TYPES.get(key_id[:3])


def decode_account_id(key_id: str) -> str | None:
    """The 12-digit account ID carried by a new-format key ID; None for older (AKIAI…) ones.

    The 16 characters after the prefix are base32 for 80 bits; in the new format bit 0 of
    the first byte is a format flag and the next 40 bits are the account number.
    """
    if len(key_id) != 20 or key_id.startswith("A3T") or key_id[4] not in _NEW_FORMAT_FIFTH:
        return None
    try:
        raw = base64.b32decode(key_id[4:])
    except (binascii.Error, ValueError):
        return None
    number = (int.from_bytes(raw[:6], "big") & 0x7FFFFFFFFF80) >> 7
    return f"{number:012d}"


def is_canary_account(account_id: str | None) -> bool:
    return account_id is not None and account_id in CANARY_ACCOUNTS
