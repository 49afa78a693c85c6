"""Offline facts from a key ID: the account it carries, its type, canary accounts."""

from __future__ import annotations

import base64

import keys
import pytest

from keyscan import keyid


def with_tail(key_id: str, tail_bits: int) -> str:
    """The same key ID with its last 4 bytes (random, no account bits) replaced."""
    raw = bytearray(base64.b32decode(key_id[4:]))
    raw[6:10] = tail_bits.to_bytes(4, "big")
    return key_id[:4] + base64.b32encode(bytes(raw)).decode()


class TestDecodeAccountId:
    """New-format key IDs carry their 12-digit account ID; old ones carry none."""

    @pytest.mark.parametrize("prefix", ["AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA"])
    def test_round_trip(self, prefix: str) -> None:
        """A key ID generated for an account decodes back to that account."""
        for _ in range(50):
            account = keys.account_id()
            assert keyid.decode_account_id(keys.key_id(prefix, account)) == account

    def test_small_account_keeps_leading_zeros(self) -> None:
        """An account number below 10^11 decodes as 12 digits with leading zeros."""
        assert keyid.decode_account_id(keys.key_id("AKIA", "000123456789")) == "000123456789"

    def test_random_tail_does_not_change_the_account(self) -> None:
        """Only the account bits matter: replacing the key ID's last 4 bytes keeps the account."""
        account = keys.account_id()
        key = keys.key_id("AKIA", account)
        for tail in (0, 0xFFFFFFFF, 0x12345678):
            assert keyid.decode_account_id(with_tail(key, tail)) == account

    def test_different_accounts_decode_differently(self) -> None:
        """Two accounts give two key IDs that decode to two different accounts."""
        a, b = "123456789012", "210987654321"
        assert keyid.decode_account_id(keys.key_id("AKIA", a)) == a
        assert keyid.decode_account_id(keys.key_id("AKIA", b)) == b

    def test_old_format_gives_none(self) -> None:
        """Old-format AKIAI…/AKIAJ… key IDs carry no account ID."""
        for _ in range(20):
            old = keys.old_key_id()
            assert old[4] in "IJ"
            assert keyid.decode_account_id(old) is None
        assert keyid.decode_account_id("AKIAIOSFODNN7EXAMPLE") is None

    @pytest.mark.parametrize(
        "value",
        ["", "AKIA", "AKIAQRSTUVWXYZ23456", "AKIAQRSTUVWXYZ2345678", "A3TXQRSTUVWXYZ234567"],
        ids=["empty", "prefix-only", "19-chars", "21-chars", "a3t"],
    )
    def test_wrong_shape_gives_none(self, value: str) -> None:
        """Anything that is not a 20-character new-format key ID decodes to None."""
        assert keyid.decode_account_id(value) is None


class TestKeyType:
    """The four-character prefix names what kind of ID it is."""

    @pytest.mark.parametrize(
        ("prefix", "expected"),
        [
            ("AKIA", "long_term"),
            ("ASIA", "temporary"),
            ("ABIA", "sts_service_bearer_token"),
            ("ACCA", "context_specific"),
            ("A3TX", "a3t"),
            ("A3T7", "a3t"),
            ("AIDA", "iam_user_id"),
            ("AROA", "iam_role_id"),
            ("AGPA", "iam_group_id"),
            ("ANPA", "managed_policy_id"),
            ("ANVA", "managed_policy_version_id"),
            ("AIPA", "instance_profile_id"),
            ("APKA", "public_key_id"),
            ("ASCA", "certificate_id"),
        ],
    )
    def test_key_type(self, prefix: str, expected: str) -> None:
        """A generated ID with this prefix has this type."""
        assert keyid.key_type(keys.key_id(prefix)) == expected

    @pytest.mark.parametrize("value", ["AXYZQRSTUVWXYZ234567", "BKIAQRSTUVWXYZ234567", ""])
    def test_unknown_prefix(self, value: str) -> None:
        """An unknown prefix has no type."""
        assert keyid.key_type(value) is None


class TestCanary:
    """Canary-token accounts are recognised, others are not."""

    def test_listed_account_is_canary(self) -> None:
        """Every listed account is a canary account."""
        assert keyid.CANARY_ACCOUNTS
        for account in keyid.CANARY_ACCOUNTS:
            assert keyid.is_canary_account(account)

    def test_listed_accounts_are_12_digits(self) -> None:
        """The canary list holds only 12-digit account IDs (a typo would never match)."""
        assert all(len(a) == 12 and a.isdigit() for a in keyid.CANARY_ACCOUNTS)

    def test_canary_key_id_decodes_to_canary_account(self) -> None:
        """A key ID issued from a canary account decodes to an account that is a canary."""
        account = sorted(keyid.CANARY_ACCOUNTS)[0]
        assert keyid.is_canary_account(keyid.decode_account_id(keys.key_id("AKIA", account)))

    def test_other_accounts_are_not_canary(self) -> None:
        """An ordinary account, an unknown value and None are not canaries."""
        assert not keyid.is_canary_account(keys.account_id())
        assert not keyid.is_canary_account("000000000000")
        assert not keyid.is_canary_account(None)
